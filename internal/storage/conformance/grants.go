package conformance

import (
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
// and their refresh tokens, and removes the user's login sessions and
// consent; another user's are kept.
func testDeleteUserRevokesGrants(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, u := range []storage.User{
		{ID: "u-alice", Username: "alice", CreatedAt: base, UpdatedAt: base},
		{ID: "u-bob", Username: "bob", CreatedAt: base, UpdatedAt: base},
	} {
		must(t, s.CreateUser(ctx, u), "CreateUser")
		must(t, s.CreateLoginSession(ctx, newLoginSession("sess-"+u.ID, u.ID, at(time.Hour))), "CreateLoginSession")
		must(t, s.PutConsent(ctx, storage.Consent{UserID: u.ID, ClientID: "webapp", CreatedAt: base}), "PutConsent")
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
