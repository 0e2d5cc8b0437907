// Package stmtcache keeps prepared statements for the fixed queries of a
// store, one per query text on a pool: the driver parses and plans each
// query once per connection instead of on every call. On SQLite, whose
// parser runs in the process, parsing is a large share of a short read's
// CPU; on MySQL an unprepared query with arguments costs two more round
// trips.
//
// Only queries whose text is fixed by the program belong here: a text built
// from a request (a filter of the API's where clause) would grow the cache
// without bound, so the cache stops adding statements past its size and
// those queries simply run unprepared.
//
// Statements are prepared on the pool, so a caller holding the pool's only
// connection (SQLite's writer, in a transaction) must not ask for one: it
// would wait for itself.
package stmtcache
