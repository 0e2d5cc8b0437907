package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func testUsers(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	alice := storage.User{ID: "u-alice", Username: "alice", Email: "alice@example.com", Name: "Alice Liddell",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", CreatedAt: base, UpdatedAt: base}
	must(t, s.CreateUser(ctx, alice), "CreateUser")

	got, err := s.GetUser(ctx, alice.ID)
	must(t, err, "GetUser")
	checkEqual(t, "GetUser", got, alice)
	got, err = s.GetUserByUsername(ctx, alice.Username)
	must(t, err, "GetUserByUsername")
	checkEqual(t, "GetUserByUsername", got, alice)

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"CreateUser same ID", s.CreateUser(ctx, storage.User{ID: alice.ID, Username: "other", CreatedAt: base, UpdatedAt: base}), storage.ErrAlreadyExists},
		{"CreateUser same username", s.CreateUser(ctx, storage.User{ID: "u-other", Username: alice.Username, CreatedAt: base, UpdatedAt: base}), storage.ErrAlreadyExists},
		{"SetUserPassword unknown", s.SetUserPassword(ctx, "u-nobody", "x", base), storage.ErrNotFound},
		{"SetUserDisabled unknown", s.SetUserDisabled(ctx, "u-nobody", true, base), storage.ErrNotFound},
		{"DeleteUser unknown", s.DeleteUser(ctx, "u-nobody"), storage.ErrNotFound},
	} {
		wantErr(t, tc.err, tc.want, tc.name)
	}
	_, err = s.GetUser(ctx, "u-nobody")
	wantErr(t, err, storage.ErrNotFound, "GetUser unknown")
	_, err = s.GetUserByUsername(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername unknown")
	// Exact match only: MySQL's PAD SPACE collations compare "alice " equal
	// to "alice", which would let one account be guessed at under many
	// lockout keys.
	for _, name := range []string{"alice ", "alice  ", "ALICE"} {
		_, err = s.GetUserByUsername(ctx, name)
		wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("GetUserByUsername(%q)", name))
	}

	// ListUsers orders by username, not by ID or insertion.
	for _, u := range []storage.User{
		{ID: "u-1", Username: "carol", CreatedAt: base, UpdatedAt: base},
		{ID: "u-2", Username: "bob", CreatedAt: base, UpdatedAt: base},
	} {
		must(t, s.CreateUser(ctx, u), "CreateUser "+u.Username)
	}
	users, err := s.ListUsers(ctx)
	must(t, err, "ListUsers")
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	checkEqual(t, "ListUsers order", names, []string{"alice", "bob", "carol"})

	later := at(time.Hour)
	must(t, s.SetUserPassword(ctx, alice.ID, "$argon2id$new", later), "SetUserPassword")
	// Setting the same values again still finds the user.
	must(t, s.SetUserPassword(ctx, alice.ID, "$argon2id$new", later), "SetUserPassword again")
	got, err = s.GetUser(ctx, alice.ID)
	must(t, err, "GetUser after SetUserPassword")
	want := alice
	want.PasswordHash, want.UpdatedAt = "$argon2id$new", later
	checkEqual(t, "after SetUserPassword", got, want)

	// A rehash replaces only the hash it was computed from: one set in the
	// meantime stays, and of rehashes racing from the same hash one wins.
	rehashed, err := s.RehashUserPassword(ctx, alice.ID, "$argon2id$old", "$argon2id$stale", at(90*time.Minute))
	must(t, err, "RehashUserPassword from a replaced hash")
	if rehashed {
		t.Error("RehashUserPassword from a replaced hash = true, want false")
	}
	if rehashed, err = s.RehashUserPassword(ctx, "u-nobody", "$argon2id$new", "x", later); err != nil || rehashed {
		t.Errorf("RehashUserPassword of an unknown user = %v, %v; want false, nil", rehashed, err)
	}
	got, err = s.GetUser(ctx, alice.ID)
	must(t, err, "GetUser after refused rehashes")
	checkEqual(t, "after refused rehashes", got, want)
	const racers = 8
	won := make([]bool, racers)
	for i, err := range race(racers, func(i int) error {
		var err error
		won[i], err = s.RehashUserPassword(ctx, alice.ID, "$argon2id$new", fmt.Sprint("$argon2id$rehash", i), at(time.Hour+time.Minute))
		return err
	}) {
		must(t, err, fmt.Sprint("RehashUserPassword racer ", i))
	}
	winner := -1
	for i, w := range won {
		if w && winner >= 0 {
			t.Fatalf("RehashUserPassword racers %d and %d both replaced the hash", winner, i)
		}
		if w {
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no RehashUserPassword racer replaced the hash")
	}
	got, err = s.GetUser(ctx, alice.ID)
	must(t, err, "GetUser after RehashUserPassword")
	want.PasswordHash, want.UpdatedAt = fmt.Sprint("$argon2id$rehash", winner), at(time.Hour+time.Minute)
	checkEqual(t, "after RehashUserPassword", got, want)

	// Disabling and enabling; setting the value again still finds the user.
	for i, disabled := range []bool{true, true, false, false, true} {
		when := at(time.Duration(i+2) * time.Hour)
		must(t, s.SetUserDisabled(ctx, alice.ID, disabled, when), fmt.Sprintf("SetUserDisabled(%v)", disabled))
		got, err = s.GetUser(ctx, alice.ID)
		must(t, err, "GetUser after SetUserDisabled")
		want.Disabled, want.UpdatedAt = disabled, when
		checkEqual(t, fmt.Sprintf("after SetUserDisabled(%v)", disabled), got, want)
	}
	got, err = s.GetUserByUsername(ctx, alice.Username)
	must(t, err, "GetUserByUsername of a disabled user")
	checkEqual(t, "GetUserByUsername of a disabled user", got, want)
	// A user can be created disabled.
	dora := storage.User{ID: "u-dora", Username: "dora", Disabled: true, CreatedAt: base, UpdatedAt: base}
	must(t, s.CreateUser(ctx, dora), "CreateUser disabled")
	got, err = s.GetUser(ctx, dora.ID)
	must(t, err, "GetUser")
	checkEqual(t, "GetUser of a user created disabled", got, dora)

	must(t, s.DeleteUser(ctx, alice.ID), "DeleteUser")
	_, err = s.GetUser(ctx, alice.ID)
	wantErr(t, err, storage.ErrNotFound, "GetUser after DeleteUser")
	wantErr(t, s.DeleteUser(ctx, alice.ID), storage.ErrNotFound, "DeleteUser twice")
	// The username is free again.
	must(t, s.CreateUser(ctx, storage.User{ID: "u-alice2", Username: "alice", CreatedAt: base, UpdatedAt: base}), "CreateUser reusing a username")
}

