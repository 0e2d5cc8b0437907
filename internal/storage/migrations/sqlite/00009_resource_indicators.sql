-- +goose Up
-- Resource indicators (RFC 8707). clients.resource_scopes are the scopes a
-- resource server (a client with a resource_audience) defines, a JSON
-- array like clients.scopes: a client may be granted them in tokens whose
-- audience is that resource server. Clients from before this version
-- define none. auth_requests.resource is the resource the authorization
-- request named (§2), the audience of its tokens; '' is the server's
-- default audience, which is what requests from before this version had.
-- The index finds the resource server of an audience.
ALTER TABLE clients ADD COLUMN resource_scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE auth_requests ADD COLUMN resource TEXT NOT NULL DEFAULT '';
CREATE INDEX clients_resource_audience_idx ON clients (resource_audience);

-- +goose Down
DROP INDEX clients_resource_audience_idx;
ALTER TABLE auth_requests DROP COLUMN resource;
ALTER TABLE clients DROP COLUMN resource_scopes;
