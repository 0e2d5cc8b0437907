-- Gatehouse schema, PostgreSQL dialect.
--
-- Times are BIGINT microseconds since the Unix epoch (UTC) on every dialect,
-- so comparisons are plain integer comparisons; a NULL time means "not set".
-- Lists ([]string) are JSON arrays stored as TEXT.

-- +goose Up
CREATE TABLE users (
    id            TEXT   NOT NULL PRIMARY KEY,
    username      TEXT   NOT NULL UNIQUE,
    email         TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE clients (
    id                        TEXT    NOT NULL PRIMARY KEY,
    name                      TEXT    NOT NULL,
    secret_hash               TEXT    NOT NULL,
    public                    BOOLEAN NOT NULL,
    redirect_uris             TEXT    NOT NULL,
    post_logout_redirect_uris TEXT    NOT NULL,
    grant_types               TEXT    NOT NULL,
    scopes                    TEXT    NOT NULL,
    pkce_optional             BOOLEAN NOT NULL,
    first_party               BOOLEAN NOT NULL,
    created_at                BIGINT  NOT NULL,
    updated_at                BIGINT  NOT NULL
);

CREATE TABLE auth_requests (
    id                    TEXT    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    nonce                 TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    response_type         TEXT    NOT NULL,
    response_mode         TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    prompt                TEXT    NOT NULL,
    max_age_us            BIGINT,
    login_hint            TEXT    NOT NULL,
    user_id               TEXT    NOT NULL,
    auth_time             BIGINT,
    amr                   TEXT    NOT NULL,
    done                  BOOLEAN NOT NULL,
    code_hash             TEXT    UNIQUE,
    code_used             BOOLEAN NOT NULL,
    created_at            BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL
);
CREATE INDEX auth_requests_expires_at_idx ON auth_requests (expires_at);

CREATE TABLE access_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    audience   TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    revoked    BOOLEAN NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX access_tokens_family_id_idx ON access_tokens (family_id);
CREATE INDEX access_tokens_expires_at_idx ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    id              TEXT    NOT NULL PRIMARY KEY,
    token_hash      TEXT    NOT NULL UNIQUE,
    family_id       TEXT    NOT NULL,
    client_id       TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    scopes          TEXT    NOT NULL,
    audience        TEXT    NOT NULL,
    auth_time       BIGINT,
    amr             TEXT    NOT NULL,
    used            BOOLEAN NOT NULL,
    revoked         BOOLEAN NOT NULL,
    idle_expires_at BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_idle_expires_at_idx ON refresh_tokens (idle_expires_at);

CREATE TABLE login_sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    auth_time  BIGINT,
    amr        TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX login_sessions_user_id_idx ON login_sessions (user_id);
CREATE INDEX login_sessions_expires_at_idx ON login_sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id_idx ON consents (client_id);
CREATE INDEX consents_expires_at_idx ON consents (expires_at);

CREATE TABLE login_failures (
    failure_key  TEXT    NOT NULL PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX login_failures_expires_at_idx ON login_failures (expires_at);

CREATE TABLE signing_keys (
    id          TEXT   NOT NULL PRIMARY KEY,
    algorithm   TEXT   NOT NULL,
    private_key BYTEA  NOT NULL,
    public_key  BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    not_before  BIGINT NOT NULL,
    expires_at  BIGINT
);
CREATE INDEX signing_keys_created_at_idx ON signing_keys (created_at);
CREATE INDEX signing_keys_expires_at_idx ON signing_keys (expires_at);

-- The table github.com/alexedwards/scs/postgresstore expects, so the web app
-- can keep its sessions in the same database.
CREATE TABLE sessions (
    token  TEXT        PRIMARY KEY,
    data   BYTEA       NOT NULL,
    expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
DROP TABLE signing_keys;
DROP TABLE login_failures;
DROP TABLE consents;
DROP TABLE login_sessions;
DROP TABLE refresh_tokens;
DROP TABLE access_tokens;
DROP TABLE auth_requests;
DROP TABLE clients;
DROP TABLE users;
