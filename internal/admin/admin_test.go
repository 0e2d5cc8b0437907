package admin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

func TestValidateRedirectURI(t *testing.T) {
	tests := []struct {
		uri  string
		want string // "" = valid
	}{
		{"https://app.example.com/callback", ""},
		{"https://app.example.com:8443/cb?x=1", ""},
		{"http://127.0.0.1:5000/callback", ""},
		{"http://[::1]/callback", ""},
		{"http://localhost:8080/cb", ""},
		{"com.example.app:/oauth2redirect", ""},
		{"/callback", "is relative; " + redirectURIRule},
		{"callback", "is relative; " + redirectURIRule},
		{"https://app.example.com/cb#frag", "has a fragment; " + redirectURIRule},
		{"https://app.example.com/cb#", "fragment"},
		{"http://app.example.com/callback", "uses plain http on a host that is not loopback; " + redirectURIRule},
		{"http://10.0.0.1/callback", "plain http"},
		{"https:///nohost", "no host"},
		{"https://user:pw@app.example.com/cb", "user information"},
		{"javascript:alert(1)", "forbidden scheme"},
		{"myapp:/cb", "reversed domain name"},
		{"https://app.example.com/%zz", "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			err := ValidateRedirectURI(tt.uri)
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

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), storagetest.SQLite(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestAddUser(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	u, err := AddUser(ctx, st, NewUser{Username: "alice", Email: "alice@example.com", Name: "Alice", Password: "correct horse battery"}, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.PasswordHash == "correct horse battery" || !strings.HasPrefix(got.PasswordHash, "$argon2id$") {
		t.Fatalf("stored %+v", got)
	}
	if ok, err := password.Verify("correct horse battery", got.PasswordHash); !ok || err != nil {
		t.Fatalf("password does not verify: %v", err)
	}

	bad := []struct {
		name string
		u    NewUser
		want string
	}{
		{"duplicate", NewUser{Username: "alice", Password: "another password"}, "already exists"},
		{"empty username", NewUser{Username: "", Password: "long enough"}, "username"},
		{"spaces", NewUser{Username: "a b", Password: "long enough"}, "username"},
		{"bad email", NewUser{Username: "bob", Email: "bob", Password: "long enough"}, "email"},
		{"short password", NewUser{Username: "bob", Password: "short"}, "password"},
		{"newline in name", NewUser{Username: "bob", Name: "Bob\nEvil", Password: "long enough"}, "name"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AddUser(ctx, st, tt.u, now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := AddUser(ctx, st, NewUser{Username: "alice", Password: "another password"}, now); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate user: %v is not ErrAlreadyExists", err)
	}

	if err := RemoveUser(ctx, st, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveUser(ctx, st, "alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestAddClient(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()

	c, plain, err := AddClient(ctx, st, NewClient{ID: "myapp", Name: "My app", RedirectURIs: []string{"https://myapp.example.com/cb"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) < 43 { // 256 bits in base64url
		t.Fatalf("secret %d characters: want at least 256 bits", len(plain))
	}
	stored, err := st.GetClient(ctx, "myapp")
	if err != nil {
		t.Fatal(err)
	}
	if stored.SecretHash == plain || !secret.EqualHash(stored.SecretHash, secret.HashToken(plain)) {
		t.Fatal("the stored secret must be the hash of the printed one, never the secret")
	}
	if strings.Join(c.GrantTypes, ",") != "authorization_code,refresh_token" || len(c.Scopes) != 4 {
		t.Fatalf("defaults: %v %v", c.GrantTypes, c.Scopes)
	}

	pub, plain, err := AddClient(ctx, st, NewClient{ID: "cli", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}}, now)
	if err != nil || plain != "" || !pub.Public {
		t.Fatalf("public client: %v %q", err, plain)
	}

	bad := []struct {
		name string
		c    NewClient
		want string
	}{
		{"duplicate", NewClient{ID: "myapp", RedirectURIs: []string{"https://a.example/cb"}}, "already exists"},
		{"bad id", NewClient{ID: "my app", RedirectURIs: []string{"https://a.example/cb"}}, "client ID"},
		{"relative redirect", NewClient{ID: "x1", RedirectURIs: []string{"/cb"}}, "absolute"},
		{"fragment", NewClient{ID: "x2", RedirectURIs: []string{"https://a.example/cb#f"}}, "fragment"},
		{"plain http", NewClient{ID: "x3", RedirectURIs: []string{"http://a.example/cb"}}, "plain http"},
		{"no redirect", NewClient{ID: "x4"}, "--redirect-uri"},
		{"implicit", NewClient{ID: "x5", GrantTypes: []string{"implicit"}, RedirectURIs: []string{"https://a.example/cb"}}, "not supported"},
		{"password grant", NewClient{ID: "x6", GrantTypes: []string{"password"}}, "not supported"},
		{"public client credentials", NewClient{ID: "x7", Public: true, GrantTypes: []string{"client_credentials"}}, "public client"},
		{"bad scope", NewClient{ID: "x8", Scopes: []string{`a"b`}, RedirectURIs: []string{"https://a.example/cb"}}, "scope"},
		{"bad logout uri", NewClient{ID: "x9", RedirectURIs: []string{"https://a.example/cb"}, PostLogoutRedirectURIs: []string{"http://evil.example/"}}, "post-logout"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := AddClient(ctx, st, tt.c, now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}

	newSecret, err := RotateClientSecret(ctx, st, "myapp", now)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ = st.GetClient(ctx, "myapp")
	if !secret.EqualHash(stored.SecretHash, secret.HashToken(newSecret)) {
		t.Fatal("rotated secret not stored")
	}
	if _, err := RotateClientSecret(ctx, st, "cli", now); err == nil {
		t.Fatal("a public client has no secret to rotate")
	}
	if _, err := RotateClientSecret(ctx, st, "nope", now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("rotate unknown: %v", err)
	}
	if err := RemoveClient(ctx, st, "myapp"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveClient(ctx, st, "myapp"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestSeedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := t.TempDir()
	var todoCalls int
	opts := SeedOptions{
		WebappURL:      "https://127.0.0.1:5000",
		APIURL:         "https://127.0.0.1:8001",
		ResourceScopes: []string{"todos:read", "todos:write"},
		SecretFile:     func(id string) string { return filepath.Join(dir, id+".secret") },
		AddTodos: func(ctx context.Context, owner string, todos []map[string]any) error {
			todoCalls++
			if owner == "" || len(todos) == 0 {
				t.Errorf("AddTodos(%q, %d todos)", owner, len(todos))
			}
			return nil
		},
		Now: time.Now(),
	}
	first, err := Seed(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CreatedUser || len(first.DemoPassword) < 12 || len(first.Clients) != 2 || todoCalls != 1 {
		t.Fatalf("first seed: %+v, todo calls %d", first, todoCalls)
	}
	u, err := st.GetUserByUsername(ctx, DemoUsername)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := password.Verify(first.DemoPassword, u.PasswordHash); !ok {
		t.Fatal("the printed demo password does not verify")
	}
	webapp, err := st.GetClient(ctx, WebappClientID)
	if err != nil {
		t.Fatal(err)
	}
	if webapp.RedirectURIs[0] != "https://127.0.0.1:5000/callback" || !webapp.FirstParty || !strings.Contains(strings.Join(webapp.Scopes, " "), "todos:write") || webapp.IDTokenAlg != WebappIDTokenAlg || webapp.AuthMethod != storage.AuthSecretBasic {
		t.Fatalf("web app client: %+v", webapp)
	}
	api, err := st.GetClient(ctx, APIClientID)
	if err != nil {
		t.Fatal(err)
	}
	if api.ResourceAudience != "https://127.0.0.1:8001" || api.Public || len(api.GrantTypes) != 0 || webapp.ResourceAudience != "" || api.IDTokenAlg != "" {
		t.Fatalf("the API's client must be a resource server for the API's URL, and only it: %+v", api)
	}
	for _, id := range []string{WebappClientID, APIClientID} {
		fi, err := os.Stat(filepath.Join(dir, id+".secret"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s secret file mode %v, want 0600", id, fi.Mode().Perm())
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, WebappClientID+".secret"))
	if !secret.EqualHash(webapp.SecretHash, secret.HashToken(strings.TrimSpace(string(raw)))) {
		t.Fatal("secret file does not hold the registered secret")
	}

	second, err := Seed(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.CreatedUser || second.DemoPassword != "" || len(second.Clients) != 0 || todoCalls != 1 {
		t.Fatalf("second seed changed something: %+v, todo calls %d", second, todoCalls)
	}

	// A lost secret file gets a new secret; nothing else changes.
	os.Remove(filepath.Join(dir, WebappClientID+".secret"))
	third, err := Seed(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Clients) != 1 || third.Clients[0] != WebappClientID {
		t.Fatalf("third seed: %+v", third)
	}

	// A fixed demo password is honoured.
	st2 := openStore(t)
	opts.DemoPassword = "demo-password-from-env"
	opts.SecretFile = func(id string) string { return filepath.Join(t.TempDir(), id) }
	res, err := Seed(ctx, st2, opts)
	if err != nil || res.DemoPassword != "demo-password-from-env" {
		t.Fatalf("seed with fixed password: %+v %v", res, err)
	}
}

// TestSeedMakesTheAPIClientAResourceServer: on a database whose API client
// was registered without a resource audience, seeding again gives it the
// API's URL, once; another audience is the operator's and stops the seed
// with what to do.
func TestSeedMakesTheAPIClientAResourceServer(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := t.TempDir()
	now := time.Now()
	opts := SeedOptions{
		WebappURL:  "https://127.0.0.1:5000",
		APIURL:     "https://api.example.com",
		SecretFile: func(id string) string { return filepath.Join(dir, id+".secret") },
		Now:        now,
	}
	old := opts
	old.APIURL = ""
	if _, err := Seed(ctx, st, old); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetClient(ctx, APIClientID); c.ResourceAudience != "" {
		t.Fatalf("set up: the API's client is a resource server already: %q", c.ResourceAudience)
	}

	for i := range 2 {
		res, err := Seed(ctx, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Clients) != 0 || res.CreatedUser {
			t.Fatalf("seed %d created or re-keyed: %+v", i+1, res)
		}
		if c, _ := st.GetClient(ctx, APIClientID); c.ResourceAudience != opts.APIURL {
			t.Fatalf("seed %d: the API's client is a resource server for %q, want %q", i+1, c.ResourceAudience, opts.APIURL)
		}
	}

	moved := opts
	moved.APIURL = "https://api2.example.com"
	_, err := Seed(ctx, st, moved)
	if err == nil || !strings.Contains(err.Error(), "client update --id "+APIClientID+" --resource-server https://api2.example.com") {
		t.Fatalf("seed with another API URL: %v", err)
	}
	if c, _ := st.GetClient(ctx, APIClientID); c.ResourceAudience != opts.APIURL {
		t.Fatalf("the refused seed changed the audience to %q", c.ResourceAudience)
	}
}

// TestSeedGivesTheWebappClientES256: a web app client registered before it
// had an ID token algorithm gets WebappIDTokenAlg when seeding again; one
// an operator set to another algorithm keeps it.
func TestSeedGivesTheWebappClientES256(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := t.TempDir()
	opts := SeedOptions{
		WebappURL:  "https://127.0.0.1:5000",
		APIURL:     "https://api.example.com",
		SecretFile: func(id string) string { return filepath.Join(dir, id+".secret") },
		Now:        time.Now(),
	}
	if _, err := Seed(ctx, st, opts); err != nil {
		t.Fatal(err)
	}
	if err := st.SetClientIDTokenAlg(ctx, WebappClientID, "", opts.Now); err != nil { // as registered before
		t.Fatal(err)
	}
	for i := range 2 { // the second seed changes nothing
		res, err := Seed(ctx, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := st.GetClient(ctx, WebappClientID); c.IDTokenAlg != WebappIDTokenAlg || len(res.Clients) != 0 {
			t.Fatalf("seed %d: algorithm %q, re-keyed %v; want %q, none", i+1, c.IDTokenAlg, res.Clients, WebappIDTokenAlg)
		}
	}
	if err := SetIDTokenAlg(ctx, st, WebappClientID, "RS256", opts.Now); err != nil {
		t.Fatal(err)
	}
	if _, err := Seed(ctx, st, opts); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetClient(ctx, WebappClientID); c.IDTokenAlg != "RS256" {
		t.Fatalf("seeding replaced the operator's RS256 with %q", c.IDTokenAlg)
	}
}
