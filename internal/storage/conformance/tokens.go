package conformance

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func newAccessToken(id, family string, expiresAt time.Time) storage.AccessToken {
	return storage.AccessToken{
		ID: id, FamilyID: family, ClientID: "webapp", Subject: "u-alice",
		Audience: []string{"https://127.0.0.1:8001"}, Scopes: []string{"openid", "todos:read"},
		CreatedAt: base, ExpiresAt: expiresAt,
	}
}

func newRefreshToken(id, family string, idle, abs time.Time) storage.RefreshToken {
	return storage.RefreshToken{
		ID: id, TokenHash: "hash-" + id, FamilyID: family, ClientID: "webapp", UserID: "u-alice",
		Scopes: []string{"openid", "offline_access"}, Audience: []string{"https://127.0.0.1:8001"},
		AuthTime: at(-time.Minute), AMR: []string{"pwd", "mfa"},
		IdleExpiresAt: idle, ExpiresAt: abs, CreatedAt: base,
	}
}

func testAccessTokens(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	tok := newAccessToken("jti-1", "fam-1", at(time.Hour))
	empty := newAccessToken("jti-2", "fam-1", at(time.Hour))
	empty.Audience, empty.Scopes = []string{}, nil
	for _, a := range []storage.AccessToken{tok, empty} {
		must(t, s.CreateAccessToken(ctx, a), "CreateAccessToken "+a.ID)
		got, err := s.GetAccessToken(ctx, a.ID)
		must(t, err, "GetAccessToken "+a.ID)
		checkEqual(t, "GetAccessToken "+a.ID, got, a)
	}
	wantErr(t, s.CreateAccessToken(ctx, newAccessToken(tok.ID, "fam-2", base)), storage.ErrAlreadyExists, "CreateAccessToken same ID")
	_, err := s.GetAccessToken(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetAccessToken unknown")
	wantErr(t, s.RevokeAccessToken(ctx, "nobody"), storage.ErrNotFound, "RevokeAccessToken unknown")

	must(t, s.RevokeAccessToken(ctx, tok.ID), "RevokeAccessToken")
	must(t, s.RevokeAccessToken(ctx, tok.ID), "RevokeAccessToken twice")
	got, err := s.GetAccessToken(ctx, tok.ID)
	must(t, err, "GetAccessToken after RevokeAccessToken")
	want := tok
	want.Revoked = true
	checkEqual(t, "after RevokeAccessToken", got, want)
	got, err = s.GetAccessToken(ctx, empty.ID)
	must(t, err, "GetAccessToken of the other token")
	if got.Revoked {
		t.Error("RevokeAccessToken revoked another token too")
	}
}

func testRefreshTokens(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	tok := newRefreshToken("rt-1", "fam-1", at(time.Hour), at(24*time.Hour))
	bare := newRefreshToken("rt-2", "fam-2", at(time.Hour), at(24*time.Hour))
	bare.Scopes, bare.Audience, bare.AMR, bare.AuthTime = []string{}, nil, []string{}, time.Time{}
	for _, r := range []storage.RefreshToken{tok, bare} {
		must(t, s.CreateRefreshToken(ctx, r), "CreateRefreshToken "+r.ID)
		got, err := s.GetRefreshToken(ctx, r.TokenHash)
		must(t, err, "GetRefreshToken "+r.ID)
		checkEqual(t, "GetRefreshToken "+r.ID, got, r)
	}
	sameID := newRefreshToken(tok.ID, "fam-3", at(time.Hour), at(time.Hour))
	sameID.TokenHash = "hash-other"
	sameHash := newRefreshToken("rt-3", "fam-3", at(time.Hour), at(time.Hour))
	sameHash.TokenHash = tok.TokenHash
	wantErr(t, s.CreateRefreshToken(ctx, sameID), storage.ErrAlreadyExists, "CreateRefreshToken same ID")
	wantErr(t, s.CreateRefreshToken(ctx, sameHash), storage.ErrAlreadyExists, "CreateRefreshToken same hash")
	_, err := s.GetRefreshToken(ctx, "hash-nobody")
	wantErr(t, err, storage.ErrNotFound, "GetRefreshToken unknown")
}

// testRotateRefreshToken: RFC 9700 §4.14.2, refresh token rotation: each
// refresh token is used once, and presenting a used one again is reuse, for
// which the whole family is revoked.
func testRotateRefreshToken(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	abs := at(24 * time.Hour)
	first := newRefreshToken("rt-1", "fam-1", at(time.Hour), abs)
	must(t, s.CreateRefreshToken(ctx, first), "CreateRefreshToken")

	second := newRefreshToken("rt-2", "fam-1", at(2*time.Hour), abs)
	second.CreatedAt = at(time.Minute)
	old, err := s.RotateRefreshToken(ctx, first.TokenHash, second, at(time.Minute))
	must(t, err, "RotateRefreshToken")
	wantOld := first
	wantOld.Used = true
	checkEqual(t, "RotateRefreshToken's returned old token", old, wantOld)
	got, err := s.GetRefreshToken(ctx, first.TokenHash)
	must(t, err, "GetRefreshToken old")
	checkEqual(t, "old token after rotation", got, wantOld)
	got, err = s.GetRefreshToken(ctx, second.TokenHash)
	must(t, err, "GetRefreshToken next")
	checkEqual(t, "next token after rotation", got, second)

	// Reuse of the first link: ErrAlreadyUsed with the old record, and
	// nothing stored.
	third := newRefreshToken("rt-3", "fam-1", at(3*time.Hour), abs)
	old, err = s.RotateRefreshToken(ctx, first.TokenHash, third, at(2*time.Minute))
	wantErr(t, err, storage.ErrAlreadyUsed, "RotateRefreshToken of a used token")
	if old.ID != first.ID || old.FamilyID != "fam-1" {
		t.Errorf("RotateRefreshToken of a used token returned %q of family %q, want %q of fam-1", old.ID, old.FamilyID, first.ID)
	}
	_, err = s.GetRefreshToken(ctx, third.TokenHash)
	wantErr(t, err, storage.ErrNotFound, "next token of a refused rotation")

	_, err = s.RotateRefreshToken(ctx, "hash-nobody", third, at(2*time.Minute))
	wantErr(t, err, storage.ErrNotFound, "RotateRefreshToken unknown")

	// A revoked token is refused like a used one.
	revoked := newRefreshToken("rt-r", "fam-r", at(time.Hour), abs)
	must(t, s.CreateRefreshToken(ctx, revoked), "CreateRefreshToken")
	must(t, s.RevokeFamily(ctx, "fam-r"), "RevokeFamily")
	old, err = s.RotateRefreshToken(ctx, revoked.TokenHash, third, at(time.Minute))
	wantErr(t, err, storage.ErrAlreadyUsed, "RotateRefreshToken of a revoked token")
	if old.ID != revoked.ID {
		t.Errorf("RotateRefreshToken of a revoked token returned %q, want %q", old.ID, revoked.ID)
	}

	// Expired (idle or absolute; valid while now < expiry): ErrNotFound,
	// and the token stays unused.
	idle := newRefreshToken("rt-idle", "fam-i", at(time.Hour), abs)
	must(t, s.CreateRefreshToken(ctx, idle), "CreateRefreshToken")
	absolute := newRefreshToken("rt-abs", "fam-a", at(48*time.Hour), abs)
	must(t, s.CreateRefreshToken(ctx, absolute), "CreateRefreshToken")
	for _, tc := range []struct {
		name string
		tok  storage.RefreshToken
		now  time.Time
	}{
		{"at idle expiry", idle, at(time.Hour)},
		{"after idle expiry", idle, at(2 * time.Hour)},
		{"at absolute expiry", absolute, abs},
		{"after absolute expiry", absolute, abs.Add(time.Hour)},
	} {
		_, err = s.RotateRefreshToken(ctx, tc.tok.TokenHash, third, tc.now)
		wantErr(t, err, storage.ErrNotFound, "RotateRefreshToken "+tc.name)
		got, err := s.GetRefreshToken(ctx, tc.tok.TokenHash)
		must(t, err, "GetRefreshToken")
		if got.Used {
			t.Errorf("RotateRefreshToken %s marked the token used", tc.name)
		}
	}
	_, err = s.GetRefreshToken(ctx, third.TokenHash)
	wantErr(t, err, storage.ErrNotFound, "next token of a refused rotation")

	// A next token that cannot be stored undoes the whole rotation.
	clash := newRefreshToken("rt-clash", "fam-1", at(3*time.Hour), abs)
	clash.TokenHash = first.TokenHash
	_, err = s.RotateRefreshToken(ctx, second.TokenHash, clash, at(3*time.Minute))
	wantErr(t, err, storage.ErrAlreadyExists, "RotateRefreshToken to a taken hash")
	got, err = s.GetRefreshToken(ctx, second.TokenHash)
	must(t, err, "GetRefreshToken")
	if got.Used {
		t.Error("a failed RotateRefreshToken left the old token marked used")
	}
	_, err = s.RotateRefreshToken(ctx, second.TokenHash, third, at(3*time.Minute))
	must(t, err, "RotateRefreshToken after a failed one")
}

func testRotateRefreshTokenRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for round := range 3 {
		family := fmt.Sprint("fam-race-", round)
		old := newRefreshToken(fmt.Sprint("rt-race-", round), family, at(time.Hour), at(24*time.Hour))
		must(t, s.CreateRefreshToken(ctx, old), "CreateRefreshToken")
		nexts := make([]storage.RefreshToken, Racers)
		for i := range nexts {
			nexts[i] = newRefreshToken(fmt.Sprintf("rt-race-%d-next-%d", round, i), family, at(2*time.Hour), at(24*time.Hour))
		}
		errs := race(Racers, func(i int) error {
			got, err := s.RotateRefreshToken(ctx, old.TokenHash, nexts[i], at(time.Minute))
			if errors.Is(err, storage.ErrAlreadyUsed) && got.ID != old.ID {
				return fmt.Errorf("ErrAlreadyUsed with token %q, want %q", got.ID, old.ID)
			}
			return err
		})
		wins := 0
		for i, err := range errs {
			_, getErr := s.GetRefreshToken(ctx, nexts[i].TokenHash)
			switch {
			case err == nil:
				wins++
				must(t, getErr, "GetRefreshToken of the winner's next token")
			case errors.Is(err, storage.ErrAlreadyUsed):
				wantErr(t, getErr, storage.ErrNotFound, "GetRefreshToken of a loser's next token")
			default:
				t.Errorf("round %d: RotateRefreshToken: %v, want nil or ErrAlreadyUsed", round, err)
			}
		}
		if wins != 1 {
			t.Errorf("round %d: %d of %d racing RotateRefreshToken calls won, want exactly 1", round, wins, Racers)
		}
	}
}

