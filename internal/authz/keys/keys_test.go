package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestEnsure_ConcurrentFirstKey: instances starting at once on an empty
// database, each with its own connection pool and a clock up to a minute
// off the others', end up with one signing key per algorithm, and every
// instance signs with it.
func TestEnsure_ConcurrentFirstKey(t *testing.T) {
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.ES256}
	const instances = 5
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dsn := b.DSN(t)
			sealer, err := secret.New()
			if err != nil {
				t.Fatal(err)
			}
			managers := make([]*keys.Manager, instances)
			var inspect *sqlstore.Store
			for i := range managers {
				st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Migrate: true})
				if err != nil {
					t.Fatalf("open store %d: %v", i, err)
				}
				t.Cleanup(func() { st.Close() })
				managers[i] = keys.NewManager(st, sealer)
				inspect = st
			}
			// Clock offsets -1m, -30s, 0, +30s, +1m.
			offset := func(i int) time.Duration { return time.Duration(i-instances/2) * 30 * time.Second }

			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, instances)
			for i, m := range managers {
				wg.Go(func() {
					<-start
					errs[i] = m.Ensure(ctx, time.Now().Add(offset(i)), algs...)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Ensure on instance %d: %v", i, err)
				}
			}

			recs, err := inspect.ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, alg := range algs {
				var kids []string
				for _, r := range recs {
					if r.Algorithm == string(alg) {
						kids = append(kids, r.ID)
					}
				}
				if len(kids) != 1 {
					t.Fatalf("%s: %d keys stored after %d concurrent Ensure calls, want 1: %v", alg, len(kids), instances, kids)
				}
				for i, m := range managers {
					k, err := m.Signer(alg, time.Now().Add(offset(i)))
					if err != nil {
						t.Fatalf("%s: instance %d: %v", alg, i, err)
					}
					if k.ID != kids[0] {
						t.Errorf("%s: instance %d signs with %s, want the stored key %s", alg, i, k.ID, kids[0])
					}
				}
			}
		})
	}
}

// TestEnsure_KeepsSigningKey: Ensure on a store that has a signing key
// creates nothing, and a first key created at one instant signs from
// FirstKeyBackdate before it.
func TestEnsure_KeepsSigningKey(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, storagetest.SQLite(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)
	first := keys.NewManager(st, sealer)
	if err := first.Ensure(ctx, now, jose.ES256); err != nil {
		t.Fatal(err)
	}
	k, err := first.Signer(jose.ES256, now.Add(-keys.FirstKeyBackdate))
	if err != nil {
		t.Fatalf("first key does not sign from FirstKeyBackdate before its creation: %v", err)
	}
	for _, at := range []time.Duration{-time.Minute, 0, time.Hour} {
		m := keys.NewManager(st, sealer)
		if err := m.Ensure(ctx, now.Add(at), jose.ES256); err != nil {
			t.Fatal(err)
		}
		got, err := m.Signer(jose.ES256, now.Add(at))
		if err != nil || got.ID != k.ID {
			t.Fatalf("Ensure at %v: signer %s, %v; want the existing key %s", at, got.ID, err, k.ID)
		}
	}
	recs, err := st.ListKeys(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("keys stored: %d, %v; want 1", len(recs), err)
	}
}
