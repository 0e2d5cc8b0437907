package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Built-in names the demo setup uses.
const (
	DemoUsername   = "demo"
	WebappClientID = "gatehouse-webapp"
	APIClientID    = "gatehouse-api"
	CLIClientID    = "gatehouse-cli"
)

// WebappIDTokenAlg is the ID token algorithm the built-in web app's client
// is registered with: ES256 signs in a small fraction of RS256's time
// (docs/performance.md), and the web app's verifier expects it.
const WebappIDTokenAlg = "ES256"

// SeedOptions says what the demo setup registers.
type SeedOptions struct {
	WebappURL      string   // the web app's public URL: its redirect URIs derive from it
	APIURL         string   // the API's public URL, the audience of access tokens
	ResourceScopes []string // the API's scopes (todos:read, todos:write), granted to the web app
	// DemoPassword is the demo user's password; empty means a random one.
	DemoPassword string
	// SecretFile returns where a built-in client's secret is kept.
	SecretFile func(clientID string) string
	// AddTodos stores the demo user's first todos (nil: none).
	AddTodos func(ctx context.Context, owner string, todos []map[string]any) error
	Now      time.Time
}

// SeedResult says what Seed did.
type SeedResult struct {
	// DemoPassword is set only when the demo user was created now: it is
	// shown once and stored nowhere but as a hash.
	DemoPassword string
	CreatedUser  bool
	Clients      []string // built-in confidential clients created or given a new secret now
	// CLIClient is set when the CLI's public client (CLIClientID) was
	// registered now.
	CLIClient bool
}

// SeedStore is what Seed needs of the store.
type SeedStore interface {
	storage.Users
	storage.Clients
}

// Seed creates the demo setup: the built-in web app's and API's client
// registrations (their secrets written to files only the server can read;
// the API's a resource server for o.APIURL, so it may introspect the access
// tokens meant for the API), the CLI's public client (EnsureCLIClient), a
// demo user, and a few todos for it. It is
// idempotent: what exists is left as it is, except that a built-in client
// whose secret file is missing gets a new secret, the API's client, if it
// is not a resource server yet, becomes one, and the web app's client, if
// it is registered with no ID token algorithm, gets WebappIDTokenAlg.
func Seed(ctx context.Context, st SeedStore, o SeedOptions) (SeedResult, error) {
	var res SeedResult
	scopes := append([]string{"openid", "profile", "email", "offline_access"}, o.ResourceScopes...)
	builtins := []NewClient{
		{
			ID: WebappClientID, Name: "Gatehouse web app", FirstParty: true,
			RedirectURIs:           []string{o.WebappURL + "/callback"},
			PostLogoutRedirectURIs: []string{o.WebappURL + "/"},
			GrantTypes:             []string{"authorization_code", "refresh_token"},
			Scopes:                 scopes,
			IDTokenAlg:             WebappIDTokenAlg,
			// The web app sends its secret in the Authorization header
			// (oauth2.AuthStyleInHeader).
			AuthMethod: storage.AuthSecretBasic,
		},
		// The resource API authenticates only to introspect the access
		// tokens meant for it: no grants, no scopes.
		{ID: APIClientID, Name: "Gatehouse API", FirstParty: true, GrantTypes: []string{}, Scopes: []string{}, ResourceAudience: o.APIURL},
	}
	for _, c := range builtins {
		made, err := ensureClient(ctx, st, c, o.SecretFile(c.ID), o.Now)
		if err != nil {
			return res, err
		}
		if made {
			res.Clients = append(res.Clients, c.ID)
		}
	}
	made, err := EnsureCLIClient(ctx, st, o.ResourceScopes, o.Now)
	if err != nil {
		return res, err
	}
	res.CLIClient = made

	_, err = st.GetUserByUsername(ctx, DemoUsername)
	if err == nil {
		return res, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return res, fmt.Errorf("looking up the demo user: %w", err)
	}
	pw := o.DemoPassword
	if pw == "" {
		if pw, err = secret.NewToken(); err != nil {
			return res, fmt.Errorf("generating the demo password: %w", err)
		}
		pw = pw[:16]
	}
	u, err := AddUser(ctx, st, NewUser{Username: DemoUsername, Email: "demo@example.com", Name: "Demo User", Password: pw}, o.Now)
	if err != nil {
		return res, fmt.Errorf("demo user: %w", err)
	}
	res.DemoPassword, res.CreatedUser = pw, true
	if o.AddTodos != nil {
		todos := []map[string]any{
			{"title": "Try Gatehouse's web app", "done": true, "tags": []string{"demo"}},
			{"title": "Read how the authorization code flow works", "done": false, "tags": []string{"demo", "oauth"}},
			{"title": "Call the API with curl and a bearer token", "done": false},
		}
		if err := o.AddTodos(ctx, u.ID, todos); err != nil {
			return res, fmt.Errorf("demo todos: %w", err)
		}
	}
	return res, nil
}