func testRevokeFamily(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for i := range 3 {
		must(t, s.CreateRefreshToken(ctx, newRefreshToken(fmt.Sprint("rt-f-", i), "fam-f", at(time.Hour), at(24*time.Hour))), "CreateRefreshToken")
		must(t, s.CreateAccessToken(ctx, newAccessToken(fmt.Sprint("at-f-", i), "fam-f", at(time.Hour))), "CreateAccessToken")
	}
	must(t, s.CreateRefreshToken(ctx, newRefreshToken("rt-g", "fam-g", at(time.Hour), at(24*time.Hour))), "CreateRefreshToken")
	must(t, s.CreateAccessToken(ctx, newAccessToken("at-g", "fam-g", at(time.Hour))), "CreateAccessToken")

	must(t, s.RevokeFamily(ctx, "fam-f"), "RevokeFamily")
	must(t, s.RevokeFamily(ctx, "fam-f"), "RevokeFamily twice")
	must(t, s.RevokeFamily(ctx, "fam-none"), "RevokeFamily of an empty family")
	for i := range 3 {
		rt, err := s.GetRefreshToken(ctx, fmt.Sprint("hash-rt-f-", i))
		must(t, err, "GetRefreshToken")
		acc, err := s.GetAccessToken(ctx, fmt.Sprint("at-f-", i))
		must(t, err, "GetAccessToken")
		if !rt.Revoked || !acc.Revoked {
			t.Errorf("after RevokeFamily: refresh token %d revoked = %v, access token revoked = %v; want both", i, rt.Revoked, acc.Revoked)
		}
	}
	rt, err := s.GetRefreshToken(ctx, "hash-rt-g")
	must(t, err, "GetRefreshToken")
	acc, err := s.GetAccessToken(ctx, "at-g")
	must(t, err, "GetAccessToken")
	if rt.Revoked || acc.Revoked {
		t.Error("RevokeFamily revoked tokens of another family")
	}
}

