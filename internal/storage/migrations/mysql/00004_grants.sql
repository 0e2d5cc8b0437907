-- +goose Up
-- Access tokens no longer have a record each: they are checked against
-- their grant (grants, one per exchanged authorization code, whose ID is the
-- request's and the refresh family's), their client, their user and the
-- list of revoked token IDs (revoked_tokens). A second use of a code
-- revokes its grant, so auth_requests.replayed goes.
--
-- A TEXT column's default must be an expression in parentheses on MySQL
-- (8.0.13+); MariaDB (10.2+) takes it too.

ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN resource_audience TEXT NOT NULL DEFAULT (''),
    ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE auth_requests DROP COLUMN replayed;

CREATE TABLE grants (
    id         VARCHAR(255) NOT NULL PRIMARY KEY,
    client_id  VARCHAR(255) NOT NULL,
    user_id    VARCHAR(255) NOT NULL,
    revoked    BOOLEAN      NOT NULL,
    created_at BIGINT       NOT NULL,
    expires_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX grants_user_id_idx ON grants (user_id);
CREATE INDEX grants_client_id_idx ON grants (client_id);
CREATE INDEX grants_expires_at_idx ON grants (expires_at);

-- Every refresh family stored before this version becomes a grant, so its
-- tokens keep working: revoked when every token of it is, expiring with its
-- longest-lived token.
INSERT INTO grants (id, client_id, user_id, revoked, created_at, expires_at)
SELECT family_id, MIN(client_id), MIN(user_id), MIN(revoked), MIN(created_at), MAX(expires_at)
FROM refresh_tokens GROUP BY family_id;

-- revoked_tokens.id is binary: the table's PAD SPACE collation would find
-- "jti " revoked when "jti" is (and refuse to store the one when the other
-- is), where every other dialect compares IDs exactly. 1,020 bytes, as much
-- as a VARCHAR(255) key holds in utf8mb4.
CREATE TABLE revoked_tokens (
    id         VARBINARY(1020) NOT NULL PRIMARY KEY,
    expires_at BIGINT          NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);

-- Revoking a user's or a client's grants marks the codes of their requests
-- used, found through these.
CREATE INDEX auth_requests_user_id_idx ON auth_requests (user_id);
CREATE INDEX auth_requests_client_id_idx ON auth_requests (client_id);

-- Access tokens revoked before this version stay revoked: their IDs go on
-- the list, until they expire (revoked is a TINYINT, 0 or 1).
INSERT INTO revoked_tokens (id, expires_at)
SELECT id, expires_at FROM access_tokens WHERE revoked <> 0;
DROP TABLE access_tokens;

-- +goose Down
-- The access-token records and the replayed flags are not restored: the
-- tables and columns come back empty (FALSE).
DROP INDEX auth_requests_client_id_idx ON auth_requests;
DROP INDEX auth_requests_user_id_idx ON auth_requests;
DROP TABLE revoked_tokens;
DROP TABLE grants;

CREATE TABLE access_tokens (
    id         VARCHAR(255) NOT NULL PRIMARY KEY,
    family_id  VARCHAR(255) NOT NULL,
    client_id  VARCHAR(255) NOT NULL,
    subject    VARCHAR(255) NOT NULL,
    audience   TEXT         NOT NULL,
    scopes     TEXT         NOT NULL,
    revoked    BOOLEAN      NOT NULL,
    created_at BIGINT       NOT NULL,
    expires_at BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX access_tokens_family_id_idx ON access_tokens (family_id);
CREATE INDEX access_tokens_expires_at_idx ON access_tokens (expires_at);

ALTER TABLE auth_requests ADD COLUMN replayed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients DROP COLUMN disabled, DROP COLUMN resource_audience;
ALTER TABLE users DROP COLUMN disabled;
