-- +goose Up
-- grants.scopes are the scopes the person granted the client, a JSON array
-- like refresh_tokens.scopes, so the account page can say what each
-- application can access. A grant from before this version takes the
-- scopes of the newest refresh token of its family that is not revoked
-- (every token of a family has the grant's scopes); a grant without one
-- reads back with none.
ALTER TABLE grants ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
UPDATE grants SET scopes = (
    SELECT rt.scopes FROM refresh_tokens rt
    WHERE rt.family_id = grants.id AND rt.revoked = 0
    ORDER BY rt.created_at DESC, rt.id DESC LIMIT 1
)
WHERE EXISTS (SELECT 1 FROM refresh_tokens rt WHERE rt.family_id = grants.id AND rt.revoked = 0);

-- +goose Down
ALTER TABLE grants DROP COLUMN scopes;
