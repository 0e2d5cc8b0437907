-- +goose Up
-- Resource indicators (RFC 8707). clients.resource_scopes are the scopes a
-- resource server (a client with a resource_audience) defines, a JSON
-- array like clients.scopes: a client may be granted them in tokens whose
-- audience is that resource server. Clients from before this version
-- define none. auth_requests.resource is the resource the authorization
-- request named (§2), the audience of its tokens; '' is the server's
-- default audience, which is what requests from before this version had.
-- A TEXT column's default is an expression in parentheses (MySQL 8.0.13+,
-- MariaDB 10.2+).
--
-- The index finds the resource server of an audience. resource_audience
-- is TEXT, so the index holds its first 255 characters (1,020 bytes in
-- utf8mb4, within InnoDB's 3,072); longer audiences are told apart by the
-- row. The PAD SPACE collation also matches audiences that differ in
-- trailing spaces: the store keeps only the exact match.
ALTER TABLE clients ADD COLUMN resource_scopes TEXT NOT NULL DEFAULT ('[]');
ALTER TABLE auth_requests ADD COLUMN resource TEXT NOT NULL DEFAULT ('');
CREATE INDEX clients_resource_audience_idx ON clients (resource_audience(255));

-- +goose Down
DROP INDEX clients_resource_audience_idx ON clients;
ALTER TABLE auth_requests DROP COLUMN resource;
ALTER TABLE clients DROP COLUMN resource_scopes;
