-- +goose Up
-- clients.auth_method is the client's token_endpoint_auth_method (OpenID
-- Connect Dynamic Client Registration 1.0 §2): none, client_secret_basic,
-- client_secret_post or private_key_jwt. Every client registered before
-- this version reads back '', which means what it meant then: a public
-- client identifies itself, a confidential one presents its secret either
-- way. clients.jwks holds the public keys of a private_key_jwt client as a
-- JSON Web Key Set, or clients.jwks_uri says where to fetch them.
ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';

-- replays holds one-time values (the jti of client assertions) until they
-- expire, so a value is accepted once across every instance.
CREATE TABLE replays (
    replay_key TEXT NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replays_expires_at_idx ON replays (expires_at);

-- +goose Down
DROP TABLE replays;
ALTER TABLE clients DROP COLUMN jwks_uri;
ALTER TABLE clients DROP COLUMN jwks;
ALTER TABLE clients DROP COLUMN auth_method;
