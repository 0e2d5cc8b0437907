-- +goose Up
-- sessions.token was CHAR(43), the length of scs's session tokens. The web
-- app also keeps its refresh leases in this table, named "webapp-lock:" and
-- a grant ID, which are longer: VARCHAR(255) as the other tables' keys (at
-- most 1,020 bytes in utf8mb4, within InnoDB's 3,072-byte key limit). The
-- column stays the primary key, with the table's utf8mb4_bin collation as
-- before. Changing a key's type copies the table, which holds only live
-- sessions and leases.
ALTER TABLE sessions MODIFY token VARCHAR(255) NOT NULL;

-- +goose Down
-- Fails (strict mode) while a token longer than 43 characters is stored.
ALTER TABLE sessions MODIFY token CHAR(43) NOT NULL;
