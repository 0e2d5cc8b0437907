package dpop

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrReplayed is wrapped by the error of Replays.UseOnce for a key already
// used.
var ErrReplayed = errors.New("dpop: proof already used")

// Replays remembers the proofs a server accepted, so that a proof is
// accepted only once (RFC 9449 §11.1).
type Replays interface {
	// UseOnce records key until expiresAt (inclusive). If key is already
	// recorded and now is not past its expiry, it records nothing and
	// returns an error wrapping ErrReplayed. Any other error is a failure
	// of the store. Of concurrent calls with the same key, one at most
	// succeeds.
	UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error
}

// MaxMemoryReplays is how many proofs a MemoryReplays remembers at most.
// Proofs are remembered for Checker.Window, so it takes more than 8,000
// proofs a second with the default window to fill it.
const MaxMemoryReplays = 1 << 20

// MemoryReplays is a Replays held in the process's memory: for a server of
// one instance, and for tests. Several instances behind one address must
// share a store instead (a database), or a proof refused as a replay by one
// would be accepted by another. It forgets expired keys as it goes, and
// holds MaxMemoryReplays at most: when full it fails (the request gets a
// 5xx) rather than forget a key early.
type MemoryReplays struct {
	max int // MaxMemoryReplays, but in tests

	mu      sync.Mutex
	expires map[string]time.Time
	queue   expiryQueue // the keys of expires, soonest expiry first
}

var _ Replays = (*MemoryReplays)(nil)

// NewMemoryReplays returns an empty in-memory store.
func NewMemoryReplays() *MemoryReplays {
	return &MemoryReplays{max: MaxMemoryReplays, expires: make(map[string]time.Time)}
}

// UseOnce implements Replays.
func (m *MemoryReplays) UseOnce(_ context.Context, key string, expiresAt, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.queue) > 0 && now.After(m.queue[0].at) {
		e := heap.Pop(&m.queue).(expiry)
		delete(m.expires, e.key)
	}
	if _, ok := m.expires[key]; ok {
		return ErrReplayed
	}
	if len(m.expires) >= m.max {
		return fmt.Errorf("dpop: the in-memory replay store holds %d proofs, its maximum", len(m.expires))
	}
	m.expires[key] = expiresAt
	heap.Push(&m.queue, expiry{key: key, at: expiresAt})
	return nil
}

// Len returns how many keys m holds, expired ones included until the next
// UseOnce.
func (m *MemoryReplays) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.expires)
}

type expiry struct {
	key string
	at  time.Time
}

// expiryQueue is a min-heap of expiries (container/heap).
type expiryQueue []expiry

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q expiryQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiryQueue) Push(x any)        { *q = append(*q, x.(expiry)) }
func (q *expiryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