func testClients(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	webapp := storage.Client{
		ID: "webapp", Name: "Web app", SecretHash: "hash-of-secret",
		RedirectURIs:           []string{"https://127.0.0.1:5000/callback", "https://localhost:5000/callback"},
		PostLogoutRedirectURIs: []string{"https://127.0.0.1:5000/"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"openid", "profile", "email", "todos:read", "todos:write"},
		FirstParty:             true, IDTokenAlg: "ES256", CreatedAt: base, UpdatedAt: base,
	}
	cli := storage.Client{
		ID: "cli", Name: "Command line", Public: true, PKCEOptional: true,
		RedirectURIs:           []string{"http://127.0.0.1/callback"},
		PostLogoutRedirectURIs: []string{}, // empty
		GrantTypes:             nil,        // nil
		Scopes:                 []string{"openid"},
		CreatedAt:              at(time.Second), UpdatedAt: at(time.Second),
	}
	api := storage.Client{
		ID: "api", Name: "Todo API", SecretHash: "hash-of-api-secret",
		GrantTypes: []string{"client_credentials"}, ResourceAudience: "https://127.0.0.1:8001",
		ResourceScopes: []string{"reports:read", "reports:write"}, AuthMethod: storage.AuthPrivateKeyJWT,
		JWKS: `{"keys":[]}`, JWKSURI: "https://api.example/jwks", DPoPBound: true, RequirePAR: true, RequireMFA: true, Profile: storage.ProfileFAPI2,
		Disabled: true, CreatedAt: base, UpdatedAt: base,
	}
	for _, c := range []storage.Client{webapp, cli, api} {
		must(t, s.CreateClient(ctx, c), "CreateClient "+c.ID)
		got, err := s.GetClient(ctx, c.ID)
		must(t, err, "GetClient "+c.ID)
		checkEqual(t, "GetClient "+c.ID, got, c)
	}
	wantErr(t, s.CreateClient(ctx, storage.Client{ID: webapp.ID, CreatedAt: base, UpdatedAt: base}), storage.ErrAlreadyExists, "CreateClient same ID")
	_, err := s.GetClient(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetClient unknown")
	for _, id := range []string{"webapp ", "webapp  ", "WEBAPP"} {
		_, err = s.GetClient(ctx, id)
		wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("GetClient(%q)", id))
	}
	wantErr(t, s.SetClientSecret(ctx, "nobody", "x", base), storage.ErrNotFound, "SetClientSecret unknown")
	wantErr(t, s.SetClientResourceAudience(ctx, "nobody", "x", base), storage.ErrNotFound, "SetClientResourceAudience unknown")
	wantErr(t, s.SetClientResourceScopes(ctx, "nobody", []string{"x"}, base), storage.ErrNotFound, "SetClientResourceScopes unknown")
	wantErr(t, s.SetClientScopes(ctx, "nobody", []string{"openid"}, base), storage.ErrNotFound, "SetClientScopes unknown")
	wantErr(t, s.SetClientRedirectURIs(ctx, "nobody", []string{"https://rp.example/cb"}, base), storage.ErrNotFound, "SetClientRedirectURIs unknown")
	wantErr(t, s.SetClientIDTokenAlg(ctx, "nobody", "EdDSA", base), storage.ErrNotFound, "SetClientIDTokenAlg unknown")
	wantErr(t, s.SetClientDisabled(ctx, "nobody", true, base), storage.ErrNotFound, "SetClientDisabled unknown")
	wantErr(t, s.SetClientDPoPBound(ctx, "nobody", true, base), storage.ErrNotFound, "SetClientDPoPBound unknown")
	wantErr(t, s.SetClientRequirePAR(ctx, "nobody", true, base), storage.ErrNotFound, "SetClientRequirePAR unknown")
	wantErr(t, s.SetClientRequireMFA(ctx, "nobody", true, base), storage.ErrNotFound, "SetClientRequireMFA unknown")
	wantErr(t, s.SetClientAuthentication(ctx, "nobody", storage.ClientAuthentication{AuthMethod: storage.AuthNone}, base),
		storage.ErrNotFound, "SetClientAuthentication unknown")
	keyAuth := storage.ClientAuthentication{AuthMethod: storage.AuthPrivateKeyJWT,
		JWKS: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`}
	uriAuth := storage.ClientAuthentication{AuthMethod: storage.AuthPrivateKeyJWT, JWKSURI: "https://rp.example/jwks.json"}
	secretAuth := storage.ClientAuthentication{AuthMethod: storage.AuthSecretPost, SecretHash: "hash-of-new-secret"}
	wantErr(t, s.DeleteClient(ctx, "nobody"), storage.ErrNotFound, "DeleteClient unknown")

	clients, err := s.ListClients(ctx)
	must(t, err, "ListClients")
	checkEqual(t, "ListClients", clients, []storage.Client{api, cli, webapp}) // ordered by ID

	must(t, s.SetClientSecret(ctx, webapp.ID, "hash-of-new-secret", at(time.Hour)), "SetClientSecret")
	got, err := s.GetClient(ctx, webapp.ID)
	must(t, err, "GetClient after SetClientSecret")
	want := webapp
	want.SecretHash, want.UpdatedAt = "hash-of-new-secret", at(time.Hour)
	checkEqual(t, "after SetClientSecret", got, want)

	// Each setter changes its field and UpdatedAt only; setting a value
	// again still finds the client.
	wantCli := cli
	for i, tc := range []struct {
		name string
		set  func(when time.Time) error
		edit func(c *storage.Client)
	}{
		{"SetClientResourceAudience", func(w time.Time) error { return s.SetClientResourceAudience(ctx, cli.ID, "https://aud.example", w) },
			func(c *storage.Client) { c.ResourceAudience = "https://aud.example" }},
		{"SetClientResourceAudience again", func(w time.Time) error { return s.SetClientResourceAudience(ctx, cli.ID, "https://aud.example", w) },
			func(c *storage.Client) {}},
		{"SetClientResourceScopes", func(w time.Time) error {
			return s.SetClientResourceScopes(ctx, cli.ID, []string{"reports:read", "reports:write"}, w)
		}, func(c *storage.Client) { c.ResourceScopes = []string{"reports:read", "reports:write"} }},
		{"SetClientResourceScopes again", func(w time.Time) error {
			return s.SetClientResourceScopes(ctx, cli.ID, []string{"reports:read", "reports:write"}, w)
		}, func(c *storage.Client) {}},
		{"SetClientResourceScopes to replace them", func(w time.Time) error {
			return s.SetClientResourceScopes(ctx, cli.ID, []string{"reports:read"}, w)
		}, func(c *storage.Client) { c.ResourceScopes = []string{"reports:read"} }},
		{"SetClientScopes", func(w time.Time) error { return s.SetClientScopes(ctx, cli.ID, []string{"openid", "notes:read"}, w) },
			func(c *storage.Client) { c.Scopes = []string{"openid", "notes:read"} }},
		{"SetClientScopes again", func(w time.Time) error { return s.SetClientScopes(ctx, cli.ID, []string{"openid", "notes:read"}, w) },
			func(c *storage.Client) {}},
		{"SetClientScopes to none", func(w time.Time) error { return s.SetClientScopes(ctx, cli.ID, []string{}, w) },
			func(c *storage.Client) { c.Scopes = []string{} }},
		{"SetClientScopes to nil", func(w time.Time) error { return s.SetClientScopes(ctx, cli.ID, nil, w) },
			func(c *storage.Client) { c.Scopes = nil }},
		{"SetClientScopes back", func(w time.Time) error { return s.SetClientScopes(ctx, cli.ID, []string{"openid"}, w) },
			func(c *storage.Client) { c.Scopes = []string{"openid"} }},
		{"SetClientRedirectURIs", func(w time.Time) error {
			return s.SetClientRedirectURIs(ctx, cli.ID, []string{"http://127.0.0.1/cb", "com.example.cli:/cb"}, w)
		}, func(c *storage.Client) { c.RedirectURIs = []string{"http://127.0.0.1/cb", "com.example.cli:/cb"} }},
		{"SetClientRedirectURIs again", func(w time.Time) error {
			return s.SetClientRedirectURIs(ctx, cli.ID, []string{"http://127.0.0.1/cb", "com.example.cli:/cb"}, w)
		}, func(c *storage.Client) {}},
		{"SetClientRedirectURIs to none", func(w time.Time) error { return s.SetClientRedirectURIs(ctx, cli.ID, []string{}, w) },
			func(c *storage.Client) { c.RedirectURIs = []string{} }},
		{"SetClientIDTokenAlg", func(w time.Time) error { return s.SetClientIDTokenAlg(ctx, cli.ID, "EdDSA", w) },
			func(c *storage.Client) { c.IDTokenAlg = "EdDSA" }},
		{"SetClientIDTokenAlg again", func(w time.Time) error { return s.SetClientIDTokenAlg(ctx, cli.ID, "EdDSA", w) },
			func(c *storage.Client) {}},
		{"SetClientDisabled(true)", func(w time.Time) error { return s.SetClientDisabled(ctx, cli.ID, true, w) },
			func(c *storage.Client) { c.Disabled = true }},
		{"SetClientDisabled(true) again", func(w time.Time) error { return s.SetClientDisabled(ctx, cli.ID, true, w) },
			func(c *storage.Client) {}},
		{"SetClientResourceAudience to clear it", func(w time.Time) error { return s.SetClientResourceAudience(ctx, cli.ID, "", w) },
			func(c *storage.Client) { c.ResourceAudience = "" }},
		{"SetClientDisabled(false)", func(w time.Time) error { return s.SetClientDisabled(ctx, cli.ID, false, w) },
			func(c *storage.Client) { c.Disabled = false }},
		{"SetClientIDTokenAlg to clear it", func(w time.Time) error { return s.SetClientIDTokenAlg(ctx, cli.ID, "", w) },
			func(c *storage.Client) { c.IDTokenAlg = "" }},
		{"SetClientResourceScopes to clear them", func(w time.Time) error { return s.SetClientResourceScopes(ctx, cli.ID, nil, w) },
			func(c *storage.Client) { c.ResourceScopes = nil }},
		{"SetClientDPoPBound(true)", func(w time.Time) error { return s.SetClientDPoPBound(ctx, cli.ID, true, w) },
			func(c *storage.Client) { c.DPoPBound = true }},
		{"SetClientDPoPBound(true) again", func(w time.Time) error { return s.SetClientDPoPBound(ctx, cli.ID, true, w) },
			func(c *storage.Client) {}},
		{"SetClientDPoPBound(false)", func(w time.Time) error { return s.SetClientDPoPBound(ctx, cli.ID, false, w) },
			func(c *storage.Client) { c.DPoPBound = false }},
		{"SetClientRequirePAR(true)", func(w time.Time) error { return s.SetClientRequirePAR(ctx, cli.ID, true, w) },
			func(c *storage.Client) { c.RequirePAR = true }},
		{"SetClientRequirePAR(true) again", func(w time.Time) error { return s.SetClientRequirePAR(ctx, cli.ID, true, w) },
			func(c *storage.Client) {}},
		{"SetClientRequirePAR(false)", func(w time.Time) error { return s.SetClientRequirePAR(ctx, cli.ID, false, w) },
			func(c *storage.Client) { c.RequirePAR = false }},
		{"SetClientRequireMFA(true)", func(w time.Time) error { return s.SetClientRequireMFA(ctx, cli.ID, true, w) },
			func(c *storage.Client) { c.RequireMFA = true }},
		{"SetClientRequireMFA(true) again", func(w time.Time) error { return s.SetClientRequireMFA(ctx, cli.ID, true, w) },
			func(c *storage.Client) {}},
		{"SetClientRequireMFA(false)", func(w time.Time) error { return s.SetClientRequireMFA(ctx, cli.ID, false, w) },
			func(c *storage.Client) { c.RequireMFA = false }},
		{"SetClientAuthentication private_key_jwt", func(w time.Time) error { return s.SetClientAuthentication(ctx, cli.ID, keyAuth, w) },
			func(c *storage.Client) {
				c.AuthMethod, c.SecretHash, c.JWKS, c.JWKSURI = keyAuth.AuthMethod, keyAuth.SecretHash, keyAuth.JWKS, keyAuth.JWKSURI
			}},
		{"SetClientAuthentication jwks_uri", func(w time.Time) error { return s.SetClientAuthentication(ctx, cli.ID, uriAuth, w) },
			func(c *storage.Client) {
				c.AuthMethod, c.SecretHash, c.JWKS, c.JWKSURI = uriAuth.AuthMethod, uriAuth.SecretHash, uriAuth.JWKS, uriAuth.JWKSURI
			}},
		{"SetClientAuthentication secret", func(w time.Time) error { return s.SetClientAuthentication(ctx, cli.ID, secretAuth, w) },
			func(c *storage.Client) {
				c.AuthMethod, c.SecretHash, c.JWKS, c.JWKSURI = secretAuth.AuthMethod, secretAuth.SecretHash, secretAuth.JWKS, secretAuth.JWKSURI
			}},
	} {
		when := at(time.Duration(i+2) * time.Hour)
		must(t, tc.set(when), tc.name)
		tc.edit(&wantCli)
		wantCli.UpdatedAt = when
		got, err := s.GetClient(ctx, cli.ID)
		must(t, err, "GetClient after "+tc.name)
		checkEqual(t, "after "+tc.name, got, wantCli)
	}
	got, err = s.GetClient(ctx, api.ID)
	must(t, err, "GetClient")
	checkEqual(t, "another client after the setters", got, api)

	must(t, s.DeleteClient(ctx, webapp.ID), "DeleteClient")
	_, err = s.GetClient(ctx, webapp.ID)
	wantErr(t, err, storage.ErrNotFound, "GetClient after DeleteClient")
}
