package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// checkRevoked checks the Revoked flag of grants (by ID) and refresh tokens
// (by hash).
func checkRevoked(t *testing.T, s storage.Store, what string, grants, tokens map[string]bool) {
	t.Helper()
	ctx := ctxFor(t)
	for id, want := range grants {
		g, err := s.GetGrant(ctx, id)
		must(t, err, "GetGrant "+id)
		if g.Revoked != want {
			t.Errorf("%s: grant %s revoked = %v, want %v", what, id, g.Revoked, want)
		}
	}
	for hash, want := range tokens {
		r, err := s.GetRefreshToken(ctx, hash)
		must(t, err, "GetRefreshToken "+hash)
		if r.Revoked != want {
			t.Errorf("%s: refresh token %s revoked = %v, want %v", what, r.ID, r.Revoked, want)
		}
	}
}

// testGrants: a grant is stored by RedeemAuthCode and revoked, with every
// refresh token of its family, by RevokeGrant.
func testGrants(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	first := newRefreshToken("rt-g1", "ar-g1", at(time.Hour), at(24*time.Hour))
	startFamily(t, s, first)
	second := newRefreshToken("rt-g1b", "ar-g1", at(2*time.Hour), at(24*time.Hour))
	_, err := s.RotateRefreshToken(ctx, first.TokenHash, second, at(time.Minute))
	must(t, err, "RotateRefreshToken")
	other := newRefreshToken("rt-g2", "ar-g2", at(time.Hour), at(24*time.Hour))
	startFamily(t, s, other)

	_, err = s.GetGrant(ctx, "ar-nobody")
	wantErr(t, err, storage.ErrNotFound, "GetGrant unknown")
	checkRevoked(t, s, "before RevokeGrant",
		map[string]bool{"ar-g1": false, "ar-g2": false},
		map[string]bool{first.TokenHash: false, second.TokenHash: false, other.TokenHash: false})

	for range 2 { // revoking again is not an error
		must(t, s.RevokeGrant(ctx, "ar-g1"), "RevokeGrant")
	}
	must(t, s.RevokeGrant(ctx, "ar-nobody"), "RevokeGrant of an unknown grant")
	checkRevoked(t, s, "after RevokeGrant",
		map[string]bool{"ar-g1": true, "ar-g2": false},
		map[string]bool{first.TokenHash: true, second.TokenHash: true, other.TokenHash: false})
	want := newGrant("ar-g1", at(48*time.Hour))
	want.Revoked = true
	got, err := s.GetGrant(ctx, "ar-g1")
	must(t, err, "GetGrant")
	checkEqual(t, "grant after RevokeGrant", got, want)

	_, err = s.RotateRefreshToken(ctx, second.TokenHash, newRefreshToken("rt-g1c", "ar-g1", at(3*time.Hour), at(24*time.Hour)), at(2*time.Minute))
	wantErr(t, err, storage.ErrAlreadyUsed, "RotateRefreshToken of a revoked grant's token")
}

// testRevokeUserGrants: every grant of the user, and its refresh tokens;
// the count is of the grants that were not revoked before.
func testRevokeUserGrants(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	a1 := newRefreshToken("rt-a1", "ar-a1", at(time.Hour), at(24*time.Hour))
	a2 := newRefreshToken("rt-a2", "ar-a2", at(time.Hour), at(24*time.Hour))
	a2.ClientID = "cli"
	startFamily(t, s, a1)
	startGrant(t, s, storage.Grant{ID: "ar-a2", ClientID: "cli", UserID: "u-alice", CreatedAt: base, ExpiresAt: at(48 * time.Hour)}, &a2)
	startGrant(t, s, newGrant("ar-a3", at(48*time.Hour)), nil)
	must(t, s.RevokeGrant(ctx, "ar-a3"), "RevokeGrant")
	b1 := newRefreshToken("rt-b1", "ar-b1", at(time.Hour), at(24*time.Hour))
	b1.UserID = "u-bob"
	startGrant(t, s, storage.Grant{ID: "ar-b1", ClientID: "webapp", UserID: "u-bob", CreatedAt: base, ExpiresAt: at(48 * time.Hour)}, &b1)

	for _, tc := range []struct {
		user string
		want int
	}{{"u-alice", 2}, {"u-alice", 0}, {"u-nobody", 0}} {
		n, err := s.RevokeUserGrants(ctx, tc.user)
		must(t, err, "RevokeUserGrants")
		if n != tc.want {
			t.Errorf("RevokeUserGrants(%q) = %d, want %d", tc.user, n, tc.want)
		}
	}
	checkRevoked(t, s, "after RevokeUserGrants",
		map[string]bool{"ar-a1": true, "ar-a2": true, "ar-a3": true, "ar-b1": false},
		map[string]bool{a1.TokenHash: true, a2.TokenHash: true, b1.TokenHash: false})
}

