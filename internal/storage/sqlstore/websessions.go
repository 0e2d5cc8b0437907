package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/migrations"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

// WebSessions keeps the web app's sessions (github.com/alexedwards/scs/v2)
// in the database's `sessions` table. It reads and writes the rows exactly as
// scs's own sqlite3store, postgresstore and mysqlstore do, so that either
// reads what the other wrote, and adds what those stores lack: the
// context-taking methods of scs.CtxStore. With them a request's deadline
// (--request-timeout) also ends a session lookup the database never
// answers; scs's stores run their queries without a context, so such a
// lookup waited as long as the connection did.
//
// Errors wrap the storage package's errors (storage.ErrUnavailable when the
// database cannot answer, or the deadline ran out).
type WebSessions struct {
	s *Store
	q webSessionQueries

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// webSessionQueries are one dialect's statements on the sessions table:
// those of its scs store, and those of the web app's leases.
type webSessionQueries struct {
	find, commit, delete, all, deleteExpired string
	// expiry converts a session's expiry to the commit's parameter.
	expiry func(time.Time) any

	// acquireLease inserts a lease's row, or takes over one whose expiry
	// has passed: one statement, atomic on every dialect (the primary key
	// lets one of several concurrent callers win), without the gap-lock
	// deadlocks a delete-then-insert provokes on InnoDB. The expiry is
	// computed by the database, so instances' clocks need not agree.
	acquireLease, releaseLease string
	// leaseHolder, when set, reads the lease's owner back after
	// acquireLease, for drivers whose affected-rows count cannot tell the
	// outcome.
	leaseHolder string
	// leaseTTL converts a lease's ttl to acquireLease's parameter.
	leaseTTL func(time.Duration) any
}

// sweepTimeout bounds one sweep of expired sessions.
const sweepTimeout = time.Minute

// WebSessions returns the web app's session store on this database. Every
// cleanupInterval (scs's stores use 5 minutes) it deletes expired rows — the
// expired sessions and the web app's expired leases, which share the table;
// 0 disables that. StopCleanup ends it.
func (s *Store) WebSessions(cleanupInterval time.Duration) *WebSessions {
	w := &WebSessions{s: s, q: webSessionQueriesFor(s.d.Name()), stop: make(chan struct{}), done: make(chan struct{})}
	if cleanupInterval <= 0 {
		close(w.done)
		return w
	}
	go w.cleanup(cleanupInterval)
	return w
}

func webSessionQueriesFor(dialect string) webSessionQueries {
	switch dialect {
	case migrations.Postgres:
		return webSessionQueries{
			find:          "SELECT data FROM sessions WHERE token = ? AND current_timestamp < expiry",
			commit:        "INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?) ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry",
			delete:        "DELETE FROM sessions WHERE token = ?",
			all:           "SELECT token, data FROM sessions WHERE current_timestamp < expiry",
			deleteExpired: "DELETE FROM sessions WHERE expiry < current_timestamp",
			expiry:        func(t time.Time) any { return t },
			acquireLease: `INSERT INTO sessions (token, data, expiry)
				VALUES (?, ?, current_timestamp + ? * interval '1 millisecond')
				ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry
				WHERE sessions.expiry <= current_timestamp`,
			releaseLease: "DELETE FROM sessions WHERE token = ? AND data = ?",
			leaseTTL:     leaseMillis,
		}
	case migrations.MySQL:
		return webSessionQueries{
			find:          "SELECT data FROM sessions WHERE token = ? AND UTC_TIMESTAMP(6) < expiry",
			commit:        "INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE data = VALUES(data), expiry = VALUES(expiry)",
			delete:        "DELETE FROM sessions WHERE token = ?",
			all:           "SELECT token, data FROM sessions WHERE UTC_TIMESTAMP(6) < expiry",
			deleteExpired: "DELETE FROM sessions WHERE expiry < UTC_TIMESTAMP(6)",
			expiry:        func(t time.Time) any { return t.UTC() },
			// The assignments run left to right, so both test the old
			// expiry. The connection sets clientFoundRows, so a row left as
			// it was counts 1 affected row like an insert: the owner is
			// read back.
			acquireLease: `INSERT INTO sessions (token, data, expiry)
				VALUES (?, ?, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)
				ON DUPLICATE KEY UPDATE
					data = IF(expiry <= UTC_TIMESTAMP(6), VALUES(data), data),
					expiry = IF(expiry <= UTC_TIMESTAMP(6), VALUES(expiry), expiry)`,
			releaseLease: "DELETE FROM sessions WHERE token = ? AND data = ?",
			leaseHolder:  "SELECT data FROM sessions WHERE token = ?",
			leaseTTL:     func(d time.Duration) any { return d.Microseconds() },
		}
	default:
		// sqlite3store keeps expiry as a Julian day number.
		return webSessionQueries{
			find:          "SELECT data FROM sessions WHERE token = ? AND julianday('now') < expiry",
			commit:        "REPLACE INTO sessions (token, data, expiry) VALUES (?, ?, julianday(?))",
			delete:        "DELETE FROM sessions WHERE token = ?",
			all:           "SELECT token, data FROM sessions WHERE julianday('now') < expiry",
			deleteExpired: "DELETE FROM sessions WHERE expiry < julianday('now')",
			expiry:        func(t time.Time) any { return t.UTC().Format("2006-01-02T15:04:05.999") },
			acquireLease: `INSERT INTO sessions (token, data, expiry)
				VALUES (?, ?, julianday('now') + ? / 86400000.0)
				ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry
				WHERE sessions.expiry <= julianday('now')`,
			releaseLease: "DELETE FROM sessions WHERE token = ? AND data = ?",
			leaseTTL:     leaseMillis,
		}
	}
}

func leaseMillis(d time.Duration) any { return d.Milliseconds() }

// AcquireLease takes the lease name for owner until ttl has passed, unless
// another owner holds it unexpired; it reports whether owner holds it now.
// Leases are rows of the sessions table (token: the name, data: the owner,
// expiry: its end), swept with the expired sessions.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	q := webSessionQueriesFor(s.d.Name())
	res, err := s.write(ctx, q.acquireLease, name, []byte(owner), q.leaseTTL(ttl))
	if err != nil {
		return false, err
	}
	if q.leaseHolder != "" {
		var holder []byte
		err := s.queryRow(ctx, s.db, func(r scanner) error { return r.Scan(&holder) }, q.leaseHolder, name)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return false, nil // taken and released by another owner meanwhile
		case err != nil:
			return false, err
		}
		return string(holder) == owner, nil
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.d.mapErr(err)
	}
	return n > 0, nil
}

