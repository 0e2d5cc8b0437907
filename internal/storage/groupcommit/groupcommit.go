package groupcommit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Func is one write. It runs on tx, inside a savepoint, and must use only
// ctx (never a context of its own: cancelling a statement can roll back
// the whole shared transaction) and tx (never wait for another write: the
// Writer runs one write at a time, so that would wait forever).
type Func func(ctx context.Context, tx *sql.Tx) error

// ErrClosed is returned for writes handed to a closed Writer.
var ErrClosed = errors.New("groupcommit: writer closed")

// DefaultMaxBatch bounds the writes of one transaction.
const DefaultMaxBatch = 128

// Writer runs writes in shared transactions on one database.
type Writer struct {
	db       *sql.DB
	maxBatch int

	writes, commits atomic.Int64 // committed writes, and the transactions that carried them

	// cur is the transaction under way and the statements prepared on it
	// (see Stmt). Its map is only touched from the writer's goroutine,
	// where the Funcs run; the pointer is atomic so that a call of Stmt
	// from anywhere else safely finds its tx is not the current one.
	cur atomic.Pointer[batchState]

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan *write
	done   chan struct{} // closed when run returns
}

type batchState struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

// Stmt returns a statement for query prepared on tx, shared by the writes of
// that transaction: writes of one kind (a batch of token records) parse
// their statement once per transaction, not once each. Call it only from a
// Func, with the tx it was given; for any other tx it returns nil (run the
// query unprepared). The statement is closed with the transaction.
func (w *Writer) Stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	cur := w.cur.Load()
	if tx == nil || cur == nil || tx != cur.tx {
		return nil, nil
	}
	if st, ok := cur.stmts[query]; ok {
		return st, nil
	}
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cur.stmts[query] = st
	return st, nil
}

// States of a write.
const (
	queued    int32 = iota // handed over, not yet taken by a batch
	taken                  // in a batch waiting for its transaction
	running                // its Func has started: the caller waits for the outcome
	abandoned              // its caller gave up (context ended) before it ran
)

type write struct {
	ctx   context.Context
	fn    Func
	state atomic.Int32
	res   chan error // buffered: the writer never waits for the caller
}

// New returns a Writer on db and starts its goroutine; Close stops it.
// maxBatch bounds the writes per transaction (DefaultMaxBatch when 0 or
// less). db should allow one connection, or be the only writer of it.
func New(db *sql.DB, maxBatch int) *Writer {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	w := &Writer{db: db, maxBatch: maxBatch, queue: make(chan *write, maxBatch), done: make(chan struct{})}
	go w.run()
	return w
}

// Do runs fn in a shared transaction and returns once that transaction has
// committed (nil), or with fn's error (its changes rolled back), or with
// the error of beginning or committing the transaction (nothing of fn
// kept). If ctx ends before fn starts, fn never runs and Do returns
// ctx.Err(); once fn has started, Do waits for the commit.
func (w *Writer) Do(ctx context.Context, fn Func) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &write{ctx: ctx, fn: fn, res: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.queue <- op:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-op.res:
		return err
	case <-ctx.Done():
		if op.state.CompareAndSwap(queued, abandoned) || op.state.CompareAndSwap(taken, abandoned) {
			return ctx.Err()
		}
		return <-op.res // running: its outcome comes with the commit
	}
}

// Close stops taking writes (Do returns ErrClosed), and returns once those
// already queued have been committed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]*write, 0, w.maxBatch)
	for op := range w.queue {
		batch = append(batch[:0], op)
	more:
		for len(batch) < w.maxBatch {
			select {
			case op, ok := <-w.queue:
				if !ok {
					break more
				}
				batch = append(batch, op)
			default:
				break more
			}
		}
		w.commit(batch)
	}
}

