-- +goose Up
-- auth_requests.replayed: the request's code was presented again after it
-- was used (storage.AuthRequest.Replayed). Existing rows were never flagged,
-- so they start at FALSE. A column added last with a constant default is an
-- instant ALTER on InnoDB (MariaDB 10.3+, MySQL 8.0.12+).
ALTER TABLE auth_requests ADD COLUMN replayed BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN replayed;
