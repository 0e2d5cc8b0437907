package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// testReplays: a value is accepted once until it expires, then once again.
func testReplays(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	expires := at(time.Minute)
	must(t, s.UseOnce(ctx, "jti-1", expires, base), "UseOnce")
	wantErr(t, s.UseOnce(ctx, "jti-1", at(time.Hour), at(30*time.Second)), storage.ErrAlreadyUsed, "UseOnce again")
	wantErr(t, s.UseOnce(ctx, "jti-1", at(time.Hour), at(time.Minute-time.Microsecond)), storage.ErrAlreadyUsed,
		"UseOnce just before it expires")
	must(t, s.UseOnce(ctx, "jti-2", expires, base), "UseOnce of another key")
	// Keys are exact: no case folding, no trailing-space padding.
	for _, k := range []string{"JTI-1", "jti-1 "} {
		must(t, s.UseOnce(ctx, k, expires, base), fmt.Sprintf("UseOnce(%q)", k))
	}
	// Expired, the value is accepted once more, and then held until its
	// new expiry.
	must(t, s.UseOnce(ctx, "jti-1", at(2*time.Minute), at(time.Minute)), "UseOnce after expiry")
	wantErr(t, s.UseOnce(ctx, "jti-1", at(3*time.Minute), at(90*time.Second)), storage.ErrAlreadyUsed,
		"UseOnce after the revival")
}

// testReplaysRace: of racing uses of one value, new or expired, one
// succeeds.
func testReplaysRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	must(t, s.UseOnce(ctx, "expired", at(time.Minute), base), "UseOnce")
	for _, key := range []string{"new", "expired"} {
		const n = 8
		wins := 0
		for i, err := range race(n, func(int) error {
			return s.UseOnce(ctx, key, at(time.Hour), at(2*time.Minute))
		}) {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, storage.ErrAlreadyUsed):
				t.Errorf("%s: racer %d: %v, want nil or ErrAlreadyUsed", key, i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%s: %d of %d racers used the value, want 1", key, wins, n)
		}
	}
}

// testDeleteExpiredReplays removes expired values only, within the limit;
// a removed value can be used again.
func testDeleteExpiredReplays(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for i := range 3 {
		must(t, s.UseOnce(ctx, fmt.Sprint("old-", i), at(time.Minute), base), "UseOnce")
	}
	must(t, s.UseOnce(ctx, "live", at(2*time.Hour), base), "UseOnce")
	for _, tc := range []struct{ limit, want int }{{0, 0}, {2, 2}, {2, 1}, {2, 0}} {
		n, err := s.DeleteExpiredReplays(ctx, at(time.Hour), tc.limit)
		must(t, err, "DeleteExpiredReplays")
		if n != tc.want {
			t.Errorf("DeleteExpiredReplays(limit %d) = %d, want %d", tc.limit, n, tc.want)
		}
	}
	wantErr(t, s.UseOnce(ctx, "live", at(3*time.Hour), at(time.Hour)), storage.ErrAlreadyUsed, "the live value after the sweep")
	must(t, s.UseOnce(ctx, "old-0", at(3*time.Hour), base), "a removed value used again")
}
