// Package sqlstore is Gatehouse's storage backend on SQL databases: SQLite
// (modernc.org/sqlite), PostgreSQL (pgx) and MySQL/MariaDB
// (go-sql-driver/mysql), behind the interfaces of package storage.
//
// One implementation serves all three dialects; what differs between them
// (placeholders, upsert syntax, batch deletes, error codes, the migration
// lock) lives in the small dialect type. The schema comes from package
// migrations and is applied with goose, under a database lock so that several
// instances may start at once.
//
// Times are stored as integer microseconds since the Unix epoch and come back
// in UTC; lists are stored as JSON arrays. Single-use records (authorization
// codes, refresh tokens) are consumed with a conditional UPDATE whose row count
// decides the one winner, so they stay single-use when many requests race, on
// any number of instances.
//
// On SQLite, writes go through a pool of exactly one connection whose
// transactions begin IMMEDIATE, and reads through a separate pool, with the
// database in WAL mode so readers never wait for the writer.
//
// WebSessions is the web app's scs session store on the same database's
// `sessions` table, with the rows scs's own SQL stores write, and contexts.
package sqlstore
