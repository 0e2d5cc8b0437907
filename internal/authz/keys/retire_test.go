package keys_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

var retireOpts = keys.RotateOptions{Lead: 10 * time.Minute, MaxTokenLifetime: time.Hour}

// keyStore is a fresh SQLite store with a first ES256 and EdDSA key made at
// t0, as the authorization server's first start makes them.
func keyStore(t *testing.T, t0 time.Time) (*sqlstore.Store, *secret.Key) {
	t.Helper()
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
	if err := keys.NewManager(st, sealer).Ensure(ctx, t0, jose.ES256, jose.EdDSA); err != nil {
		t.Fatal(err)
	}
	return st, sealer
}

// loaded is what a server sees after reloading the keys.
func loaded(t *testing.T, st *sqlstore.Store, sealer *secret.Key) *keys.Manager {
	t.Helper()
	m := keys.NewManager(st, sealer)
	if err := m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func signerID(t *testing.T, m *keys.Manager, alg jose.SignatureAlgorithm, at time.Time) string {
	t.Helper()
	k, err := m.Signer(alg, at)
	if err != nil {
		t.Fatalf("Signer(%s, %v): %v", alg, at, err)
	}
	return k.ID
}

func storedIDs(t *testing.T, st *sqlstore.Store) []string {
	t.Helper()
	recs, err := st.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestRetire: a retired key leaves the published set at once; a key that
// signs, or is due to, is replaced by one of its algorithm, and nothing else
// changes.
func TestRetire(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name string
		// rotate: a rotation of ES256 happens at t0+1h before the retirement.
		rotate bool
		// retireAt is when the retirement happens, after t0.
		retireAt time.Duration
		// which key of ES256 is retired: "first" (made at t0) or "second"
		// (made by the rotation).
		which string
		// replaced: a replacement is made.
		replaced bool
		// signer expected right after the retirement: "replacement",
		// "first" or "second".
		signerAfter string
	}{
		{"the only key, signing", false, 2 * time.Hour, "first", true, "replacement"},
		{"the signer, a successor pending", true, time.Hour + time.Minute, "first", true, "replacement"},
		{"the pending successor", true, time.Hour + time.Minute, "second", true, "first"},
		{"the new signer after a rotation", true, 2 * time.Hour, "second", true, "replacement"},
		{"an old key that only verifies", true, 2 * time.Hour, "first", false, "second"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, sealer := keyStore(t, t0)
			m := loaded(t, st, sealer)
			named := map[string]string{"first": signerID(t, m, jose.ES256, t0)}
			edSigner := signerID(t, m, jose.EdDSA, t0)
			if tc.rotate {
				kids, err := keys.Rotate(ctx, st, sealer, t0.Add(time.Hour), retireOpts, jose.ES256)
				if err != nil || len(kids) != 1 {
					t.Fatalf("Rotate: %v, %v", kids, err)
				}
				named["second"] = kids[0]
			}
			before := storedIDs(t, st)
			at := t0.Add(tc.retireAt)
			kid := named[tc.which]

			repl, err := keys.Retire(ctx, st, sealer, kid, at)
			if err != nil {
				t.Fatalf("Retire: %v", err)
			}
			after := storedIDs(t, st)
			if !tc.replaced {
				if repl != "" || len(after) != len(before) {
					t.Fatalf("Retire made replacement %q (keys %v → %v), want none", repl, before, after)
				}
			} else if repl == "" || slices.Contains(before, repl) || len(after) != len(before)+1 {
				t.Fatalf("Retire: replacement %q (keys %v → %v), want one new key", repl, before, after)
			}
			named["replacement"] = repl

			m = loaded(t, st, sealer)
			if _, ok := m.Lookup(kid, at.Add(-time.Second)); !ok {
				t.Errorf("retired key gone before its retirement")
			}
			if _, ok := m.Lookup(kid, at); ok {
				t.Errorf("retired key still published at its retirement")
			}
			for _, k := range m.JWKS(at).Keys {
				if k.KeyID == kid {
					t.Errorf("retired key still in the JWKS")
				}
			}
			if got, want := signerID(t, m, jose.ES256, at), named[tc.signerAfter]; got != want {
				t.Errorf("signer right after = %s, want the %s key %s", got, tc.signerAfter, want)
			}
			if got := signerID(t, m, jose.EdDSA, at); got != edSigner {
				t.Errorf("EdDSA signer changed to %s: another algorithm's key was touched", got)
			}
			if repl != "" {
				k, ok := m.Lookup(repl, at)
				if !ok || k.Algorithm != jose.ES256 || !k.ExpiresAt.IsZero() {
					t.Fatalf("replacement %+v (published %v), want a published ES256 key without an end", k, ok)
				}
				// One that stood in for the pending successor signs when
				// that one would have: the first key's expiry covers the
				// tokens it signs until then.
				if tc.which == "second" && tc.signerAfter == "first" {
					if got := signerID(t, m, jose.ES256, t0.Add(time.Hour).Add(retireOpts.Lead)); got != repl {
						t.Errorf("signer at the planned handover = %s, want the replacement %s", got, repl)
					}
				}
			}

			// Again: nothing more changes.
			again, err := keys.Retire(ctx, st, sealer, kid, at.Add(time.Second))
			if err != nil || again != "" {
				t.Fatalf("second Retire = %q, %v; want no replacement", again, err)
			}
			if got := storedIDs(t, st); len(got) != len(after) {
				t.Fatalf("second Retire stored keys: %v → %v", after, got)
			}
			recs, err := st.ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.ID == kid && !r.ExpiresAt.Equal(at) {
					t.Errorf("stored expiry %v, want the first retirement's %v", r.ExpiresAt, at)
				}
			}
		})
	}
}

