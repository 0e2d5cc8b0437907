package leases

import (
	"context"
	"fmt"
	"time"
)

// Table keeps leases as rows of a database table; sqlstore.Store is one,
// keeping them in the web app's sessions table, whose SQL it owns.
type Table interface {
	// AcquireLease takes the lease name for owner until ttl has passed,
	// unless another owner holds it unexpired, and reports whether owner
	// holds it now.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease ends owner's lease name, leaving alone one that owner
	// no longer holds.
	ReleaseLease(ctx context.Context, name, owner string) error
}

// SQL keeps leases in a SQL database's Table.
type SQL struct {
	t Table
}

// NewSQL returns leases kept in t.
func NewSQL(t Table) *SQL { return &SQL{t: t} }

// Acquire implements webapp.Leases.
func (s *SQL) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.t.AcquireLease(ctx, name, owner, ttl)
	if err != nil {
		return false, fmt.Errorf("leases: taking a lease: %w", err)
	}
	return ok, nil
}

// Release implements webapp.Leases.
func (s *SQL) Release(ctx context.Context, name, owner string) error {
	if err := s.t.ReleaseLease(ctx, name, owner); err != nil {
		return fmt.Errorf("leases: releasing a lease: %w", err)
	}
	return nil
}
