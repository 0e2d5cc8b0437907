package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func newRefreshToken(id, family string, idle, abs time.Time) storage.RefreshToken {
	return storage.RefreshToken{
		ID: id, TokenHash: "hash-" + id, FamilyID: family, ClientID: "webapp", UserID: "u-alice",
		Scopes: []string{"openid", "offline_access"}, Audience: []string{"https://127.0.0.1:8001"},
		AuthTime: at(-time.Minute), AMR: []string{"pwd", "mfa"},
		IdleExpiresAt: idle, ExpiresAt: abs, CreatedAt: base,
	}
}

func testRefreshTokens(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	tok := newRefreshToken("rt-1", "fam-1", at(time.Hour), at(24*time.Hour))
	tok.DPoPJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	bare := newRefreshToken("rt-2", "fam-2", at(time.Hour), at(24*time.Hour))
	bare.Scopes, bare.Audience, bare.AMR, bare.AuthTime = []string{}, nil, []string{}, time.Time{}
	for _, r := range []storage.RefreshToken{tok, bare} {
		startFamily(t, s, r)
		got, err := s.GetRefreshToken(ctx, r.TokenHash)
		must(t, err, "GetRefreshToken "+r.ID)
		checkEqual(t, "GetRefreshToken "+r.ID, got, r)
	}
	_, err := s.GetRefreshToken(ctx, "hash-nobody")
	wantErr(t, err, storage.ErrNotFound, "GetRefreshToken unknown")
}

// testRotateRefreshToken: RFC 9700 §4.14.2, refresh token rotation: each
// refresh token is used once, and presenting a used one again is reuse, for
// which the whole grant is revoked.
func testRotateRefreshToken(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	abs := at(24 * time.Hour)
	first := newRefreshToken("rt-1", "fam-1", at(time.Hour), abs)
	startFamily(t, s, first)

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

	// A token of a revoked grant is refused like a used one.
	revoked := newRefreshToken("rt-r", "fam-r", at(time.Hour), abs)
	startFamily(t, s, revoked)
	must(t, s.RevokeGrant(ctx, "fam-r"), "RevokeGrant")
	old, err = s.RotateRefreshToken(ctx, revoked.TokenHash, newRefreshToken("rt-r-next", "fam-r", at(2*time.Hour), abs), at(time.Minute))
	wantErr(t, err, storage.ErrAlreadyUsed, "RotateRefreshToken of a revoked token")
	if old.ID != revoked.ID {
		t.Errorf("RotateRefreshToken of a revoked token returned %q, want %q", old.ID, revoked.ID)
	}
	_, err = s.GetRefreshToken(ctx, "hash-rt-r-next")
	wantErr(t, err, storage.ErrNotFound, "next token of a refused rotation")

	// Expired (idle or absolute; valid while now < expiry): ErrNotFound,
	// and the token stays unused.
	idle := newRefreshToken("rt-idle", "fam-i", at(time.Hour), abs)
	startFamily(t, s, idle)
	absolute := newRefreshToken("rt-abs", "fam-a", at(48*time.Hour), abs)
	startFamily(t, s, absolute)
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
		next := newRefreshToken(tc.tok.ID+"-next", tc.tok.FamilyID, at(72*time.Hour), abs)
		_, err = s.RotateRefreshToken(ctx, tc.tok.TokenHash, next, tc.now)
		wantErr(t, err, storage.ErrNotFound, "RotateRefreshToken "+tc.name)
		got, err := s.GetRefreshToken(ctx, tc.tok.TokenHash)
		must(t, err, "GetRefreshToken")
		if got.Used {
			t.Errorf("RotateRefreshToken %s marked the token used", tc.name)
		}
		_, err = s.GetRefreshToken(ctx, next.TokenHash)
		wantErr(t, err, storage.ErrNotFound, "next token of a refused rotation")
	}

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
		startFamily(t, s, old)
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

