package password

import (
	"context"
	"fmt"
)

// Limiter bounds how many hashes run at once. Each argon2id computation holds
// its Params.Memory for as long as it runs, so a burst of sign-ins on a small
// machine would otherwise cost memory in proportion to the burst; with a
// limit it costs waiting time instead, and memory stays near
// limit × Params.Memory. A server keeps one Limiter for all its sign-ins.
type Limiter struct {
	slots chan struct{}
}

// NewLimiter allows n hashes at once (n < 1 means 1). GOMAXPROCS is a good n:
// more cannot run in parallel anyway.
func NewLimiter(n int) *Limiter {
	if n < 1 {
		n = 1
	}
	return &Limiter{slots: make(chan struct{}, n)}
}

func (l *Limiter) acquire(ctx context.Context) error {
	// A request that has already ended does not hash, even if a slot is
	// free (select would pick either ready case).
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("password: waiting to hash: %w", err)
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting to hash: %w", ctx.Err())
	}
}

func (l *Limiter) release() { <-l.slots }

// Do runs fn within the limit: it waits for a slot, or returns the context's
// error (wrapped) without running fn if ctx ends first. fn should be the hash
// itself and nothing that waits on other work, so that slots are held only
// while memory is.
func (l *Limiter) Do(ctx context.Context, fn func()) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	fn()
	return nil
}

// Verify is Verify within the limit; it fails only if ctx ends first or the
// hash is malformed.
func (l *Limiter) Verify(ctx context.Context, password, encoded string) (ok bool, err error) {
	if werr := l.Do(ctx, func() { ok, err = Verify(password, encoded) }); werr != nil {
		return false, werr
	}
	return ok, err
}

// VerifyDummy is VerifyDummy within the limit.
func (l *Limiter) VerifyDummy(ctx context.Context, password string) error {
	return l.Do(ctx, func() { VerifyDummy(password) })
}
