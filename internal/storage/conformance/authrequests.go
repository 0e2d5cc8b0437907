package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func newAuthRequest(id string, expiresAt time.Time) storage.AuthRequest {
	return storage.AuthRequest{
		ID: id, ClientID: "webapp", RedirectURI: "https://127.0.0.1:5000/callback",
		State: "state-" + id, Nonce: "nonce-" + id, Scopes: []string{"openid", "profile"},
		ResponseType: "code", ResponseMode: "query",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		CreatedAt: base, ExpiresAt: expiresAt,
	}
}

func testAuthRequests(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	maxAge := 300 * time.Second
	full := newAuthRequest("ar-full", at(10*time.Minute))
	full.Prompt = []string{"login", "consent"}
	full.MaxAge = &maxAge
	full.LoginHint = "alice"
	full.DPoPJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	full.Resource = "https://api.example/reports"
	// Requests are stored once the person has signed in.
	authTime := at(30 * time.Second)
	full.UserID, full.AuthTime, full.AMR, full.Done = "u-alice", authTime, []string{"pwd"}, true
	bare := newAuthRequest("ar-bare", at(10*time.Minute))
	bare.Scopes = []string{}
	for _, r := range []storage.AuthRequest{full, bare} {
		must(t, s.CreateAuthRequest(ctx, r), "CreateAuthRequest "+r.ID)
		got, err := s.GetAuthRequest(ctx, r.ID)
		must(t, err, "GetAuthRequest "+r.ID)
		checkEqual(t, "GetAuthRequest "+r.ID, got, r)
	}
	wantErr(t, s.CreateAuthRequest(ctx, newAuthRequest(full.ID, base)), storage.ErrAlreadyExists, "CreateAuthRequest same ID")
	_, err := s.GetAuthRequest(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequest unknown")

	must(t, s.SetAuthCode(ctx, full.ID, "code-hash-1", at(time.Minute)), "SetAuthCode")
	// A request's code is never replaced: the code issued first stays the
	// one that finds it (checked below).
	for _, hash := range []string{"code-hash-2", "code-hash-1"} {
		wantErr(t, s.SetAuthCode(ctx, full.ID, hash, at(2*time.Minute)), storage.ErrNotFound,
			"SetAuthCode "+hash+" on a request that has a code")
	}
	_, err = s.GetAuthRequestByCode(ctx, "code-hash-2")
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequestByCode of a code refused by SetAuthCode")
	wantErr(t, s.SetAuthCode(ctx, "nobody", "code-hash-x", at(time.Minute)), storage.ErrNotFound, "SetAuthCode unknown")
	wantErr(t, s.SetAuthCode(ctx, bare.ID, "code-hash-1", at(time.Minute)), storage.ErrAlreadyExists, "SetAuthCode with another request's code")

	want := full
	want.CodeHash, want.ExpiresAt = "code-hash-1", at(time.Minute)
	got, err := s.GetAuthRequest(ctx, full.ID)
	must(t, err, "GetAuthRequest after SetAuthCode")
	checkEqual(t, "GetAuthRequest after SetAuthCode", got, want)
	got, err = s.GetAuthRequestByCode(ctx, "code-hash-1")
	must(t, err, "GetAuthRequestByCode")
	checkEqual(t, "GetAuthRequestByCode", got, want)
	_, err = s.GetAuthRequestByCode(ctx, "code-hash-unknown")
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequestByCode unknown")
	_, err = s.GetAuthRequestByCode(ctx, "")
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequestByCode with no code")
}

// issueCode stores a completed request whose code expires at expiresAt.
func issueCode(t *testing.T, s storage.Store, id, codeHash string, expiresAt time.Time) {
	t.Helper()
	ctx := ctxFor(t)
	r := newAuthRequest(id, at(10*time.Minute))
	r.UserID, r.AuthTime, r.AMR, r.Done = "u-alice", base, []string{"pwd"}, true
	must(t, s.CreateAuthRequest(ctx, r), "CreateAuthRequest")
	must(t, s.SetAuthCode(ctx, id, codeHash, expiresAt), "SetAuthCode")
}

// newGrant returns the grant of request id: u-alice's, at webapp.
func newGrant(id string, expiresAt time.Time) storage.Grant {
	return storage.Grant{ID: id, ClientID: "webapp", UserID: "u-alice", CreatedAt: base, ExpiresAt: expiresAt}
}

// startGrant issues a code for a new request g.ID and redeems it at base,
// storing g and, when first is not nil, its first refresh token.
func startGrant(t *testing.T, s storage.Store, g storage.Grant, first *storage.RefreshToken) {
	t.Helper()
	issueCode(t, s, g.ID, "code-"+g.ID, at(time.Minute))
	_, err := s.RedeemAuthCode(ctxFor(t), "code-"+g.ID, base, g, first)
	must(t, err, "RedeemAuthCode of "+g.ID)
}

// startFamily starts a grant of u-alice at webapp whose refresh family
// begins with first (first.FamilyID is the grant's ID).
func startFamily(t *testing.T, s storage.Store, first storage.RefreshToken) {
	t.Helper()
	startGrant(t, s, newGrant(first.FamilyID, at(48*time.Hour)), &first)
}

// testRedeemAuthCode: RFC 6749 §4.1.2, the client MUST NOT use the
// authorization code more than once; the one exchange stores the grant and
// its first refresh token, and a second use is recognised (with the
// request, so its grant can be revoked) and stores nothing.
func testRedeemAuthCode(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	issueCode(t, s, "ar-1", "code-1", at(time.Minute))
	g := newGrant("ar-1", at(48*time.Hour))
	first := newRefreshToken("rt-1", "ar-1", at(time.Hour), at(24*time.Hour))

	got, err := s.RedeemAuthCode(ctx, "code-1", base, g, &first)
	must(t, err, "RedeemAuthCode")
	if got.ID != "ar-1" || !got.CodeUsed || got.UserID != "u-alice" {
		t.Errorf("RedeemAuthCode returned %+v, want request ar-1, used, of u-alice", got)
	}
	gotGrant, err := s.GetGrant(ctx, g.ID)
	must(t, err, "GetGrant")
	checkEqual(t, "GetGrant after RedeemAuthCode", gotGrant, g)
	gotFirst, err := s.GetRefreshToken(ctx, first.TokenHash)
	must(t, err, "GetRefreshToken")
	checkEqual(t, "first refresh token after RedeemAuthCode", gotFirst, first)

	for i, now := range []time.Time{base, at(time.Second), at(time.Hour)} {
		other := g
		other.UserID, other.CreatedAt = "u-mallory", now
		again := newRefreshToken(fmt.Sprint("rt-again-", i), "ar-1", at(2*time.Hour), at(24*time.Hour))
		got, err = s.RedeemAuthCode(ctx, "code-1", now, other, &again)
		wantErr(t, err, storage.ErrAlreadyUsed, fmt.Sprintf("RedeemAuthCode again (%d)", i))
		if got.ID != "ar-1" {
			t.Errorf("RedeemAuthCode again returned request %q, want ar-1 with ErrAlreadyUsed", got.ID)
		}
		_, err = s.GetRefreshToken(ctx, again.TokenHash)
		wantErr(t, err, storage.ErrNotFound, "refresh token of a refused RedeemAuthCode")
	}
	gotGrant, err = s.GetGrant(ctx, g.ID)
	must(t, err, "GetGrant")
	checkEqual(t, "grant after refused RedeemAuthCode calls", gotGrant, g)
	stored, err := s.GetAuthRequest(ctx, "ar-1")
	must(t, err, "GetAuthRequest")
	if !stored.CodeUsed {
		t.Error("GetAuthRequest after RedeemAuthCode: CodeUsed = false")
	}

	_, err = s.RedeemAuthCode(ctx, "code-unknown", base, newGrant("ar-unknown", at(time.Hour)), nil)
	wantErr(t, err, storage.ErrNotFound, "RedeemAuthCode unknown")
	_, err = s.RedeemAuthCode(ctx, "", base, newGrant("ar-unknown", at(time.Hour)), nil)
	wantErr(t, err, storage.ErrNotFound, "RedeemAuthCode empty")

	// A code is valid while now < ExpiresAt; an expired one stores nothing.
	issueCode(t, s, "ar-2", "code-2", at(time.Minute))
	g2 := newGrant("ar-2", at(48*time.Hour))
	first2 := newRefreshToken("rt-2", "ar-2", at(time.Hour), at(24*time.Hour))
	for _, now := range []time.Time{at(time.Minute), at(time.Hour)} {
		_, err = s.RedeemAuthCode(ctx, "code-2", now, g2, &first2)
		wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("RedeemAuthCode at base+%v, expiry base+1m", now.Sub(base)))
		_, err = s.GetGrant(ctx, g2.ID)
		wantErr(t, err, storage.ErrNotFound, "grant of an expired code")
		_, err = s.GetRefreshToken(ctx, first2.TokenHash)
		wantErr(t, err, storage.ErrNotFound, "refresh token of an expired code")
	}
	// Without a refresh token: the grant alone.
	_, err = s.RedeemAuthCode(ctx, "code-2", at(time.Minute-time.Microsecond), g2, nil)
	must(t, err, "RedeemAuthCode just before expiry, without a refresh token")
	gotGrant, err = s.GetGrant(ctx, g2.ID)
	must(t, err, "GetGrant")
	checkEqual(t, "grant redeemed without a refresh token", gotGrant, g2)
	_, err = s.GetRefreshToken(ctx, first2.TokenHash)
	wantErr(t, err, storage.ErrNotFound, "refresh token not handed to RedeemAuthCode")
}