// TestRetireRefusals: an unknown kid, or a server secret that does not open
// the keys, changes nothing.
func TestRetireRefusals(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	st, sealer := keyStore(t, t0)
	kid := signerID(t, loaded(t, st, sealer), jose.ES256, t0)
	before, err := st.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := keys.Retire(ctx, st, sealer, "no-such-kid", t0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown kid: %v, want ErrNotFound", err)
	}
	wrong, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	if repl, err := keys.Retire(ctx, st, wrong, kid, t0); err == nil {
		t.Errorf("wrong server secret: replacement %q, no error", repl)
	}
	after, err := st.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(before, after, func(a, b storage.SigningKey) bool { return a.ID == b.ID && a.ExpiresAt.Equal(b.ExpiresAt) }) {
		t.Errorf("keys changed by refused retirements:\n%+v\n%+v", before, after)
	}
}

// TestList: every stored key with what it is used for.
func TestList(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	st, sealer := keyStore(t, t0)
	m := loaded(t, st, sealer)
	first, ed := signerID(t, m, jose.ES256, t0), signerID(t, m, jose.EdDSA, t0)
	kids, err := keys.Rotate(ctx, st, sealer, t0.Add(time.Hour), retireOpts, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	second := kids[0]
	at := t0.Add(time.Hour + time.Minute)
	repl, err := keys.Retire(ctx, st, sealer, first, at)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := keys.List(ctx, st, at)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]keys.KeyState{first: keys.StateExpired, ed: keys.StateSigning, second: keys.StateNext, repl: keys.StateSigning}
	if len(infos) != len(want) {
		t.Fatalf("List: %d keys, want %d: %+v", len(infos), len(want), infos)
	}
	for _, in := range infos {
		if in.State != want[in.ID] {
			t.Errorf("key %s (%s): state %q, want %q", in.ID, in.Algorithm, in.State, want[in.ID])
		}
	}
	// Once the successor signs, the replacement only verifies.
	infos, err = keys.List(ctx, st, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.ID == repl && in.State != keys.StatePublished {
			t.Errorf("replacement after the handover: %q, want %q", in.State, keys.StatePublished)
		}
	}
}