func testDeleteExpiredTokens(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	before := at(time.Hour)
	live, later := at(2*time.Hour), at(24*time.Hour)
	expired := []string{}
	for i := range 2 {
		id := fmt.Sprint("at-expired-", i)
		must(t, s.CreateAccessToken(ctx, newAccessToken(id, "fam", at(time.Minute))), "CreateAccessToken")
		expired = append(expired, "access "+id)
	}
	must(t, s.CreateAccessToken(ctx, newAccessToken("at-live", "fam", live)), "CreateAccessToken")
	for i, r := range []storage.RefreshToken{
		newRefreshToken("rt-abs-expired", "fam", at(time.Minute), at(time.Minute)),
		newRefreshToken("rt-idle-expired", "fam", at(time.Minute), later),
		newRefreshToken("rt-abs-expired-2", "fam", at(-time.Minute), at(30*time.Minute)),
	} {
		must(t, s.CreateRefreshToken(ctx, r), fmt.Sprint("CreateRefreshToken ", i))
		expired = append(expired, "refresh "+r.ID)
	}
	must(t, s.CreateRefreshToken(ctx, newRefreshToken("rt-live", "fam", live, later)), "CreateRefreshToken")

	for _, tc := range []struct{ limit, want int }{{0, 0}, {3, 3}, {3, 2}, {3, 0}} {
		n, err := s.DeleteExpiredTokens(ctx, before, tc.limit)
		must(t, err, "DeleteExpiredTokens")
		if n != tc.want {
			t.Errorf("DeleteExpiredTokens(limit %d) = %d, want %d", tc.limit, n, tc.want)
		}
	}
	for _, e := range expired {
		var err error
		if id, ok := strings.CutPrefix(e, "access "); ok {
			_, err = s.GetAccessToken(ctx, id)
		} else {
			id, _ := strings.CutPrefix(e, "refresh ")
			_, err = s.GetRefreshToken(ctx, "hash-"+id)
		}
		wantErr(t, err, storage.ErrNotFound, "expired "+e+" after DeleteExpiredTokens")
	}
	_, err := s.GetAccessToken(ctx, "at-live")
	must(t, err, "live access token after DeleteExpiredTokens")
	_, err = s.GetRefreshToken(ctx, "hash-rt-live")
	must(t, err, "live refresh token after DeleteExpiredTokens")
}