// testRedeemAuthCodeRace: of racing exchanges of one code exactly one wins;
// each loser returns only once the winner's grant is committed, so that a
// loser's revocation of the grant (what a replayed code triggers) reaches
// the refresh token the winner issued.
func testRedeemAuthCodeRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for round := range 3 {
		id, code := fmt.Sprint("ar-race-", round), fmt.Sprint("code-race-", round)
		issueCode(t, s, id, code, at(time.Minute))
		firsts := make([]storage.RefreshToken, Racers)
		grants := make([]storage.Grant, Racers)
		for i := range Racers {
			firsts[i] = newRefreshToken(fmt.Sprintf("rt-race-%d-%d", round, i), id, at(time.Hour), at(24*time.Hour))
			grants[i] = newGrant(id, at(48*time.Hour))
			grants[i].CreatedAt = at(time.Duration(i) * time.Second) // tells the winner's grant apart
		}
		results := make([]storage.AuthRequest, Racers)
		errs := race(Racers, func(i int) error {
			var err error
			results[i], err = s.RedeemAuthCode(ctx, code, base, grants[i], &firsts[i])
			if !errors.Is(err, storage.ErrAlreadyUsed) {
				return err
			}
			// What a server does when a used code comes back.
			if _, getErr := s.GetGrant(ctx, id); getErr != nil {
				return fmt.Errorf("GetGrant right after ErrAlreadyUsed: %w (the winner's grant is not committed yet)", getErr)
			}
			if revErr := s.RevokeGrant(ctx, id); revErr != nil {
				return fmt.Errorf("RevokeGrant after ErrAlreadyUsed: %w", revErr)
			}
			return err
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("round %d: racers %d and %d both won", round, winner, i)
				}
				winner = i
			case errors.Is(err, storage.ErrAlreadyUsed):
				if results[i].ID != id {
					t.Errorf("round %d: a loser got request %q with ErrAlreadyUsed, want %q", round, results[i].ID, id)
				}
			default:
				t.Errorf("round %d: RedeemAuthCode: %v, want nil or ErrAlreadyUsed", round, err)
			}
		}
		if winner < 0 {
			t.Errorf("round %d: none of %d racing RedeemAuthCode calls won, want exactly 1", round, Racers)
			continue
		}
		g, err := s.GetGrant(ctx, id)
		must(t, err, "GetGrant")
		want := grants[winner]
		want.Revoked = true
		checkEqual(t, fmt.Sprintf("round %d: the grant after the race", round), g, want)
		for i, first := range firsts {
			got, err := s.GetRefreshToken(ctx, first.TokenHash)
			switch {
			case i != winner:
				wantErr(t, err, storage.ErrNotFound, "a loser's first refresh token")
			case err != nil:
				t.Errorf("round %d: the winner's refresh token: %v", round, err)
			case !got.Revoked:
				t.Errorf("round %d: the winner's refresh token is not revoked after the losers revoked the grant", round)
			}
		}
	}
}