// testDeleteUserRevokesGrants: deleting a user revokes the user's grants
// and their refresh tokens, and removes the user's login sessions, consent
// and factors; another user's are kept.
func testDeleteUserRevokesGrants(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, u := range []storage.User{
		{ID: "u-alice", Username: "alice", CreatedAt: base, UpdatedAt: base},
		{ID: "u-bob", Username: "bob", CreatedAt: base, UpdatedAt: base},
	} {
		must(t, s.CreateUser(ctx, u), "CreateUser")
		must(t, s.CreateLoginSession(ctx, newLoginSession("sess-"+u.ID, u.ID, at(time.Hour))), "CreateLoginSession")
		must(t, s.PutConsent(ctx, storage.Consent{UserID: u.ID, ClientID: "webapp", CreatedAt: base}), "PutConsent")
		addFactors(t, s, u.ID)
	}
	alice := newRefreshToken("rt-alice", "ar-alice", at(time.Hour), at(24*time.Hour))
	startFamily(t, s, alice)
	bob := newRefreshToken("rt-bob", "ar-bob", at(time.Hour), at(24*time.Hour))
	bob.UserID = "u-bob"
	startGrant(t, s, storage.Grant{ID: "ar-bob", ClientID: "webapp", UserID: "u-bob", CreatedAt: base, ExpiresAt: at(48 * time.Hour)}, &bob)

	must(t, s.DeleteUser(ctx, "u-alice"), "DeleteUser")
	checkRevoked(t, s, "after DeleteUser",
		map[string]bool{"ar-alice": true, "ar-bob": false},
		map[string]bool{alice.TokenHash: true, bob.TokenHash: false})
	_, err := s.GetLoginSession(ctx, "sess-u-alice", base)
	wantErr(t, err, storage.ErrNotFound, "the deleted user's login session")
	_, err = s.GetConsent(ctx, "u-alice", "webapp", base)
	wantErr(t, err, storage.ErrNotFound, "the deleted user's consent")
	_, err = s.GetLoginSession(ctx, "sess-u-bob", base)
	must(t, err, "another user's login session after DeleteUser")
	_, err = s.GetConsent(ctx, "u-bob", "webapp", base)
	must(t, err, "another user's consent after DeleteUser")
	checkFactors(t, s, "u-alice", false, "the deleted user's factors")
	checkFactors(t, s, "u-bob", true, "another user's factors after DeleteUser")
}

// testDeleteClientRevokesGrants: deleting a client revokes its grants and
// their refresh tokens, and removes the consent given to it; another
// client's are kept.
func testDeleteClientRevokesGrants(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, id := range []string{"webapp", "cli"} {
		must(t, s.CreateClient(ctx, storage.Client{ID: id, CreatedAt: base, UpdatedAt: base}), "CreateClient")
		must(t, s.PutConsent(ctx, storage.Consent{UserID: "u-alice", ClientID: id, CreatedAt: base}), "PutConsent")
	}
	web := newRefreshToken("rt-web", "ar-web", at(time.Hour), at(24*time.Hour))
	startFamily(t, s, web)
	cli := newRefreshToken("rt-cli", "ar-cli", at(time.Hour), at(24*time.Hour))
	cli.ClientID = "cli"
	startGrant(t, s, storage.Grant{ID: "ar-cli", ClientID: "cli", UserID: "u-alice", CreatedAt: base, ExpiresAt: at(48 * time.Hour)}, &cli)

	must(t, s.DeleteClient(ctx, "webapp"), "DeleteClient")
	checkRevoked(t, s, "after DeleteClient",
		map[string]bool{"ar-web": true, "ar-cli": false},
		map[string]bool{web.TokenHash: true, cli.TokenHash: false})
	_, err := s.GetConsent(ctx, "u-alice", "webapp", base)
	wantErr(t, err, storage.ErrNotFound, "consent given to the deleted client")
	_, err = s.GetConsent(ctx, "u-alice", "cli", base)
	must(t, err, "consent given to another client after DeleteClient")
}