// testRevokeGrantRotateRace: a revocation of a grant racing rotations of
// its refresh token reaches every token of the family: either it comes
// first and the rotation is refused, or the token the rotation stored is
// revoked too. Each rotator goes on rotating what it got, so rotations
// keep running while the revocation does.
func testRevokeGrantRotateRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	const rounds, chain = 6, 4
	for round := range rounds {
		family := fmt.Sprint("fam-revoke-race-", round)
		first := newRefreshToken(family+"-first", family, at(time.Hour), at(24*time.Hour))
		startFamily(t, s, first)
		var stored [Racers][]storage.RefreshToken // the tokens each rotator stored
		errs := race(Racers, func(i int) error {
			if i == 0 {
				return s.RevokeGrant(ctx, family)
			}
			prev := first
			for link := range chain {
				next := newRefreshToken(fmt.Sprintf("%s-%d-%d", family, i, link), family, at(2*time.Hour), at(24*time.Hour))
				_, err := s.RotateRefreshToken(ctx, prev.TokenHash, next, at(time.Minute))
				if errors.Is(err, storage.ErrAlreadyUsed) {
					return nil // lost a race, or the grant is revoked
				}
				if err != nil {
					return err
				}
				stored[i] = append(stored[i], next)
				prev = next
			}
			return nil
		})
		for _, err := range errs {
			must(t, err, "RevokeGrant or RotateRefreshToken")
		}
		toks := []storage.RefreshToken{first}
		for _, l := range stored {
			toks = append(toks, l...)
		}
		for _, tok := range toks {
			got, err := s.GetRefreshToken(ctx, tok.TokenHash)
			must(t, err, "GetRefreshToken of a stored token")
			if !got.Revoked {
				t.Errorf("round %d: token %s, stored by a rotation racing RevokeGrant, is not revoked", round, tok.ID)
			}
		}
		g, err := s.GetGrant(ctx, family)
		must(t, err, "GetGrant")
		if !g.Revoked {
			t.Errorf("round %d: grant not revoked", round)
		}
	}
}

// testRevokedAccessTokens: the revoked list holds IDs; adding one again is
// not an error, concurrently neither.
func testRevokedAccessTokens(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	check := func(id string, want bool) {
		t.Helper()
		got, err := s.AccessTokenRevoked(ctx, id)
		must(t, err, "AccessTokenRevoked")
		if got != want {
			t.Errorf("AccessTokenRevoked(%q) = %v, want %v", id, got, want)
		}
	}
	check("jti-1", false)
	check("", false)
	must(t, s.RevokeAccessToken(ctx, "jti-1", at(time.Hour)), "RevokeAccessToken")
	must(t, s.RevokeAccessToken(ctx, "jti-1", at(time.Hour)), "RevokeAccessToken again")
	check("jti-1", true)
	check("jti-2", false)
	check("JTI-1", false) // IDs are compared exactly
	check("jti-1 ", false)

	for _, err := range race(Racers, func(int) error { return s.RevokeAccessToken(ctx, "jti-race", at(time.Hour)) }) {
		must(t, err, "racing RevokeAccessToken")
	}
	check("jti-race", true)
}

// testAccessTokenState: one read gives the token's place on the revoked
// list and the state of its grant and user, whichever of them exist; an
// empty grant or user ID finds nothing, even a record stored under the
// empty ID.
func testAccessTokenState(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, u := range []storage.User{
		{ID: "u-alice", Username: "alice", CreatedAt: base, UpdatedAt: base},
		{ID: "u-bob", Username: "bob", CreatedAt: base, UpdatedAt: base},
		{ID: "", Username: "empty-id", CreatedAt: base, UpdatedAt: base},
	} {
		must(t, s.CreateUser(ctx, u), "CreateUser "+u.Username)
	}
	must(t, s.SetUserDisabled(ctx, "u-bob", true, base), "SetUserDisabled")
	startGrant(t, s, newGrant("g-live", at(48*time.Hour)), nil)
	startGrant(t, s, newGrant("g-revoked", at(48*time.Hour)), nil)
	must(t, s.RevokeGrant(ctx, "g-revoked"), "RevokeGrant")
	bobs := newGrant("g-bob", at(48*time.Hour))
	bobs.ClientID, bobs.UserID = "third", "u-bob"
	startGrant(t, s, bobs, nil)
	startGrant(t, s, newGrant("", at(48*time.Hour)), nil)
	must(t, s.RevokeAccessToken(ctx, "jti-revoked", at(time.Hour)), "RevokeAccessToken")

	type state = storage.AccessTokenState
	live := state{GrantFound: true, GrantClientID: "webapp", GrantUserID: "u-alice"}
	liveAlice := state{GrantFound: true, GrantClientID: "webapp", GrantUserID: "u-alice", UserFound: true}
	alice := state{UserFound: true}
	for _, tc := range []struct {
		name                     string
		tokenID, grantID, userID string
		want                     state
	}{
		{"all present", "jti-1", "g-live", "u-alice", liveAlice},
		{"token revoked", "jti-revoked", "g-live", "u-alice",
			state{Revoked: true, GrantFound: true, GrantClientID: "webapp", GrantUserID: "u-alice", UserFound: true}},
		{"token revoked, no grant or user", "jti-revoked", "", "", state{Revoked: true}},
		{"token not revoked, no grant or user", "jti-1", "", "", state{}},
		{"grant revoked", "jti-1", "g-revoked", "u-alice",
			state{GrantFound: true, GrantRevoked: true, GrantClientID: "webapp", GrantUserID: "u-alice", UserFound: true}},
		{"grant missing", "jti-1", "g-nobody", "u-alice", alice},
		{"user missing", "jti-1", "g-live", "u-nobody", live},
		{"user disabled", "jti-1", "g-bob", "u-bob",
			state{GrantFound: true, GrantClientID: "third", GrantUserID: "u-bob", UserFound: true, UserDisabled: true}},
		{"nothing found", "jti-1", "g-nobody", "u-nobody", state{}},
		{"empty grant ID", "jti-1", "", "u-alice", alice},
		{"empty grant ID, token revoked", "jti-revoked", "", "u-alice", state{Revoked: true, UserFound: true}},
		{"empty user ID", "jti-1", "g-live", "", live},
		{"empty IDs", "", "", "", state{}},
		{"IDs compared exactly", "JTI-REVOKED", "G-LIVE", "U-ALICE", state{}},
		{"token ID compared exactly", "jti-revoked ", "g-live", "u-alice", liveAlice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AccessTokenState(ctx, tc.tokenID, tc.grantID, tc.userID)
			must(t, err, "AccessTokenState")
			if got != tc.want {
				t.Errorf("AccessTokenState(%q, %q, %q) = %+v, want %+v", tc.tokenID, tc.grantID, tc.userID, got, tc.want)
			}
		})
	}
}

