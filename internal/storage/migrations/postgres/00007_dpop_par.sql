-- +goose Up
-- DPoP (RFC 9449) and pushed authorization requests (RFC 9126).
-- clients.dpop_bound is the client's dpop_bound_access_tokens (RFC 9449
-- §5.2): its token requests must carry a proof. clients.require_par is its
-- require_pushed_authorization_requests (RFC 9126 §6). auth_requests.dpop_jkt
-- is the dpop_jkt the authorization request named (RFC 9449 §10), which the
-- code's exchange must prove. refresh_tokens.dpop_jkt is the key a public
-- client's refresh tokens are bound to (§5), copied from link to link. Rows
-- from before this version read back unbound and not required to push.
-- clients.profile names a security profile the client was registered
-- under and the server holds it to: '' (none) or fapi2 (FAPI 2.0).
ALTER TABLE clients ADD COLUMN dpop_bound BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
ALTER TABLE auth_requests DROP COLUMN dpop_jkt;
ALTER TABLE clients DROP COLUMN profile;
ALTER TABLE clients DROP COLUMN require_par;
ALTER TABLE clients DROP COLUMN dpop_bound;
