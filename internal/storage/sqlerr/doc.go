// Package sqlerr classifies the errors of the SQL drivers Gatehouse runs on
// (modernc.org/sqlite, pgx, go-sql-driver/mysql) for the backends built on
// them, sqlstore and docstore, so that both map the same failures to the
// same storage errors.
package sqlerr
