package admin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// signedIn is what signIn left behind: a login session at the
// authorization server and a grant with its first refresh token.
type signedIn struct {
	session     string
	grant       string
	refreshHash string
}

// signIn gives userID what a sign-in at client and the exchange of its code
// leave in the store.
func signIn(t *testing.T, st *sqlstore.Store, clientID, userID string, now time.Time) signedIn {
	t.Helper()
	ctx := context.Background()
	var s signedIn
	var err error
	for _, id := range []*string{&s.session, &s.grant} {
		if *id, err = newID(); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateLoginSession(ctx, storage.LoginSession{
		ID: s.session, UserID: userID, AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAuthRequest(ctx, storage.AuthRequest{
		ID: s.grant, ClientID: clientID, RedirectURI: "https://app.example.com/cb", Scopes: []string{"openid", "offline_access"},
		ResponseType: "code", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		UserID: userID, AuthTime: now, AMR: []string{"pwd"}, Done: true,
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}); err != nil {
		t.Fatal(err)
	}
	code, _ := secret.NewToken()
	if err := st.SetAuthCode(ctx, s.grant, secret.HashToken(code), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	refresh, _ := secret.NewToken()
	s.refreshHash = secret.HashToken(refresh)
	rtID, _ := newID()
	if _, err := st.RedeemAuthCode(ctx, secret.HashToken(code), now,
		storage.Grant{ID: s.grant, ClientID: clientID, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)},
		&storage.RefreshToken{
			ID: rtID, TokenHash: s.refreshHash, FamilyID: s.grant, ClientID: clientID, UserID: userID,
			Scopes: []string{"openid", "offline_access"}, AuthTime: now, AMR: []string{"pwd"},
			IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour), CreatedAt: now,
		}); err != nil {
		t.Fatal(err)
	}
	return s
}

// ended reports whether what signIn left behind has ended: the session
// deleted, the grant and its refresh token revoked. It fails the test when
// they disagree.
func ended(t *testing.T, st *sqlstore.Store, s signedIn, now time.Time) bool {
	t.Helper()
	ctx := context.Background()
	_, err := st.GetLoginSession(ctx, s.session, now)
	sessionGone := errors.Is(err, storage.ErrNotFound)
	if err != nil && !sessionGone {
		t.Fatal(err)
	}
	g, err := st.GetGrant(ctx, s.grant)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := st.GetRefreshToken(ctx, s.refreshHash)
	if err != nil {
		t.Fatal(err)
	}
	if sessionGone != g.Revoked || g.Revoked != rt.Revoked {
		t.Fatalf("session deleted %v, grant revoked %v, refresh token revoked %v: want all or nothing", sessionGone, g.Revoked, rt.Revoked)
	}
	return g.Revoked
}

func TestSetPasswordEndsSessions(t *testing.T) {
	tests := []struct {
		name       string
		policy     SessionPolicy
		wantEnded  bool
		wantGrants int
	}{
		{"end sessions", EndSessions, true, 2},
		{"keep sessions", KeepSessions, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, alice, bob, now := twoUsers(t)
			a1, a2 := signIn(t, st, "app", alice.ID, now), signIn(t, st, "app", alice.ID, now)
			b := signIn(t, st, "app", bob.ID, now)

			got, err := SetPassword(ctx, st, "alice", "a new password", tt.policy, now)
			if err != nil {
				t.Fatal(err)
			}
			if got != (Ended{Sessions: tt.wantEnded, Grants: tt.wantGrants}) {
				t.Errorf("ended %+v, want sessions %v and %d grants", got, tt.wantEnded, tt.wantGrants)
			}
			u, _ := st.GetUserByUsername(ctx, "alice")
			if ok, _ := password.Verify("a new password", u.PasswordHash); !ok {
				t.Fatal("new password does not verify")
			}
			for i, s := range []signedIn{a1, a2} {
				if e := ended(t, st, s, now); e != tt.wantEnded {
					t.Errorf("alice's sign-in %d ended %v, want %v", i+1, e, tt.wantEnded)
				}
			}
			if ended(t, st, b, now) {
				t.Error("bob's sign-in ended with alice's password change")
			}
		})
	}
}

func TestSetPasswordRejects(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	if _, err := AddUser(ctx, st, NewUser{Username: "alice", Password: "correct horse battery"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := SetPassword(ctx, st, "nobody", "a new password", EndSessions, now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("set-password of unknown user: %v", err)
	}
	if _, err := SetPassword(ctx, st, "alice", "short", EndSessions, now); err == nil {
		t.Fatal("a short password was accepted")
	}
	u, _ := st.GetUserByUsername(ctx, "alice")
	if ok, _ := password.Verify("correct horse battery", u.PasswordHash); !ok {
		t.Fatal("a rejected password replaced the old one")
	}
}

func TestDisableUser(t *testing.T) {
	ctx := context.Background()
	st, alice, bob, now := twoUsers(t)
	a, b := signIn(t, st, "app", alice.ID, now), signIn(t, st, "app", bob.ID, now)

	got, err := DisableUser(ctx, st, "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if got != (Ended{Sessions: true, Grants: 1}) {
		t.Errorf("ended %+v, want the sessions and 1 grant", got)
	}
	if u, _ := st.GetUserByUsername(ctx, "alice"); !u.Disabled {
		t.Error("alice is not disabled")
	}
	if !ended(t, st, a, now) {
		t.Error("disabling alice left her sign-in active")
	}
	if u, _ := st.GetUserByUsername(ctx, "bob"); u.Disabled || ended(t, st, b, now) {
		t.Error("disabling alice touched bob")
	}

	// Again: not an error, and nothing is left to revoke.
	if got, err := DisableUser(ctx, st, "alice", now); err != nil || got.Grants != 0 {
		t.Fatalf("second disable: %+v %v", got, err)
	}
	if err := EnableUser(ctx, st, "alice", now); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.GetUserByUsername(ctx, "alice"); u.Disabled {
		t.Error("alice is still disabled")
	}
	if !ended(t, st, a, now) {
		t.Error("enabling alice brought back what disabling revoked")
	}
	if err := EnableUser(ctx, st, "alice", now); err != nil {
		t.Fatalf("second enable: %v", err)
	}
	for name, f := range map[string]func() error{
		"disable": func() error { _, err := DisableUser(ctx, st, "nobody", now); return err },
		"enable":  func() error { return EnableUser(ctx, st, "nobody", now) },
	} {
		if err := f(); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s of an unknown user: %v", name, err)
		}
	}
}

// twoUsers opens a store with a client "app" and the users alice and bob.
func twoUsers(t *testing.T) (*sqlstore.Store, storage.User, storage.User, time.Time) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, _, err := AddClient(ctx, st, NewClient{ID: "app", RedirectURIs: []string{"https://app.example.com/cb"}}, now); err != nil {
		t.Fatal(err)
	}
	alice, err := AddUser(ctx, st, NewUser{Username: "alice", Password: "correct horse battery"}, now)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := AddUser(ctx, st, NewUser{Username: "bob", Password: "correct horse battery"}, now)
	if err != nil {
		t.Fatal(err)
	}
	return st, alice, bob, now
}

func TestResetFactors(t *testing.T) {
	tests := []struct {
		name       string
		policy     SessionPolicy
		wantEnded  bool
		wantGrants int
	}{
		{"end sessions", EndSessions, true, 1},
		{"keep sessions", KeepSessions, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, alice, bob, now := twoUsers(t)
			for _, u := range []storage.User{alice, bob} {
				if err := st.SetTOTP(ctx, storage.TOTP{UserID: u.ID, Secret: []byte("sealed"), CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
				if err := st.AddPasskey(ctx, storage.Passkey{ID: []byte("cred-" + u.ID), UserID: u.ID, Name: "Key", PublicKey: []byte{1}, CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
				if err := st.SetRecoveryCodes(ctx, u.ID, []string{"h1", "h2"}, now); err != nil {
					t.Fatal(err)
				}
			}
			a := signIn(t, st, "app", alice.ID, now)
			b := signIn(t, st, "app", bob.ID, now)

			n, got, err := ResetFactors(ctx, st, "alice", tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Errorf("removed %d factors, want 2 (a passkey and the authenticator app)", n)
			}
			if got != (Ended{Sessions: tt.wantEnded, Grants: tt.wantGrants}) {
				t.Errorf("ended %+v, want sessions %v and %d grants", got, tt.wantEnded, tt.wantGrants)
			}
			if _, err := st.GetTOTP(ctx, alice.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("alice's authenticator app after the reset: %v", err)
			}
			if keys, _ := st.ListPasskeys(ctx, alice.ID); len(keys) != 0 {
				t.Errorf("alice keeps %d passkeys", len(keys))
			}
			if left, _ := st.CountRecoveryCodes(ctx, alice.ID); left != 0 {
				t.Errorf("alice keeps %d recovery codes", left)
			}
			if e := ended(t, st, a, now); e != tt.wantEnded {
				t.Errorf("alice's sign-in ended %v, want %v", e, tt.wantEnded)
			}
			if _, err := st.GetTOTP(ctx, bob.ID); err != nil {
				t.Errorf("bob's authenticator app: %v", err)
			}
			if keys, _ := st.ListPasskeys(ctx, bob.ID); len(keys) != 1 {
				t.Errorf("bob has %d passkeys, want 1", len(keys))
			}
			if ended(t, st, b, now) {
				t.Error("bob's sign-in ended with alice's reset")
			}
		})
	}
	st, _, _, _ := twoUsers(t)
	if _, _, err := ResetFactors(context.Background(), st, "nobody", EndSessions); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("reset of an unknown user: %v, want ErrNotFound", err)
	}
}
