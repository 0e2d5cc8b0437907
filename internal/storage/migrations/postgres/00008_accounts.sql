-- +goose Up
-- What a person manages on the account page: the factors they sign in with
-- besides the password, and the browser of each session.
--
-- passkeys are WebAuthn credentials (W3C Web Authentication Level 3). A
-- credential ID is up to 1,023 bytes, too long for a MySQL key, so on
-- every dialect the key is id_hash, the ID's SHA-256, and credential_id
-- keeps the ID itself. sign_count is the signature counter last seen
-- (§6.1.1; unsigned 32 bits, so BIGINT), backup_eligible and backup_state
-- the BE and BS flags (§6.1), transports a JSON array, last_used_at NULL
-- until a sign-in.
-- totp_authenticators holds a person's one TOTP authenticator (RFC 6238):
-- the secret, encrypted by the caller, and the last time step accepted.
-- recovery_codes holds the hashes of a person's recovery codes; used_at is
-- NULL until the code is spent.
--
-- login_sessions.user_agent is the browser's User-Agent at sign-in, at most
-- 255 bytes, kept as bytes: cut at 255 it may end inside a character,
-- which TEXT refuses. Sessions from before this version read back ''; a
-- constant default makes this a catalogue-only change.
--
-- Revoking one client's grants of a person marks the codes of that
-- person's requests to that client used: the indexes on user_id become
-- indexes on (user_id, client_id), which serve the queries by user_id too.
CREATE TABLE passkeys (
    id_hash          BYTEA   NOT NULL PRIMARY KEY,
    credential_id    BYTEA   NOT NULL,
    user_id          TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    public_key       BYTEA   NOT NULL,
    attestation_type TEXT    NOT NULL,
    aaguid           BYTEA   NOT NULL,
    transports       TEXT    NOT NULL,
    sign_count       BIGINT  NOT NULL,
    backup_eligible  BOOLEAN NOT NULL,
    backup_state     BOOLEAN NOT NULL,
    created_at       BIGINT  NOT NULL,
    last_used_at     BIGINT
);
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id, created_at);

CREATE TABLE totp_authenticators (
    user_id    TEXT   NOT NULL PRIMARY KEY,
    secret     BYTEA  NOT NULL,
    last_step  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id    TEXT   NOT NULL,
    code_hash  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

ALTER TABLE login_sessions ADD COLUMN user_agent BYTEA NOT NULL DEFAULT ''::bytea;

DROP INDEX auth_requests_user_id_idx;
CREATE INDEX auth_requests_user_client_idx ON auth_requests (user_id, client_id);
DROP INDEX grants_user_id_idx;
CREATE INDEX grants_user_client_idx ON grants (user_id, client_id);

-- +goose Down
-- The factors and the User-Agents go.
DROP INDEX grants_user_client_idx;
CREATE INDEX grants_user_id_idx ON grants (user_id);
DROP INDEX auth_requests_user_client_idx;
CREATE INDEX auth_requests_user_id_idx ON auth_requests (user_id);
ALTER TABLE login_sessions DROP COLUMN user_agent;
DROP TABLE recovery_codes;
DROP TABLE totp_authenticators;
DROP TABLE passkeys;
