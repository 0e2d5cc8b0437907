-- +goose Up
-- clients.id_token_alg is the client's id_token_signed_response_alg (OpenID
-- Connect Dynamic Client Registration 1.0 §2): RS256, ES256 or EdDSA. Every
-- client registered before this version reads back '', which means RS256,
-- the algorithm its ID tokens were signed with. A TEXT column's default
-- must be an expression in parentheses (MySQL 8.0.13+, MariaDB 10.2+).
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT ('');

-- +goose Down
-- Clients registered with another algorithm get RS256 ID tokens again.
ALTER TABLE clients DROP COLUMN id_token_alg;