// commit runs the live writes of batch in one transaction.
func (w *Writer) commit(batch []*write) {
	live := batch[:0]
	for _, op := range batch {
		if op.state.CompareAndSwap(queued, taken) {
			live = append(live, op)
		}
	}
	if len(live) == 0 {
		return
	}
	// The transaction's context is not any caller's: one caller giving up
	// must not roll back the others' writes.
	ctx := context.Background()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		for _, op := range live {
			op.res <- fmt.Errorf("groupcommit: begin: %w", err)
		}
		return
	}
	sp, err := prepareSavepoints(ctx, tx)
	if err != nil {
		_ = tx.Rollback()
		for _, op := range live {
			op.res <- err
		}
		return
	}
	w.cur.Store(&batchState{tx: tx, stmts: map[string]*sql.Stmt{}})
	defer w.cur.Store(nil)
	ok := live[:0]
	var broken error // the transaction can no longer be trusted
	for _, op := range live {
		if broken != nil || !op.state.CompareAndSwap(taken, running) {
			if broken != nil {
				op.res <- broken
			}
			continue // abandoned: its caller has returned
		}
		if err := runOne(tx, sp, op); err != nil {
			var be *brokenError
			if errors.As(err, &be) {
				broken = be
				op.res <- be
				for _, prev := range ok {
					prev.res <- be
				}
				ok = ok[:0]
				continue
			}
			op.res <- err
			continue
		}
		ok = append(ok, op)
	}
	if broken != nil {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("groupcommit: commit: %w", err)
		for _, op := range ok {
			op.res <- err
		}
		return
	}
	w.writes.Add(int64(len(ok)))
	w.commits.Add(1)
	for _, op := range ok {
		op.res <- nil
	}
}

// Stats returns how many writes have been committed and in how many
// transactions.
func (w *Writer) Stats() (writes, commits int64) { return w.writes.Load(), w.commits.Load() }

// brokenError is a failure of the savepoint statements themselves: the
// shared transaction is in an unknown state and is rolled back.
type brokenError struct{ err error }

func (e *brokenError) Error() string { return "groupcommit: " + e.err.Error() }
func (e *brokenError) Unwrap() error { return e.err }

// savepoints are the statements around each write, prepared once per
// transaction rather than parsed for every write.
type savepoints struct{ begin, rollback, release *sql.Stmt }

func prepareSavepoints(ctx context.Context, tx *sql.Tx) (savepoints, error) {
	var sp savepoints
	for _, p := range []struct {
		st    **sql.Stmt
		query string
	}{
		{&sp.begin, "SAVEPOINT groupcommit"},
		{&sp.rollback, "ROLLBACK TO groupcommit"},
		{&sp.release, "RELEASE groupcommit"},
	} {
		st, err := tx.PrepareContext(ctx, p.query)
		if err != nil {
			return sp, fmt.Errorf("groupcommit: preparing %q: %w", p.query, err)
		}
		*p.st = st // closed with the transaction
	}
	return sp, nil
}

// runOne runs op's Func inside a savepoint, rolling back to it if the Func
// fails. The Func's context keeps the caller's values but not its
// cancellation (see Func).
func runOne(tx *sql.Tx, sp savepoints, op *write) (err error) {
	ctx := context.WithoutCancel(op.ctx)
	if _, err := sp.begin.ExecContext(ctx); err != nil {
		return &brokenError{fmt.Errorf("savepoint: %w", err)}
	}
	defer func() {
		if p := recover(); p != nil {
			// Left to unwind, the panic would end the process from the
			// writer's goroutine, where no handler can recover it: it
			// becomes the caller's error, and the savepoint is rolled back.
			err = fmt.Errorf("groupcommit: write panicked: %v", p)
		}
		if err != nil {
			if _, rerr := sp.rollback.ExecContext(ctx); rerr != nil {
				err = &brokenError{fmt.Errorf("rollback to savepoint: %w (after %v)", rerr, err)}
				return
			}
		}
		if _, rerr := sp.release.ExecContext(ctx); rerr != nil {
			err = &brokenError{fmt.Errorf("release savepoint: %w", rerr)}
		}
	}()
	return op.fn(ctx, tx)
}
