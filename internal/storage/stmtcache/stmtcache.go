package stmtcache

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// DefaultSize bounds a Cache: far more than the fixed queries of a store.
const DefaultSize = 512

// Cache holds the prepared statements of one pool.
type Cache struct {
	db   *sql.DB
	size int

	mu     sync.RWMutex
	stmts  map[string]*sql.Stmt
	closed bool
}

// New returns an empty cache of statements on db holding at most size
// (DefaultSize when 0 or less).
func New(db *sql.DB, size int) *Cache {
	if size <= 0 {
		size = DefaultSize
	}
	return &Cache{db: db, size: size, stmts: map[string]*sql.Stmt{}}
}

// Stmt returns the statement for query, preparing it the first time. The
// statement belongs to the cache: do not close it. When the cache is full
// or closed it returns nil and no error: run the query unprepared.
func (c *Cache) Stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.stmts[query]
	full := c.closed || len(c.stmts) >= c.size
	c.mu.RUnlock()
	if ok || full {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[query]; ok { // prepared meanwhile by another caller
		_ = st.Close()
		return prev, nil
	}
	if c.closed || len(c.stmts) >= c.size {
		_ = st.Close()
		return nil, nil
	}
	c.stmts[query] = st
	return st, nil
}

// Close closes every statement; later calls of Stmt return nil.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	clear(c.stmts)
	c.closed = true
	return errors.Join(errs...)
}
