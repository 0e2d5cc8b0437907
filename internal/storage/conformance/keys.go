package conformance

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func testKeys(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	keys, err := s.ListKeys(ctx)
	must(t, err, "ListKeys")
	if len(keys) != 0 {
		t.Fatalf("ListKeys of an empty store returned %d keys", len(keys))
	}
	newKey := func(id string, created time.Time) storage.SigningKey {
		return storage.SigningKey{ID: id, Algorithm: "ES256",
			PrivateKey: []byte{0x00, 0xff, 0x10, 'k', 0x00, byte(len(id))}, // arbitrary bytes, NULs included
			PublicKey:  []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `"}`),
			CreatedAt:  created, NotBefore: created.Add(10 * time.Minute)}
	}
	k2 := newKey("k2", at(2*time.Hour))
	k1 := newKey("k1", at(time.Hour))
	k1.ExpiresAt = at(48 * time.Hour)
	k3 := newKey("k3", at(3*time.Hour))
	for _, k := range []storage.SigningKey{k2, k1, k3} {
		must(t, s.CreateKey(ctx, k), "CreateKey "+k.ID)
	}
	wantErr(t, s.CreateKey(ctx, newKey("k1", base)), storage.ErrAlreadyExists, "CreateKey same ID")
	keys, err = s.ListKeys(ctx)
	must(t, err, "ListKeys")
	checkEqual(t, "ListKeys (ordered by CreatedAt)", keys, []storage.SigningKey{k1, k2, k3})

	must(t, s.SetKeyExpiry(ctx, k2.ID, at(24*time.Hour)), "SetKeyExpiry")
	wantErr(t, s.SetKeyExpiry(ctx, "nobody", at(time.Hour)), storage.ErrNotFound, "SetKeyExpiry unknown")
	k2.ExpiresAt = at(24 * time.Hour)

	for _, tc := range []struct {
		before time.Time
		want   int
		left   []storage.SigningKey
	}{
		{at(24 * time.Hour), 0, []storage.SigningKey{k1, k2, k3}}, // expiry not before
		{at(25 * time.Hour), 1, []storage.SigningKey{k1, k3}},
		{at(1000 * time.Hour), 1, []storage.SigningKey{k3}}, // k3 has no expiry
	} {
		n, err := s.DeleteExpiredKeys(ctx, tc.before)
		must(t, err, "DeleteExpiredKeys")
		if n != tc.want {
			t.Errorf("DeleteExpiredKeys(base+%v) = %d, want %d", tc.before.Sub(base), n, tc.want)
		}
		keys, err = s.ListKeys(ctx)
		must(t, err, "ListKeys")
		checkEqual(t, "ListKeys after DeleteExpiredKeys", keys, tc.left)
	}
}

func signingKey(id, alg string, created, notBefore, expires time.Time) storage.SigningKey {
	return storage.SigningKey{ID: id, Algorithm: alg, PrivateKey: []byte("sealed " + id),
		PublicKey: []byte(`{"kid":"` + id + `"}`), CreatedAt: created, NotBefore: notBefore, ExpiresAt: expires}
}

// testCreateKeyIfNoSigner: a key is stored only when no key of its
// algorithm can sign at the given time; keys of other algorithms, keys that
// sign only later and keys that have expired do not count.
func testCreateKeyIfNoSigner(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	pending := signingKey("pending", "ES256", base, at(10*time.Minute), time.Time{})
	retiring := signingKey("retiring", "ES256", at(-time.Hour), at(-time.Hour), at(time.Minute))
	must(t, s.CreateKey(ctx, pending), "CreateKey pending")
	must(t, s.CreateKey(ctx, retiring), "CreateKey retiring")
	stored := []storage.SigningKey{retiring, pending}
	for _, tc := range []struct {
		name    string
		key     storage.SigningKey
		now     time.Time
		created bool
	}{
		{"a key signs", signingKey("es-1", "ES256", base, base, time.Time{}), base, false},
		{"other algorithm", signingKey("rs-1", "RS256", base, base, time.Time{}), base, true},
		{"same algorithm again", signingKey("rs-2", "RS256", at(time.Second), at(time.Second), time.Time{}), at(time.Second), false},
		{"signer expires at now", signingKey("es-2", "ES256", at(time.Minute), at(time.Minute), time.Time{}), at(time.Minute), true},
		{"a later key signs", signingKey("es-3", "ES256", at(10*time.Minute), at(10*time.Minute), time.Time{}), at(10 * time.Minute), false},
	} {
		created, err := s.CreateKeyIfNoSigner(ctx, tc.key, tc.now)
		must(t, err, "CreateKeyIfNoSigner "+tc.name)
		if created != tc.created {
			t.Errorf("%s: CreateKeyIfNoSigner = %v, want %v", tc.name, created, tc.created)
		}
		if created {
			stored = append(stored, tc.key)
		}
	}
	keys, err := s.ListKeys(ctx)
	must(t, err, "ListKeys")
	checkEqual(t, "ListKeys after CreateKeyIfNoSigner", keys, stored) // in order of creation
	dup := signingKey("es-2", "EdDSA", base, base, time.Time{})
	_, err = s.CreateKeyIfNoSigner(ctx, dup, base)
	wantErr(t, err, storage.ErrAlreadyExists, "CreateKeyIfNoSigner with a taken ID")
}

// testCreateKeyIfNoSignerRace: of callers racing to create the first key
// of an algorithm, exactly one stores its key.
func testCreateKeyIfNoSignerRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	var mu sync.Mutex
	var winners []string
	errs := race(Racers, func(i int) error {
		k := signingKey(fmt.Sprint("first-", i), "ES256", base, base, time.Time{})
		created, err := s.CreateKeyIfNoSigner(ctx, k, base)
		if created {
			mu.Lock()
			winners = append(winners, k.ID)
			mu.Unlock()
		}
		return err
	})
	for _, err := range errs {
		must(t, err, "CreateKeyIfNoSigner")
	}
	if len(winners) != 1 {
		t.Fatalf("%d racing callers stored their key (%v), want exactly 1", len(winners), winners)
	}
	keys, err := s.ListKeys(ctx)
	must(t, err, "ListKeys")
	if len(keys) != 1 || keys[0].ID != winners[0] {
		t.Fatalf("stored keys after the race: %d, want only the winner %s", len(keys), winners[0])
	}
}
