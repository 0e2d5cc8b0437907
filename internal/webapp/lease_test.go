package webapp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2/memstore"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// takenThenFailed is a lease store whose Acquire takes the lease and then
// reports an error, as when a request's deadline ends after the write.
type takenThenFailed struct {
	mu              sync.Mutex
	taken, released []string
}

func (l *takenThenFailed) Acquire(_ context.Context, name, owner string, _ time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.taken = append(l.taken, name+" "+owner)
	return false, context.DeadlineExceeded
}

func (l *takenThenFailed) Release(_ context.Context, name, owner string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = append(l.released, name+" "+owner)
	return nil
}

// TestLockGrant_ReleasesAfterFailedAcquire: a lease the store may have
// taken before failing is given back at once, so other instances do not
// wait for it to expire.
func TestLockGrant_ReleasesAfterFailedAcquire(t *testing.T) {
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	l := &takenThenFailed{}
	app := newInstance(t, newFakeOP(t), key, memstore.NewWithCleanupInterval(0), l)
	unlock, _, err := app.lockGrant(t.Context(), "grant-1", "")
	if err == nil {
		unlock()
		t.Fatal("lockGrant succeeded")
	}
	if !errors.Is(err, errSessionStore) {
		t.Errorf("error %v, want errSessionStore", err)
	}
	if len(l.taken) != 1 || len(l.released) != 1 || l.taken[0] != l.released[0] {
		t.Fatalf("taken %q, released %q: want the same lease released", l.taken, l.released)
	}
	// The in-process lock was given back too.
	unlock, _, err = app.lockGrant(t.Context(), "grant-1", "")
	if err == nil {
		unlock()
	}
	if len(l.taken) != 2 {
		t.Fatalf("second lockGrant did not reach the store: %q", l.taken)
	}
}
