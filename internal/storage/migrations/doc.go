// Package migrations owns Gatehouse's database schema: goose SQL migrations,
// one directory per SQL dialect (sqlite, postgres, mysql), embedded in the
// binary and applied from an empty database upwards.
//
// Every dialect stores the same tables with the same columns; only the column
// types differ. Times are integer microseconds since the Unix epoch in UTC,
// lists are JSON arrays in text columns. The sessions table has exactly the
// shape the scs session stores (sqlite3store, postgresstore, mysqlstore)
// expect, so the web app can keep its sessions in the same database.
//
// A new migration is a new file NNNNN_name.sql in every dialect's directory,
// with the same version number in each. It must apply to a database at the
// previous version that holds data (a new NOT NULL column needs a default),
// since instances upgrade databases in use. A change only some dialects need
// still takes its version on every one, as a file without statements where
// there is nothing to do (00003 widens sessions.token on MySQL only).
package migrations
