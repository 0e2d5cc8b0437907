-- +goose Up
-- clients.require_mfa makes every sign-in for the client take a second
-- factor, whatever its authorization request asks: the server treats its
-- requests as asking for acr aal2. Rows from before this version read back
-- not requiring one.
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE clients DROP COLUMN require_mfa;
