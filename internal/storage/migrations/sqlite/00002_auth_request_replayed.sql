-- +goose Up
-- auth_requests.replayed: the request's code was presented again after it
-- was used (storage.AuthRequest.Replayed). Existing rows were never flagged
-- (replays were recorded elsewhere before), so they start at 0.
ALTER TABLE auth_requests ADD COLUMN replayed INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN replayed;