// testRevokeEndsCodes: RevokeUserGrants, RevokeUserClientGrants,
// DeleteUser and DeleteClient end the codes of the user's (or client's, or
// the user's at the client) requests: a code issued but not yet
// exchanged, and the one a request waiting for consent gets later, then
// redeem as a replay (ErrAlreadyUsed, with the request) and store nothing.
// The codes of the requests they do not reach still redeem.
func testRevokeEndsCodes(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, tc := range []struct {
		name string
		// revoke ends what was issued to user at client, and also what
		// was issued to user at other clients (sameUser) or to other
		// users at client (sameClient).
		revoke               func(user, client string) error
		sameUser, sameClient bool
	}{
		{"RevokeUserGrants", func(user, _ string) error { _, err := s.RevokeUserGrants(ctx, user); return err }, true, false},
		{"RevokeUserClientGrants", func(user, client string) error {
			_, err := s.RevokeUserClientGrants(ctx, user, client)
			return err
		}, false, false},
		{"DeleteUser", func(user, _ string) error { return s.DeleteUser(ctx, user) }, true, false},
		{"DeleteClient", func(_, client string) error { return s.DeleteClient(ctx, client) }, false, true},
	} {
		user, client := "u-"+tc.name, "cli-"+tc.name
		otherUser, otherClient := "u-other-"+tc.name, "cli-other-"+tc.name
		must(t, s.CreateUser(ctx, storage.User{ID: user, Username: user, CreatedAt: base, UpdatedAt: base}), "CreateUser")
		must(t, s.CreateClient(ctx, storage.Client{ID: client, CreatedAt: base, UpdatedAt: base}), "CreateClient")
		request := func(id, user, client string, done bool) storage.AuthRequest {
			r := newAuthRequest(tc.name+"-"+id, at(10*time.Minute))
			r.ClientID, r.UserID, r.AuthTime, r.AMR, r.Done = client, user, base, []string{"pwd"}, done
			return r
		}
		// Requests with a code, and whether tc.revoke ends the code.
		type code struct {
			r     storage.AuthRequest
			ended bool
		}
		issued := []code{
			{request("issued", user, client, true), true},
			{request("same-user", user, otherClient, true), tc.sameUser},
			{request("same-client", otherUser, client, true), tc.sameClient},
		}
		for _, is := range issued {
			must(t, s.CreateAuthRequest(ctx, is.r), "CreateAuthRequest")
			must(t, s.SetAuthCode(ctx, is.r.ID, "code-"+is.r.ID, at(time.Minute)), "SetAuthCode")
		}
		pending := request("pending", user, client, false)
		must(t, s.CreateAuthRequest(ctx, pending), "CreateAuthRequest")

		must(t, tc.revoke(user, client), tc.name)

		// The person consents after the revocation; the request gets its code.
		must(t, s.SetAuthCode(ctx, pending.ID, "code-"+pending.ID, at(time.Minute)),
			"SetAuthCode of a request waiting for consent, after "+tc.name)
		issued = append(issued, code{pending, true})
		for _, is := range issued {
			r := is.r
			g := storage.Grant{ID: r.ID, ClientID: r.ClientID, UserID: r.UserID, CreatedAt: base, ExpiresAt: at(48 * time.Hour)}
			first := newRefreshToken("rt-"+r.ID, r.ID, at(time.Hour), at(24*time.Hour))
			first.ClientID, first.UserID = r.ClientID, r.UserID
			got, err := s.RedeemAuthCode(ctx, "code-"+r.ID, base, g, &first)
			what := fmt.Sprintf("%s: RedeemAuthCode of %s", tc.name, r.ID)
			if !is.ended {
				must(t, err, what+", a request "+tc.name+" does not reach")
				checkRevoked(t, s, what, map[string]bool{g.ID: false}, map[string]bool{first.TokenHash: false})
				continue
			}
			wantErr(t, err, storage.ErrAlreadyUsed, what)
			if got.ID != r.ID {
				t.Errorf("%s returned request %q with ErrAlreadyUsed, want %q", what, got.ID, r.ID)
			}
			_, err = s.GetGrant(ctx, g.ID)
			wantErr(t, err, storage.ErrNotFound, what+": the grant")
			_, err = s.GetRefreshToken(ctx, first.TokenHash)
			wantErr(t, err, storage.ErrNotFound, what+": the refresh token")
		}
	}
}