func testDeleteExpiredTokens(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	before := at(time.Hour)
	live, later := at(2*time.Hour), at(24*time.Hour)
	var expired []storage.RefreshToken
	for _, r := range []storage.RefreshToken{
		newRefreshToken("rt-abs-expired", "fam-1", at(time.Minute), at(time.Minute)),
		newRefreshToken("rt-idle-expired", "fam-2", at(time.Minute), later),
		newRefreshToken("rt-abs-expired-2", "fam-3", at(-time.Minute), at(30*time.Minute)),
	} {
		startFamily(t, s, r)
		expired = append(expired, r)
	}
	liveToken := newRefreshToken("rt-live", "fam-live", live, later)
	startFamily(t, s, liveToken)
	for i := range 2 {
		must(t, s.RevokeAccessToken(ctx, fmt.Sprint("jti-expired-", i), at(time.Minute)), "RevokeAccessToken")
	}
	must(t, s.RevokeAccessToken(ctx, "jti-live", live), "RevokeAccessToken")
	must(t, s.RevokeAccessToken(ctx, "jti-at-cutoff", before), "RevokeAccessToken") // expired before: not at
	startGrant(t, s, newGrant("g-expired", at(30*time.Minute)), nil)
	startGrant(t, s, newGrant("g-live", live), nil)

	// 3 refresh tokens, 2 revoked IDs, 1 grant.
	for _, tc := range []struct{ limit, want int }{{0, 0}, {4, 4}, {4, 2}, {4, 0}} {
		n, err := s.DeleteExpiredTokens(ctx, before, tc.limit)
		must(t, err, "DeleteExpiredTokens")
		if n != tc.want {
			t.Errorf("DeleteExpiredTokens(limit %d) = %d, want %d", tc.limit, n, tc.want)
		}
	}
	for _, r := range expired {
		_, err := s.GetRefreshToken(ctx, r.TokenHash)
		wantErr(t, err, storage.ErrNotFound, "expired refresh token "+r.ID+" after DeleteExpiredTokens")
	}
	for _, tc := range []struct {
		id   string
		want bool
	}{{"jti-expired-0", false}, {"jti-expired-1", false}, {"jti-live", true}, {"jti-at-cutoff", true}} {
		got, err := s.AccessTokenRevoked(ctx, tc.id)
		must(t, err, "AccessTokenRevoked")
		if got != tc.want {
			t.Errorf("AccessTokenRevoked(%q) after DeleteExpiredTokens = %v, want %v", tc.id, got, tc.want)
		}
	}
	_, err := s.GetGrant(ctx, "g-expired")
	wantErr(t, err, storage.ErrNotFound, "expired grant after DeleteExpiredTokens")
	for _, id := range []string{"g-live", "fam-1", "fam-2", "fam-3", "fam-live"} {
		_, err = s.GetGrant(ctx, id)
		must(t, err, "live grant "+id+" after DeleteExpiredTokens")
	}
	_, err = s.GetRefreshToken(ctx, liveToken.TokenHash)
	must(t, err, "live refresh token after DeleteExpiredTokens")
}
