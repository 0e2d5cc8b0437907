-- +goose Up
-- No statements: sessions.token is TEXT here, of any length, already. On
-- MySQL this version widens it from CHAR(43) to VARCHAR(255) (see
-- mysql/00003); the version exists on every dialect so that a version
-- number means the same schema everywhere.

-- +goose Down
