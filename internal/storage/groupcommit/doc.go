// Package groupcommit runs the writes of many goroutines on a database with
// one writer (SQLite) in shared transactions: group commit.
//
// SQLite lets one connection write at a time, and every commit costs its
// journal writes whether it changed one row or a hundred. A Writer queues
// the writes callers hand it; one goroutine takes whatever has queued while
// the previous transaction committed, runs each write inside its own
// savepoint of one transaction, and commits them together. Under load a
// commit carries tens of writes; alone, a write commits at once, without
// waiting for company.
//
// Each write is still all-or-nothing and isolated: a write that fails is
// rolled back to its savepoint and the others commit; writes run one after
// another, so each sees those before it, exactly as if they had committed
// one by one in that order. A caller learns its write's fate only once the
// shared transaction has committed.
package groupcommit
