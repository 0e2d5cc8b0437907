package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// writeKeySet writes a JSON Web Key Set of one new P-256 key to a file in
// dir and returns its path and text: the public half, or with private set
// the key pair.
func writeKeySet(t *testing.T, dir, name string, private bool) (path, text string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var key any = &k.PublicKey
	if private {
		key = k
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: name, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, string(b)
}

// withDataDir opens the store of a --data-dir, runs f on it and closes it,
// so that the commands run next see what f did.
func withDataDir(t *testing.T, dataDir string, f func(st *sqlstore.Store)) {
	t.Helper()
	var s config.Storage
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s.RegisterFlags(fs)
	if err := fs.Parse([]string{"--data-dir", dataDir}); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), &s)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f(st)
}

// TestClientAuthMethods: `client add` registers a client with one
// authentication method (--auth-method, private_key_jwt with --jwks FILE
// or --jwks-uri URL), `client set-auth` changes it (printing a new secret
// once when it is a secret method), `client list` shows it, and mistakes
// give one line and a non-zero exit code, changing nothing.
func TestClientAuthMethods(t *testing.T) {
	ctx := context.Background()
	data, files := t.TempDir(), t.TempDir()
	dir := []string{"--data-dir", data}
	jwks, jwksText := writeKeySet(t, files, "k1", false)
	jwks2, jwks2Text := writeKeySet(t, files, "k2", false)
	privateJWKS, _ := writeKeySet(t, files, "private", true)
	const uri = "https://keyed-uri.example.com/jwks.json"
	const secretRE = `[A-Za-z0-9_-]{43,}`

	steps := []cliStep{
		{[]string{"client", "add", "--id", "keyed", "--grant-types", "client_credentials", "--scopes", "todos:read", "--auth-method", "private_key_jwt", "--jwks", jwks}, 0, "^added client keyed\n$", ""},
		{[]string{"client", "add", "--id", "keyed-json", "--grant-types", "client_credentials", "--auth-method", "private_key_jwt", "--jwks", jwks, "--json"}, 0, `^\{"client_id":"keyed-json"\}\n$`, ""},
		{[]string{"client", "add", "--id", "keyed-uri", "--grant-types", "client_credentials", "--auth-method", "private_key_jwt", "--jwks-uri", uri}, 0, "^added client keyed-uri\n$", ""},
		{[]string{"client", "add", "--id", "post", "--redirect-uri", "https://post.example.com/cb", "--auth-method", "client_secret_post"}, 0, "^added client post\nclient secret \\(shown once\\): " + secretRE + "\n$", ""},
		{[]string{"client", "add", "--id", "basic", "--redirect-uri", "https://basic.example.com/cb"}, 0, "^added client basic\nclient secret \\(shown once\\): " + secretRE + "\n$", ""},
		{[]string{"client", "add", "--id", "cli", "--public", "--redirect-uri", "http://127.0.0.1/cb"}, 0, "^added client cli\n$", ""},

		{[]string{"client", "add", "--id", "x1", "--grant-types", "client_credentials", "--auth-method", "private_key_jwt", "--jwks", filepath.Join(files, "missing.json")}, 1, "^$", "--jwks: .*missing.json"},
		{[]string{"client", "add", "--id", "x2", "--grant-types", "client_credentials", "--auth-method", "private_key_jwt", "--jwks", privateJWKS}, 1, "^$", "register the public key only"},
		{[]string{"client", "add", "--id", "x3", "--grant-types", "client_credentials", "--jwks", jwks}, 1, "^$", "only for private_key_jwt, not client_secret_basic"},
		{[]string{"client", "add", "--id", "x4", "--grant-types", "client_credentials", "--auth-method", "private_key_jwt", "--jwks-uri", "http://keys.example.com/jwks.json"}, 1, "^$", "must be an https URL"},
		{[]string{"client", "add", "--id", "x5", "--grant-types", "client_credentials", "--auth-method", "private_key_jwt"}, 1, "^$", "needs the client's public keys"},
		{[]string{"client", "add", "--id", "x6", "--public", "--redirect-uri", "http://127.0.0.1/cb", "--auth-method", "client_secret_basic"}, 1, "^$", "public client authenticates with none"},
		{[]string{"client", "add", "--id", "x7", "--redirect-uri", "https://x7.example.com/cb", "--auth-method", "client_secret_jwt"}, 1, "^$", `"client_secret_jwt" is not supported`},

		{[]string{"client", "add", "--id", "bound", "--grant-types", "client_credentials", "--dpop-bound"}, 0, "^added client bound\nclient secret \\(shown once\\): " + secretRE + "\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"bound",[^}]*"dpop_bound_access_tokens":true,"require_pushed_authorization_requests":false}`, ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"basic",[^}]*"dpop_bound_access_tokens":false,"require_pushed_authorization_requests":false}`, ""},
		{[]string{"client", "update", "--id", "bound", "--dpop-bound=false"}, 0, "^client bound may send token requests without a DPoP proof\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"bound",[^}]*"dpop_bound_access_tokens":false,"require_pushed_authorization_requests":false}`, ""},
		{[]string{"client", "update", "--id", "bound", "--dpop-bound"}, 0, "^client bound must send a DPoP proof with every token request\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"bound",[^}]*"dpop_bound_access_tokens":true,"require_pushed_authorization_requests":false}`, ""},
		{[]string{"client", "add", "--id", "pushed", "--redirect-uri", "https://pushed.example.com/cb", "--require-par", "--json"}, 0, `^\{"client_id":"pushed","client_secret":"` + secretRE + `"\}\n$`, ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"pushed",[^}]*"require_pushed_authorization_requests":true}`, ""},
		{[]string{"client", "update", "--id", "pushed", "--require-par=false"}, 0, "^client pushed may send its authorization requests through the browser\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"pushed",[^}]*"require_pushed_authorization_requests":false}`, ""},
		{[]string{"client", "update", "--id", "pushed", "--require-par"}, 0, "^client pushed must push its authorization requests\n$", ""},
		{[]string{"client", "add", "--id", "fapi", "--redirect-uri", "https://fapi.example.com/cb", "--profile", "fapi2", "--jwks", jwks}, 0, "^added client fapi\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"fapi",[^}]*"token_endpoint_auth_method":"private_key_jwt","dpop_bound_access_tokens":true,"require_pushed_authorization_requests":true,"profile":"fapi2"}`, ""},
		{[]string{"client", "add", "--id", "x8", "--redirect-uri", "https://x8.example.com/cb", "--profile", "fapi2"}, 1, "^$", "needs the client's public keys"},
		{[]string{"client", "add", "--id", "x9", "--redirect-uri", "https://x9.example.com/cb", "--profile", "fapi2", "--auth-method", "client_secret_basic"}, 1, "^$", "FAPI 2.0 client authenticates with private_key_jwt"},
		{[]string{"client", "add", "--id", "x10", "--redirect-uri", "http://127.0.0.1/cb", "--public", "--profile", "fapi2"}, 1, "^$", "cannot be --public"},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"fapi",[^}]*"id_token_signed_response_alg":"ES256"`, ""},
		{[]string{"client", "add", "--id", "x12", "--redirect-uri", "https://x12.example.com/cb", "--profile", "fapi2", "--jwks", jwks, "--id-token-alg", "RS256"}, 1, "^$", "PS256, ES256 or EdDSA"},
		{[]string{"client", "add", "--id", "x11", "--redirect-uri", "https://x11.example.com/cb", "--profile", "fapi1"}, 1, "^$", `profile "fapi1" is not supported`},
		{[]string{"client", "set-auth", "--id", "fapi", "--auth-method", "client_secret_basic"}, 1, "^$", "registered under FAPI 2.0"},
		{[]string{"client", "rotate-secret", "--id", "keyed"}, 1, "^$", "private_key_jwt: it has no secret .*gatehouse client set-auth --id keyed --auth-method client_secret_basic"},
		{[]string{"client", "list"}, 0, `(?m)^CLIENT ID\s+NAME\s+TYPE\s+AUTH METHOD\s+GRANTS\s`, ""},
		{[]string{"client", "list"}, 0, `(?m)^basic\s+basic\s+confidential\s+client_secret_basic\s+authorization_code,refresh_token\s`, ""},
		{[]string{"client", "list"}, 0, `(?m)^cli\s+cli\s+public\s+none\s+authorization_code,refresh_token\s`, ""},
		{[]string{"client", "list"}, 0, `(?m)^keyed\s+keyed\s+confidential\s+private_key_jwt\s+client_credentials\s+todos:read\s`, ""},
		{[]string{"client", "list"}, 0, `(?m)^post\s+post\s+confidential\s+client_secret_post\s+authorization_code,refresh_token\s`, ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"keyed",[^}]*"token_endpoint_auth_method":"private_key_jwt"[,}]`, ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"keyed-uri",[^}]*"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"` + uri + `"[,}]`, ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"cli",[^}]*"token_endpoint_auth_method":"none"[,}]`, ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"post",[^}]*"token_endpoint_auth_method":"client_secret_post"[,}]`, ""},

		{[]string{"client", "set-auth", "--id", "keyed", "--auth-method", "client_secret_post"}, 0,
			"^client keyed authenticates with client_secret_post\nnew client secret for keyed \\(shown once\\): " + secretRE + "\n$", ""},
		{[]string{"client", "set-auth", "--id", "keyed", "--auth-method", "client_secret_basic", "--json"}, 0,
			`^\{"client_id":"keyed","client_secret":"` + secretRE + `","token_endpoint_auth_method":"client_secret_basic"\}\n$`, ""},
		{[]string{"client", "list"}, 0, `(?m)^keyed\s+keyed\s+confidential\s+client_secret_basic\s`, ""},
		{[]string{"client", "set-auth", "--id", "keyed", "--auth-method", "private_key_jwt", "--jwks-uri", uri}, 0, "^client keyed authenticates with private_key_jwt\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"keyed",[^}]*"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"` + uri + `"[,}]`, ""},
		{[]string{"client", "set-auth", "--id", "keyed", "--auth-method", "private_key_jwt", "--jwks", jwks2, "--json"}, 0, `^\{"client_id":"keyed","token_endpoint_auth_method":"private_key_jwt"\}\n$`, ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"keyed",[^}]*"token_endpoint_auth_method":"private_key_jwt"[,}]`, ""},

		{[]string{"client", "set-auth", "--id", "keyed", "--auth-method", "private_key_jwt", "--jwks", privateJWKS}, 1, "^$", "register the public key only"},
		{[]string{"client", "set-auth", "--id", "keyed", "--auth-method", "private_key_jwt", "--jwks", jwks, "--jwks-uri", uri}, 1, "^$", "not both"},
		{[]string{"client", "set-auth", "--id", "keyed", "--auth-method", "none"}, 1, "^$", "cannot use none"},
		{[]string{"client", "set-auth", "--id", "cli", "--auth-method", "client_secret_basic"}, 1, "^$", `client "cli" is public`},
		{[]string{"client", "set-auth", "--id", "nope", "--auth-method", "client_secret_basic"}, 1, "^$", `no client "nope"`},
		{[]string{"client", "set-auth", "--id", "keyed"}, 2, "^$", "--id and --auth-method are required"},
		{[]string{"client", "set-auth", "--auth-method", "client_secret_basic"}, 2, "^$", "--id and --auth-method are required"},
	}
	for _, s := range steps {
		_, stderr := runStep(t, ctx, dir, s)
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
			t.Fatalf("%v: stderr has %d lines, want at most one: %q", s.args, n+1, stderr)
		}
	}

	// What was stored: the files' key sets, the printed secret's hash, and
	// nothing of the refused registrations.
	_, stdout, _ := gatehouse(t, ctx, "", nil, append([]string{"client", "set-auth", "--id", "post", "--auth-method", "client_secret_basic", "--json"}, dir...)...)
	var printed struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(stdout), &printed); err != nil || printed.Secret == "" {
		t.Fatalf("set-auth --json: %q (%v)", stdout, err)
	}
	withDataDir(t, data, func(st *sqlstore.Store) {
		for id, want := range map[string]storage.Client{
			"keyed":      {AuthMethod: storage.AuthPrivateKeyJWT, JWKS: jwks2Text},
			"keyed-json": {AuthMethod: storage.AuthPrivateKeyJWT, JWKS: jwksText},
			"keyed-uri":  {AuthMethod: storage.AuthPrivateKeyJWT, JWKSURI: uri},
		} {
			got, err := st.GetClient(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.AuthMethod != want.AuthMethod || got.JWKS != want.JWKS || got.JWKSURI != want.JWKSURI || got.SecretHash != "" {
				t.Errorf("%s stored as %q, jwks %q, jwks_uri %q, secret hash %q; want %q %q %q and no secret", id, got.AuthMethod, got.JWKS, got.JWKSURI, got.SecretHash, want.AuthMethod, want.JWKS, want.JWKSURI)
			}
		}
		post, err := st.GetClient(ctx, "post")
		if err != nil {
			t.Fatal(err)
		}
		if post.AuthMethod != storage.AuthSecretBasic || !secret.EqualHash(post.SecretHash, secret.HashToken(printed.Secret)) {
			t.Errorf("after set-auth: %q, and the stored hash is not the printed secret's", post.AuthMethod)
		}
		clients, err := st.ListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(clients) != 9 {
			t.Errorf("%d clients stored, want the 9 added", len(clients))
		}
		// A client registered before clients had a method.
		now := time.Now()
		if err := st.CreateClient(ctx, storage.Client{ID: "legacy", Name: "legacy", SecretHash: secret.HashToken("x"), GrantTypes: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	})
	_, stdout, _ = gatehouse(t, ctx, "", nil, append([]string{"client", "list"}, dir...)...)
	if !regexp.MustCompile(`(?m)^legacy\s+legacy\s+confidential\s+client_secret_basic,client_secret_post\s+client_credentials\s`).MatchString(stdout) {
		t.Errorf("client list shows the legacy client as:\n%s", stdout)
	}
	_, stdout, _ = gatehouse(t, ctx, "", nil, append([]string{"client", "list", "--json"}, dir...)...)
	if !strings.Contains(stdout, `"token_endpoint_auth_method":"client_secret_basic,client_secret_post"`) {
		t.Errorf("client list --json shows the legacy client as:\n%s", stdout)
	}
}
