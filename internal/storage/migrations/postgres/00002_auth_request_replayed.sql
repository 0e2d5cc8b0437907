-- +goose Up
-- auth_requests.replayed: the request's code was presented again after it
-- was used (storage.AuthRequest.Replayed). Existing rows were never flagged,
-- so they start at FALSE. A constant default makes this a catalogue-only
-- change: the table is not rewritten.
ALTER TABLE auth_requests ADD COLUMN replayed BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN replayed;
