package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

func TestValidateResourceAudience(t *testing.T) {
	tests := []struct {
		aud  string
		want string // "" = valid
	}{
		{"https://api.example.com", ""},
		{"https://api.example.com:8443", ""},
		{"https://example.com/reports", ""},
		{"http://127.0.0.1:8001", ""},
		{"http://localhost:8001", ""},
		{"http://[::1]:8001", ""},
		{"api.example.com", "absolute URL"},
		{"/api", "absolute URL"},
		{"https://", "absolute URL"},
		{"urn:example:api", "absolute URL"},
		{"ftp://api.example.com", "https URL"},
		{"http://api.example.com", "plain http"},
		{"http://10.0.0.1:8001", "plain http"},
		{"https://user:pw@api.example.com", "user information"},
		{"https://api.example.com?x=1", "query"},
		{"https://api.example.com?", "query"},
		{"https://api.example.com#f", "fragment"},
		{"https://api.example.com#", "fragment"},
		{"https://api.example.com/", "must not end in /"},
		{"https://api.example.com/reports/", "must not end in /"},
		{"https://api.example.com/%zz", "invalid URL escape"},
		{"https://api.example.com/" + strings.Repeat("a", maxAudience), "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.aud, func(t *testing.T) {
			err := ValidateResourceAudience(tt.aud)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestResourceServers(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	const aud = "https://reports.example.com"

	rs, _, err := AddClient(ctx, st, NewClient{ID: "reports", GrantTypes: []string{}, Scopes: []string{}, ResourceAudience: aud}, now)
	if err != nil {
		t.Fatal(err)
	}
	if rs.ResourceAudience != aud {
		t.Fatalf("returned %q", rs.ResourceAudience)
	}
	if got, _ := st.GetClient(ctx, "reports"); got.ResourceAudience != aud {
		t.Fatalf("stored %q", got.ResourceAudience)
	}
	for _, tt := range []struct {
		name string
		c    NewClient
		want string
	}{
		{"bad audience", NewClient{ID: "r1", GrantTypes: []string{}, ResourceAudience: "http://reports.example.com"}, "plain http"},
		{"public", NewClient{ID: "r2", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}, ResourceAudience: aud}, "public client"},
		{"audience taken", NewClient{ID: "r3", GrantTypes: []string{}, ResourceAudience: aud}, "another client is the resource server"},
		{"resource scopes without a resource", NewClient{ID: "r4", RedirectURIs: []string{"https://app.example.com/cb"}, ResourceScopes: []string{"reports:read"}}, "only a resource server"},
		{"identity scope as a resource's", NewClient{ID: "r5", GrantTypes: []string{}, ResourceAudience: "https://r5.example.com", ResourceScopes: []string{"openid"}}, "OpenID Connect scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := AddClient(ctx, st, tt.c, now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
			if _, err := st.GetClient(ctx, tt.c.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a refused client was stored: %v", err)
			}
		})
	}

	if _, _, err := AddClient(ctx, st, NewClient{ID: "app", RedirectURIs: []string{"https://app.example.com/cb"}}, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AddClient(ctx, st, NewClient{ID: "cli", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}}, now); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, id, aud string
		want          string // error; "" = none
		stored        string // the client's audience afterwards
	}{
		{"set", "app", "https://app-api.example.com", "", "https://app-api.example.com"},
		{"change", "app", "https://other.example.com/api", "", "https://other.example.com/api"},
		{"invalid keeps the old one", "app", "https://other.example.com/", "must not end in /", "https://other.example.com/api"},
		{"clear", "app", "", "", ""},
		{"taken by another client", "app", aud, "another client is the resource server", ""},
		{"public", "cli", aud, "public client", ""},
		{"clearing a public client", "cli", "", "", ""},
		{"unknown", "nope", aud, "no client", ""},
	}
	for _, s := range steps {
		err := SetResourceAudience(ctx, st, s.id, s.aud, now)
		if s.want == "" && err != nil || s.want != "" && (err == nil || !strings.Contains(err.Error(), s.want)) {
			t.Fatalf("%s: error = %v, want %q", s.name, err, s.want)
		}
		if s.id == "nope" {
			if !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s: %v is not ErrNotFound", s.name, err)
			}
			continue
		}
		if got, _ := st.GetClient(ctx, s.id); got.ResourceAudience != s.stored {
			t.Fatalf("%s: stored %q, want %q", s.name, got.ResourceAudience, s.stored)
		}
	}
}

