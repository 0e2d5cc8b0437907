package conformance

import (
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