// EnsureCLIClient registers the public client `gatehouse token` signs
// people in with, CLIClientID, unless a client with that ID exists: one
// that does is kept as it is, since an operator may have changed or
// disabled it. The client has no secret (a program on the person's
// computer cannot keep one); it redeems its codes with PKCE and receives
// them on a loopback redirect, whose port the authorization server lets
// vary (RFC 8252 §7.3). It may ask for the identity scopes and
// resourceScopes, the API's. It reports whether it registered the client.
func EnsureCLIClient(ctx context.Context, clients storage.Clients, resourceScopes []string, now time.Time) (bool, error) {
	switch _, err := clients.GetClient(ctx, CLIClientID); {
	case err == nil:
		return false, nil
	case !errors.Is(err, storage.ErrNotFound):
		return false, fmt.Errorf("looking up client %q: %w", CLIClientID, err)
	}
	c := NewClient{
		ID: CLIClientID, Name: "Gatehouse CLI", Public: true,
		RedirectURIs: []string{"http://127.0.0.1/callback"},
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		Scopes:       append([]string{"openid", "profile", "offline_access"}, resourceScopes...),
	}
	switch _, _, err := AddClient(ctx, clients, c, now); {
	case errors.Is(err, storage.ErrAlreadyExists):
		// Another instance starting on the same database registered it.
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// ensureClient registers c unless it exists, and (re)writes its secret file
// when that is missing. An existing client that should be a resource server
// and is none becomes one; one that should have an ID token algorithm and
// has none gets it (EnsureIDTokenAlg). It reports whether it created or
// re-keyed the client.
func ensureClient(ctx context.Context, clients storage.Clients, c NewClient, secretFile string, now time.Time) (bool, error) {
	existing, err := clients.GetClient(ctx, c.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		_, plain, err := AddClient(ctx, clients, c, now)
		if err != nil {
			return false, err
		}
		return true, WriteSecretFile(secretFile, plain)
	case err != nil:
		return false, fmt.Errorf("looking up client %q: %w", c.ID, err)
	}
	if c.ResourceAudience != "" {
		switch existing.ResourceAudience {
		case "":
			if _, err := EnsureResourceAudience(ctx, clients, c.ID, c.ResourceAudience, now); err != nil {
				return false, err
			}
		case c.ResourceAudience:
		default:
			return false, fmt.Errorf("client %q is a resource server for %s, not %s: change it (gatehouse client update --id %s --resource-server %s) or keep the API's URL", c.ID, existing.ResourceAudience, c.ResourceAudience, c.ID, c.ResourceAudience)
		}
	}
	if c.IDTokenAlg != "" {
		if _, err := EnsureIDTokenAlg(ctx, clients, c.ID, c.IDTokenAlg, now); err != nil {
			return false, err
		}
	}
	if _, err := os.Stat(secretFile); err == nil {
		if !slices.Equal(existing.RedirectURIs, c.RedirectURIs) {
			return false, fmt.Errorf("client %q is registered for %v, not %v: remove it (gatehouse client remove %s) or keep the web app's URL", c.ID, existing.RedirectURIs, c.RedirectURIs, c.ID)
		}
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("reading %s: %w", secretFile, err)
	}
	plain, err := RotateClientSecret(ctx, clients, c.ID, now)
	if err != nil {
		return false, err
	}
	return true, WriteSecretFile(secretFile, plain)
}