func TestEnsureResourceAudience(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	const aud = "https://api.example.com"
	addClients(t, st, now, []NewClient{
		{ID: "api", GrantTypes: []string{}, Scopes: []string{}},
		{ID: "set", GrantTypes: []string{}, Scopes: []string{}, ResourceAudience: "https://elsewhere.example.com"},
		{ID: "pub", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}},
	})
	tests := []struct {
		id          string
		wantChanged bool
		wantAud     string
	}{
		{"api", true, aud},
		{"api", false, aud}, // idempotent
		{"set", true, aud},  // follows the API's URL
		{"set", false, aud},
		{"pub", false, ""},
	}
	for _, tt := range tests {
		changed, err := EnsureResourceAudience(ctx, st, tt.id, aud, now)
		if err != nil {
			t.Fatalf("%s: %v", tt.id, err)
		}
		got, _ := st.GetClient(ctx, tt.id)
		if changed != tt.wantChanged || got.ResourceAudience != tt.wantAud {
			t.Errorf("%s: changed %v, audience %q; want %v, %q", tt.id, changed, got.ResourceAudience, tt.wantChanged, tt.wantAud)
		}
	}
	if _, err := EnsureResourceAudience(ctx, st, "nope", aud, now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	if _, err := EnsureResourceAudience(ctx, st, "api", "http://api.example.com", now); err == nil {
		t.Error("an invalid audience was accepted")
	}
}

