// Package leases implements webapp.Leases on the stores the web app keeps
// its sessions in, so that token refreshes are serialized across every
// instance that shares them:
//
//   - Redis: SET name owner NX PX ttl to take a lease, and a Lua script that
//     deletes the key only while it still holds owner to release it (the
//     single-instance pattern of https://redis.io/docs/latest/commands/set/).
//   - SQL (PostgreSQL, MySQL/MariaDB, SQLite): a row in the scs `sessions`
//     table, through a Table (sqlstore.Store, which owns that table's SQL):
//     the row's expiry is the lease's and is computed by the database, so
//     instances' clocks need not agree, and it is taken with one upsert
//     that inserts it or takes over an expired one. No connection is held
//     while the lease is, so leases do not eat into the bounded connection
//     pool. The sessions' cleanup removes expired rows.
//
// A lease ends when released or when its ttl passes, whichever comes first:
// a crashed holder blocks the others for at most ttl.
package leases
