package admin

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// TestSeedRegistersTheCLIClient: the seed registers the public client of
// `gatehouse token` for a loopback redirect and the API's scopes, once; a
// database seeded without it gets it from EnsureCLIClient, and one an
// operator changed or disabled is kept as it is.
func TestSeedRegistersTheCLIClient(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := t.TempDir()
	now := time.Now()
	opts := SeedOptions{
		WebappURL:      "https://127.0.0.1:5000",
		APIURL:         "https://127.0.0.1:8001",
		ResourceScopes: []string{"todos:read", "todos:write"},
		SecretFile:     func(id string) string { return filepath.Join(dir, id+".secret") },
		Now:            now,
	}
	first, err := Seed(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CLIClient || slices.Contains(first.Clients, CLIClientID) {
		t.Fatalf("first seed: %+v, want the CLI's client registered, with no secret", first)
	}
	c, err := st.GetClient(ctx, CLIClientID)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Client{
		Name: "Gatehouse CLI", Public: true, AuthMethod: storage.AuthNone,
		RedirectURIs: []string{"http://127.0.0.1/callback"},
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		Scopes:       []string{"openid", "profile", "offline_access", "todos:read", "todos:write"},
	}
	if c.Name != want.Name || !c.Public || c.AuthMethod != want.AuthMethod || c.SecretHash != "" || c.FirstParty ||
		!slices.Equal(c.RedirectURIs, want.RedirectURIs) || !slices.Equal(c.GrantTypes, want.GrantTypes) || !slices.Equal(c.Scopes, want.Scopes) {
		t.Fatalf("CLI client: %+v", c)
	}

	second, err := Seed(ctx, st, opts)
	if err != nil || second.CLIClient {
		t.Fatalf("second seed: %+v, %v; want nothing registered", second, err)
	}

	tests := []struct {
		name    string
		prepare func(t *testing.T)
		want    bool // registered now
		check   func(t *testing.T, c storage.Client)
	}{
		{"seeded before the CLI's client existed", func(t *testing.T) {
			if err := RemoveClient(ctx, st, CLIClientID); err != nil {
				t.Fatal(err)
			}
		}, true, func(t *testing.T, c storage.Client) {
			if !c.Public || !slices.Equal(c.Scopes, want.Scopes) {
				t.Errorf("re-registered: %+v", c)
			}
		}},
		{"disabled by the operator", func(t *testing.T) {
			if err := SetClientDisabled(ctx, st, CLIClientID, true, now); err != nil {
				t.Fatal(err)
			}
		}, false, func(t *testing.T, c storage.Client) {
			if !c.Disabled {
				t.Error("the operator's disabled client was enabled again")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.prepare(t)
			made, err := EnsureCLIClient(ctx, st, opts.ResourceScopes, now)
			if err != nil || made != tt.want {
				t.Fatalf("EnsureCLIClient: %v, %v; want %v", made, err, tt.want)
			}
			c, err := st.GetClient(ctx, CLIClientID)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