// testRedeemAuthCodeFailure: an exchange that cannot store what it issues
// writes nothing: the code stays unused, and no grant is stored.
func testRedeemAuthCodeFailure(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	taken := newRefreshToken("rt-taken", "ar-taken", at(time.Hour), at(24*time.Hour))
	startFamily(t, s, taken)

	issueCode(t, s, "ar-fail", "code-fail", at(time.Minute))
	g := newGrant("ar-fail", at(48*time.Hour))
	sameHash := newRefreshToken("rt-fail", "ar-fail", at(time.Hour), at(24*time.Hour))
	sameHash.TokenHash = taken.TokenHash
	sameID := newRefreshToken(taken.ID, "ar-fail", at(time.Hour), at(24*time.Hour))
	sameID.TokenHash = "hash-rt-fail"
	for _, tc := range []struct {
		name  string
		first storage.RefreshToken
	}{{"a taken refresh token hash", sameHash}, {"a taken refresh token ID", sameID}} {
		_, err := s.RedeemAuthCode(ctx, "code-fail", base, g, &tc.first)
		wantErr(t, err, storage.ErrAlreadyExists, "RedeemAuthCode with "+tc.name)
		a, err := s.GetAuthRequest(ctx, "ar-fail")
		must(t, err, "GetAuthRequest")
		if a.CodeUsed {
			t.Errorf("RedeemAuthCode with %s left the code used", tc.name)
		}
		_, err = s.GetGrant(ctx, g.ID)
		wantErr(t, err, storage.ErrNotFound, "grant of a failed RedeemAuthCode with "+tc.name)
	}
	got, err := s.GetRefreshToken(ctx, taken.TokenHash)
	must(t, err, "GetRefreshToken")
	checkEqual(t, "the other grant's refresh token after failed exchanges", got, taken)

	// The code can still be exchanged.
	good := newRefreshToken("rt-good", "ar-fail", at(time.Hour), at(24*time.Hour))
	_, err = s.RedeemAuthCode(ctx, "code-fail", base, g, &good)
	must(t, err, "RedeemAuthCode after failed ones")
	_, err = s.GetGrant(ctx, g.ID)
	must(t, err, "GetGrant")
	_, err = s.GetRefreshToken(ctx, good.TokenHash)
	must(t, err, "GetRefreshToken")
}