func TestSetClientDisabled(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	for _, id := range []string{"app", "other"} {
		if _, _, err := AddClient(ctx, st, NewClient{ID: id, RedirectURIs: []string{"https://app.example.com/cb"}}, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, disabled := range []bool{true, true, false, false} {
		if err := SetClientDisabled(ctx, st, "app", disabled, now); err != nil {
			t.Fatalf("disabled=%v: %v", disabled, err)
		}
		if got, _ := st.GetClient(ctx, "app"); got.Disabled != disabled {
			t.Fatalf("stored disabled %v, want %v", got.Disabled, disabled)
		}
		if got, _ := st.GetClient(ctx, "other"); got.Disabled {
			t.Fatal("another client was disabled")
		}
	}
	if err := SetClientDisabled(ctx, st, "nope", true, now); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("unknown client: %v", err)
	}
}

// TestIDTokenAlg: a client is registered with any of IDTokenAlgs or none
// (RS256), and SetIDTokenAlg changes it; any other name, HMAC and none
// included, is refused with the list of supported ones and stores nothing.
func TestIDTokenAlg(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	for _, alg := range append([]string{""}, IDTokenAlgs()...) {
		id := "app-" + strings.ToLower(alg)
		c, _, err := AddClient(ctx, st, NewClient{ID: id, RedirectURIs: []string{"https://a.example/cb"}, IDTokenAlg: alg}, now)
		if err != nil {
			t.Fatalf("AddClient with %q: %v", alg, err)
		}
		if got, _ := st.GetClient(ctx, id); c.IDTokenAlg != alg || got.IDTokenAlg != alg {
			t.Errorf("AddClient with %q: returned %q, stored %q", alg, c.IDTokenAlg, got.IDTokenAlg)
		}
	}
	for _, alg := range []string{"HS256", "none", "es256", "RS512", "PS256", " ES256", "EdDSA "} {
		t.Run(alg, func(t *testing.T) {
			_, _, err := AddClient(ctx, st, NewClient{ID: "bad", RedirectURIs: []string{"https://a.example/cb"}, IDTokenAlg: alg}, now)
			if err == nil || !strings.Contains(err.Error(), "RS256, ES256, EdDSA") {
				t.Errorf("AddClient with %q: %v, want the supported algorithms named", alg, err)
			}
			if _, err := st.GetClient(ctx, "bad"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("a client with %q was stored", alg)
			}
			if err := SetIDTokenAlg(ctx, st, "app-", alg, now); err == nil {
				t.Errorf("SetIDTokenAlg with %q accepted", alg)
			}
		})
	}
	for _, alg := range []string{"EdDSA", "RS256", ""} {
		if err := SetIDTokenAlg(ctx, st, "app-", alg, now); err != nil {
			t.Fatalf("SetIDTokenAlg %q: %v", alg, err)
		}
		if got, _ := st.GetClient(ctx, "app-"); got.IDTokenAlg != alg {
			t.Errorf("after SetIDTokenAlg %q: %q", alg, got.IDTokenAlg)
		}
	}
	if err := SetIDTokenAlg(ctx, st, "nope", "ES256", now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
}

// TestEnsureIDTokenAlg: a client registered with no ID token algorithm
// gets the one asked, once; one registered with an algorithm, RS256
// included, keeps it.
func TestEnsureIDTokenAlg(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	addClients(t, st, now, []NewClient{
		{ID: "unset", RedirectURIs: []string{"https://a.example/cb"}},
		{ID: "rsa", RedirectURIs: []string{"https://a.example/cb"}, IDTokenAlg: "RS256"},
		{ID: "ed", RedirectURIs: []string{"https://a.example/cb"}, IDTokenAlg: "EdDSA"},
	})
	for _, tt := range []struct {
		id          string
		wantChanged bool
		want        string
	}{
		{"unset", true, "ES256"},
		{"unset", false, "ES256"}, // idempotent
		{"rsa", false, "RS256"},
		{"ed", false, "EdDSA"},
	} {
		changed, err := EnsureIDTokenAlg(ctx, st, tt.id, "ES256", now)
		if err != nil {
			t.Fatalf("%s: %v", tt.id, err)
		}
		got, _ := st.GetClient(ctx, tt.id)
		if changed != tt.wantChanged || got.IDTokenAlg != tt.want {
			t.Errorf("%s: changed %v, algorithm %q; want %v, %q", tt.id, changed, got.IDTokenAlg, tt.wantChanged, tt.want)
		}
	}
	if _, err := EnsureIDTokenAlg(ctx, st, "nope", "ES256", now); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	if _, err := EnsureIDTokenAlg(ctx, st, "unset", "HS256", now); err == nil {
		t.Error("HS256 was accepted")
	}
}

func TestSetResourceScopes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	if _, _, err := AddClient(ctx, st, NewClient{ID: "reports", GrantTypes: []string{}, Scopes: []string{},
		ResourceAudience: "https://reports.example.com", ResourceScopes: []string{"reports:read"}}, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AddClient(ctx, st, NewClient{ID: "app", RedirectURIs: []string{"https://app.example.com/cb"}}, now); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name, id string
		scopes   []string
		want     string   // error; "" = none
		stored   []string // the resource server's scopes afterwards
	}{
		{"replace", "reports", []string{"reports:read", "reports:write"}, "", []string{"reports:read", "reports:write"}},
		{"bad character keeps them", "reports", []string{"reports read\""}, "does not allow", []string{"reports:read", "reports:write"}},
		{"identity scope", "reports", []string{"email"}, "OpenID Connect scope", []string{"reports:read", "reports:write"}},
		{"not a resource server", "app", []string{"app:read"}, "only a resource server", nil},
		{"clear", "reports", []string{}, "", nil},
		{"unknown", "nope", []string{"x:y"}, "no client", nil},
	} {
		err := SetResourceScopes(ctx, st, s.id, s.scopes, now)
		if s.want == "" && err != nil || s.want != "" && (err == nil || !strings.Contains(err.Error(), s.want)) {
			t.Fatalf("%s: error = %v, want %q", s.name, err, s.want)
		}
		if s.id == "reports" {
			got, _ := st.GetClient(ctx, "reports")
			if !slices.Equal(got.ResourceScopes, s.stored) && !(len(got.ResourceScopes) == 0 && len(s.stored) == 0) {
				t.Fatalf("%s: stored %v, want %v", s.name, got.ResourceScopes, s.stored)
			}
		}
	}
}

// TestSetClientScopes: the scopes a client may be granted are replaced
// (repeats dropped), the change is reported, and a refused value changes
// nothing: a malformed scope, none for a client whose grants need one, an
// unknown client.
func TestSetClientScopes(t *testing.T) {
	ctx := context.Background()
	st, now := openListClients(t)
	runListCases(t, []listCase{
		{"add and remove", "app", []string{"openid", "profile", "notes:read", "openid"}, "",
			Change{Added: []string{"notes:read"}, Removed: []string{"email", "offline_access"}}, []string{"openid", "profile", "notes:read"}},
		{"the same again", "app", []string{"openid", "profile", "notes:read"}, "", Change{}, []string{"openid", "profile", "notes:read"}},
		{"a malformed scope", "app", []string{"openid", "notes\"read"}, "does not allow", Change{}, []string{"openid", "profile", "notes:read"}},
		{"none for authorization_code", "app", []string{}, `client "app" uses authorization_code: it needs at least one scope`, Change{}, []string{"openid", "profile", "notes:read"}},
		{"none for client_credentials", "batch", nil, `client "batch" uses client_credentials: it needs at least one scope`, Change{}, []string{"todos:read"}},
		{"replace a job's", "batch", []string{"todos:read", "todos:write"}, "", Change{Added: []string{"todos:write"}}, []string{"todos:read", "todos:write"}},
		{"none for refresh_token alone", "refresher", []string{}, "", Change{Removed: []string{"openid"}}, []string{}},
		{"a resource server", "reports", []string{"openid"}, "", Change{Added: []string{"openid"}}, []string{"openid"}},
		{"unknown client", "nope", []string{"openid"}, `no client "nope"`, Change{}, nil},
	}, func(id string, scopes []string) (Change, error) { return SetClientScopes(ctx, st, id, scopes, now) },
		func(c storage.Client) []string { return c.Scopes }, st)
}

// TestSetClientRedirectURIs: a client's redirect URIs are replaced, each
// held to the rule of registration, and a refused value changes nothing.
func TestSetClientRedirectURIs(t *testing.T) {
	ctx := context.Background()
	st, now := openListClients(t)
	runListCases(t, []listCase{
		{"add one", "app", []string{"https://app.example.com/cb", "http://127.0.0.1:9000/cb"}, "",
			Change{Added: []string{"http://127.0.0.1:9000/cb"}}, []string{"https://app.example.com/cb", "http://127.0.0.1:9000/cb"}},
		{"replace", "app", []string{"https://app2.example.com/cb", "https://app2.example.com/cb"}, "",
			Change{Added: []string{"https://app2.example.com/cb"}, Removed: []string{"https://app.example.com/cb", "http://127.0.0.1:9000/cb"}},
			[]string{"https://app2.example.com/cb"}},
		{"plain http", "app", []string{"http://app.example.com/cb"}, "plain http on a host that is not loopback", Change{}, []string{"https://app2.example.com/cb"}},
		{"none for authorization_code", "app", []string{}, `client "app" uses authorization_code: it needs at least one redirect URI`, Change{}, []string{"https://app2.example.com/cb"}},
		{"none for a job", "batch", []string{}, "", Change{}, []string{}},
		{"unknown client", "nope", []string{"https://x.example.com/cb"}, `no client "nope"`, Change{}, nil},
	}, func(id string, uris []string) (Change, error) { return SetClientRedirectURIs(ctx, st, id, uris, now) },
		func(c storage.Client) []string { return c.RedirectURIs }, st)
}

// addClients registers the clients, failing the test on an error.
func addClients(t *testing.T, st *sqlstore.Store, now time.Time, clients []NewClient) {
	t.Helper()
	for _, c := range clients {
		if _, _, err := AddClient(context.Background(), st, c, now); err != nil {
			t.Fatal(err)
		}
	}
}

// openListClients opens a store with the clients whose lists the
// runListCases cases replace: a web app (authorization_code), a job
// (client_credentials), one that only refreshes, and a resource server.
func openListClients(t *testing.T) (*sqlstore.Store, time.Time) {
	t.Helper()
	st, now := openStore(t), time.Now()
	addClients(t, st, now, []NewClient{
		{ID: "app", RedirectURIs: []string{"https://app.example.com/cb"}},
		{ID: "batch", GrantTypes: []string{"client_credentials"}, Scopes: []string{"todos:read"}},
		{ID: "refresher", GrantTypes: []string{"refresh_token"}, Scopes: []string{"openid"}},
		{ID: "reports", GrantTypes: []string{}, Scopes: []string{}, ResourceAudience: "https://reports.example.com"},
	})
	return st, now
}

// listCase is one replacement of a client's list (scopes or redirect
// URIs): the error wanted ("" = none), the change reported, and the list
// stored afterwards (nil: not read back).
type listCase struct {
	name, id string
	values   []string
	want     string
	change   Change
	stored   []string
}

// runListCases runs the cases in order, each replacing a client's list
// with set and reading it back from st with list.
func runListCases(t *testing.T, cases []listCase, set func(id string, values []string) (Change, error),
	list func(storage.Client) []string, st *sqlstore.Store) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			change, err := set(c.id, c.values)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("error = %v, want %q", err, c.want)
			}
			if !slices.Equal(change.Added, c.change.Added) || !slices.Equal(change.Removed, c.change.Removed) {
				t.Errorf("change %+v, want %+v", change, c.change)
			}
			if c.stored == nil {
				return
			}
			got, err := st.GetClient(context.Background(), c.id)
			if err != nil || !slices.Equal(list(got), c.stored) {
				t.Errorf("stored %q (%v), want %q", list(got), err, c.stored)
			}
		})
	}
}