// testRevokeRedeemRace: RevokeUserGrants, or RevokeUserClientGrants,
// racing exchanges of the user's codes leaves no grant of the user
// unrevoked. Each exchange either wins, and the revocation revokes its
// grant and refresh token, or finds its code ended (ErrAlreadyUsed) and
// stores nothing.
func testRevokeRedeemRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, rv := range []struct {
		name   string
		revoke func(user string) (int, error)
	}{
		{"RevokeUserGrants", func(user string) (int, error) { return s.RevokeUserGrants(ctx, user) }},
		{"RevokeUserClientGrants", func(user string) (int, error) { return s.RevokeUserClientGrants(ctx, user, "webapp") }},
	} {
		const rounds = 4
		for round := range rounds {
			revokeRedeemRound(t, s, fmt.Sprintf("%s-%d", rv.name, round), rv.revoke)
		}
	}
}

// revokeRedeemRound is one round of testRevokeRedeemRace, of the user
// u-race-<name>, whose grants are all at webapp.
func revokeRedeemRound(t *testing.T, s storage.Store, name string, revoke func(user string) (int, error)) {
	ctx := ctxFor(t)
	user := "u-race-" + name
	grants := make([]storage.Grant, Racers)
	firsts := make([]storage.RefreshToken, Racers)
	for i := 1; i < Racers; i++ {
		id := fmt.Sprintf("ar-race-%s-%d", name, i)
		r := newAuthRequest(id, at(10*time.Minute))
		r.UserID, r.AuthTime, r.AMR, r.Done = user, base, []string{"pwd"}, true
		must(t, s.CreateAuthRequest(ctx, r), "CreateAuthRequest")
		must(t, s.SetAuthCode(ctx, id, "code-"+id, at(time.Minute)), "SetAuthCode")
		grants[i] = storage.Grant{ID: id, ClientID: "webapp", UserID: user, CreatedAt: base, ExpiresAt: at(48 * time.Hour)}
		firsts[i] = newRefreshToken("rt-"+id, id, at(time.Hour), at(24*time.Hour))
		firsts[i].UserID = user
	}
	// Half of the exchanges start at once; once the first of them has
	// returned, the revocation starts, and the other half with it.
	var firstDone sync.Once
	exchanged, revoking := make(chan struct{}), make(chan struct{})
	errs := race(Racers, func(i int) error {
		if i == 0 {
			<-exchanged
			close(revoking)
			_, err := revoke(user)
			return err
		}
		if i%2 == 0 {
			<-revoking
		}
		defer firstDone.Do(func() { close(exchanged) })
		_, err := s.RedeemAuthCode(ctx, "code-"+grants[i].ID, base, grants[i], &firsts[i])
		return err
	})
	must(t, errs[0], name+": revoking")
	won := 0
	for i := 1; i < Racers; i++ {
		g, err := s.GetGrant(ctx, grants[i].ID)
		switch {
		case errs[i] == nil:
			won++
			must(t, err, "GetGrant of a won exchange")
			if !g.Revoked {
				t.Errorf("%s: grant %s, stored by an exchange racing the revocation, is not revoked", name, g.ID)
			}
			rt, err := s.GetRefreshToken(ctx, firsts[i].TokenHash)
			must(t, err, "GetRefreshToken of a won exchange")
			if !rt.Revoked {
				t.Errorf("%s: refresh token %s, stored by an exchange racing the revocation, is not revoked", name, rt.ID)
			}
		case errors.Is(errs[i], storage.ErrAlreadyUsed):
			wantErr(t, err, storage.ErrNotFound, "the grant of an exchange that found its code ended")
			_, err = s.GetRefreshToken(ctx, firsts[i].TokenHash)
			wantErr(t, err, storage.ErrNotFound, "the refresh token of an exchange that found its code ended")
		default:
			t.Errorf("%s: RedeemAuthCode racing the revocation: %v, want nil or ErrAlreadyUsed", name, errs[i])
		}
	}
	t.Logf("%s: %d of %d exchanges won, the others found their code ended", name, won, Racers-1)
}