// ReleaseLease ends owner's lease name; a lease owner no longer holds (it
// expired and another took it over) is left alone.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	_, err := s.write(ctx, webSessionQueriesFor(s.d.Name()).releaseLease, name, []byte(owner))
	return err
}

// FindCtx returns the data of an unexpired session; found is false when
// there is none.
func (w *WebSessions) FindCtx(ctx context.Context, token string) (b []byte, found bool, err error) {
	query := w.s.d.Rebind(w.q.find)
	ctx, end := telemetry.StartDB(ctx, w.s.d.Name(), query)
	err = w.s.rdb.QueryRowContext(ctx, query, token).Scan(&b) // on SQLite, not the one writer connection
	end(err)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, w.s.d.mapErr(err)
	}
	return b, true, nil
}

// CommitCtx stores a session's data and expiry, replacing what was there.
func (w *WebSessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	_, err := w.s.write(ctx, w.q.commit, token, b, w.q.expiry(expiry))
	return err
}

// DeleteCtx removes a session; removing one that is not there is no error.
func (w *WebSessions) DeleteCtx(ctx context.Context, token string) error {
	_, err := w.s.write(ctx, w.q.delete, token)
	return err
}

// AllCtx returns the data of every unexpired session, by token.
func (w *WebSessions) AllCtx(ctx context.Context) (map[string][]byte, error) {
	all := map[string][]byte{}
	err := w.s.queryRows(ctx, w.s.rdb, func(r scanner) error {
		var token string
		var data []byte
		if err := r.Scan(&token, &data); err != nil {
			return err
		}
		all[token] = data
		return nil
	}, w.q.all)
	if err != nil {
		return nil, err
	}
	return all, nil
}

// Find is FindCtx without a deadline, for scs.Store.
func (w *WebSessions) Find(token string) ([]byte, bool, error) {
	return w.FindCtx(context.Background(), token)
}

// Commit is CommitCtx without a deadline, for scs.Store.
func (w *WebSessions) Commit(token string, b []byte, expiry time.Time) error {
	return w.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx without a deadline, for scs.Store.
func (w *WebSessions) Delete(token string) error {
	return w.DeleteCtx(context.Background(), token)
}

// All is AllCtx without a deadline, for scs.IterableStore.
func (w *WebSessions) All() (map[string][]byte, error) {
	return w.AllCtx(context.Background())
}

// DeleteExpired removes every expired row and returns how many.
func (w *WebSessions) DeleteExpired(ctx context.Context) (int64, error) {
	res, err := w.s.write(ctx, w.q.deleteExpired)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return n, w.s.d.mapErr(err)
}

// StopCleanup ends the sweeping of expired rows and waits for a sweep in
// progress. It may be called more than once.
func (w *WebSessions) StopCleanup() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// cleanup sweeps expired rows every interval until StopCleanup. A sweep
// that fails (the database is away) is tried again at the next tick.
func (w *WebSessions) cleanup(interval time.Duration) {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sctx, scancel := context.WithTimeout(ctx, sweepTimeout)
			_, _ = w.DeleteExpired(sctx)
			scancel()
		}
	}
}
