// Package sqldialect is what differs between the SQL databases Gatehouse
// runs on (SQLite, PostgreSQL, MySQL/MariaDB) in the statements both SQL
// backends write, sqlstore and docstore: the dialect's name, placeholders,
// and the syntax of upserts, conflict-ignoring inserts and bounded deletes.
// What only one backend needs (sqlstore's migration lock, docstore's JSON
// expressions) stays in that backend, built on a Dialect.
package sqldialect