// testRevokeUserClientGrants: the user's grants at the client, and their
// refresh tokens; the count is of the grants that were not revoked before.
// The user's grants at other clients and other users' grants at the client
// are left alone.
func testRevokeUserClientGrants(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	grant := func(id, user, client string) storage.RefreshToken {
		first := newRefreshToken("rt-"+id, id, at(time.Hour), at(24*time.Hour))
		first.UserID, first.ClientID = user, client
		startGrant(t, s, storage.Grant{ID: id, ClientID: client, UserID: user, CreatedAt: base, ExpiresAt: at(48 * time.Hour)}, &first)
		return first
	}
	web1 := grant("ar-web-1", "u-alice", "webapp")
	web2 := grant("ar-web-2", "u-alice", "webapp")
	cli := grant("ar-cli", "u-alice", "cli")
	bob := grant("ar-bob", "u-bob", "webapp")
	startGrant(t, s, storage.Grant{ID: "ar-web-revoked", ClientID: "webapp", UserID: "u-alice", CreatedAt: base, ExpiresAt: at(48 * time.Hour)}, nil)
	must(t, s.RevokeGrant(ctx, "ar-web-revoked"), "RevokeGrant")

	for _, tc := range []struct {
		user, client string
		want         int
	}{
		{"u-alice", "webapp", 2},
		{"u-alice", "webapp", 0},
		{"u-alice", "nobody", 0},
		{"u-nobody", "webapp", 0},
	} {
		n, err := s.RevokeUserClientGrants(ctx, tc.user, tc.client)
		must(t, err, "RevokeUserClientGrants")
		if n != tc.want {
			t.Errorf("RevokeUserClientGrants(%q, %q) = %d, want %d", tc.user, tc.client, n, tc.want)
		}
	}
	checkRevoked(t, s, "after RevokeUserClientGrants",
		map[string]bool{"ar-web-1": true, "ar-web-2": true, "ar-web-revoked": true, "ar-cli": false, "ar-bob": false},
		map[string]bool{web1.TokenHash: true, web2.TokenHash: true, cli.TokenHash: false, bob.TokenHash: false})
}

// testListUserGrants: the user's grants neither revoked nor expired, newest
// first; other users' are not listed.
func testListUserGrants(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	grant := func(id, user, client string, created, expires time.Duration) storage.Grant {
		return storage.Grant{ID: id, ClientID: client, UserID: user, CreatedAt: at(created), ExpiresAt: at(expires)}
	}
	// Stored in neither time nor ID order.
	middle := grant("ar-a-3", "u-alice", "cli", -2*time.Hour, 2*time.Hour)
	newest := grant("ar-a-1", "u-alice", "webapp", -time.Hour, time.Hour)
	oldest := grant("ar-a-2", "u-alice", "webapp", -3*time.Hour, 2*time.Hour)
	for _, g := range []storage.Grant{
		middle, newest, oldest,
		grant("ar-a-revoked", "u-alice", "webapp", 0, 2*time.Hour),
		grant("ar-a-expired", "u-alice", "webapp", 0, -time.Minute),
		grant("ar-b-1", "u-bob", "webapp", 0, 2*time.Hour),
	} {
		startGrant(t, s, g, nil)
	}
	must(t, s.RevokeGrant(ctx, "ar-a-revoked"), "RevokeGrant")
	for _, tc := range []struct {
		name string
		user string
		now  time.Time
		want []storage.Grant
	}{
		{"at base", "u-alice", base, []storage.Grant{newest, middle, oldest}},
		{"at the expiry of one", "u-alice", at(time.Hour), []storage.Grant{middle, oldest}},
		{"after all expired", "u-alice", at(2 * time.Hour), nil},
		{"of a user without grants", "u-nobody", base, nil},
	} {
		got, err := s.ListUserGrants(ctx, tc.user, tc.now)
		must(t, err, "ListUserGrants "+tc.name)
		checkEqual(t, "ListUserGrants "+tc.name, got, tc.want)
	}
}

// testGrantScopes: the scopes of a grant, stored by RedeemAuthCode, read
// back in their order from GetGrant and ListUserGrants; a grant without
// scopes has none.
func testGrantScopes(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	var want []storage.Grant // ListUserGrants' order: created at once, so by ID
	for i, tc := range []struct {
		name   string
		scopes []string
	}{
		{"several", []string{"openid", "profile", "offline_access", "api:read"}},
		{"unsorted", []string{"profile", "openid"}},
		{"unusual characters", []string{"urn:example:read", `a"b\c`, "café"}},
		{"none", nil},
	} {
		g := newGrant(fmt.Sprint("ar-scopes-", i), at(48*time.Hour))
		g.Scopes = tc.scopes
		startGrant(t, s, g, nil)
		got, err := s.GetGrant(ctx, g.ID)
		must(t, err, "GetGrant "+tc.name)
		checkEqual(t, "GetGrant of a grant with scopes "+tc.name, got, g)
		want = append(want, g)
	}
	got, err := s.ListUserGrants(ctx, "u-alice", base)
	must(t, err, "ListUserGrants")
	checkEqual(t, "ListUserGrants of grants with scopes", got, want)
}