func testDeleteExpiredAuthRequests(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for i := range 5 {
		must(t, s.CreateAuthRequest(ctx, newAuthRequest(fmt.Sprint("expired-", i), at(time.Duration(i)*time.Second))), "CreateAuthRequest")
	}
	for i := range 2 {
		must(t, s.CreateAuthRequest(ctx, newAuthRequest(fmt.Sprint("live-", i), at(time.Hour))), "CreateAuthRequest")
	}
	before := at(time.Minute)
	for _, tc := range []struct {
		limit, want int
	}{{0, 0}, {3, 3}, {3, 2}, {3, 0}} {
		n, err := s.DeleteExpiredAuthRequests(ctx, before, tc.limit)
		must(t, err, "DeleteExpiredAuthRequests")
		if n != tc.want {
			t.Errorf("DeleteExpiredAuthRequests(limit %d) = %d, want %d", tc.limit, n, tc.want)
		}
	}
	for i := range 5 {
		_, err := s.GetAuthRequest(ctx, fmt.Sprint("expired-", i))
		wantErr(t, err, storage.ErrNotFound, "GetAuthRequest of an expired request")
	}
	for i := range 2 {
		_, err := s.GetAuthRequest(ctx, fmt.Sprint("live-", i))
		must(t, err, "GetAuthRequest of a live request")
	}
}
