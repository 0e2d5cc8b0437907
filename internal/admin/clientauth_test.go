package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// keySet returns the text of a JSON Web Key Set holding one new P-256 key
// under kid: its public half, or with private set the key pair.
func keySet(t *testing.T, kid string, private bool) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var key any = &k.PublicKey
	if private {
		key = k
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAddClientAuthMethod: a client is stored with one explicit
// authentication method, by default none for a public client and
// client_secret_basic for a confidential one; only the two secret methods
// get a secret, and private_key_jwt takes exactly one of a valid key set
// and an https jwks_uri. Anything else is refused and stores nothing.
func TestAddClientAuthMethod(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	jwks := keySet(t, "k1", false)
	const cb, loopback = "https://app.example.com/cb", "http://127.0.0.1/cb"

	good := []struct {
		name       string
		c          NewClient
		wantMethod string
		wantSecret bool
	}{
		{"confidential default", NewClient{ID: "basic-default"}, storage.AuthSecretBasic, true},
		{"public default", NewClient{ID: "public-default", Public: true}, storage.AuthNone, false},
		{"public none", NewClient{ID: "public-none", Public: true, AuthMethod: "none"}, storage.AuthNone, false},
		{"basic", NewClient{ID: "basic", AuthMethod: "client_secret_basic"}, storage.AuthSecretBasic, true},
		{"post", NewClient{ID: "post", AuthMethod: "client_secret_post"}, storage.AuthSecretPost, true},
		{"private_key_jwt with jwks", NewClient{ID: "pkjwt", AuthMethod: "private_key_jwt", JWKS: jwks}, storage.AuthPrivateKeyJWT, false},
		{"private_key_jwt with jwks_uri", NewClient{ID: "pkjwt-uri", AuthMethod: "private_key_jwt", JWKSURI: "https://app.example.com/jwks.json?v=2"}, storage.AuthPrivateKeyJWT, false},
		{"private_key_jwt client_credentials", NewClient{ID: "pkjwt-batch", AuthMethod: "private_key_jwt", JWKS: jwks, GrantTypes: []string{"client_credentials"}}, storage.AuthPrivateKeyJWT, false},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if c.GrantTypes == nil {
				c.RedirectURIs = []string{cb}
				if c.Public {
					c.RedirectURIs = []string{loopback}
				}
			}
			rec, plain, err := AddClient(ctx, st, c, now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.GetClient(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.AuthMethod != tt.wantMethod || got.AuthMethod != tt.wantMethod {
				t.Errorf("method: returned %q, stored %q, want %q", rec.AuthMethod, got.AuthMethod, tt.wantMethod)
			}
			if tt.wantSecret {
				if len(plain) < 43 || !secret.EqualHash(got.SecretHash, secret.HashToken(plain)) {
					t.Errorf("secret %q, stored hash %q: want a 256-bit secret stored as its hash", plain, got.SecretHash)
				}
			} else if plain != "" || got.SecretHash != "" {
				t.Errorf("secret %q, stored hash %q: want none", plain, got.SecretHash)
			}
			if got.JWKS != c.JWKS || got.JWKSURI != c.JWKSURI {
				t.Errorf("stored keys %q %q, want %q %q", got.JWKS, got.JWKSURI, c.JWKS, c.JWKSURI)
			}
		})
	}

	pkjwt := func(id, jwks, uri string) NewClient {
		return NewClient{ID: id, RedirectURIs: []string{cb}, AuthMethod: "private_key_jwt", JWKS: jwks, JWKSURI: uri}
	}
	bad := []struct {
		name string
		c    NewClient
		want string
	}{
		{"unknown method", NewClient{ID: "b1", RedirectURIs: []string{cb}, AuthMethod: "client_secret_jwt"}, `"client_secret_jwt" is not supported (want none, client_secret_basic, client_secret_post, private_key_jwt)`},
		{"method in another case", NewClient{ID: "b2", RedirectURIs: []string{cb}, AuthMethod: "Client_Secret_Basic"}, "is not supported"},
		{"public with a secret method", NewClient{ID: "b3", Public: true, RedirectURIs: []string{loopback}, AuthMethod: "client_secret_basic"}, "public client authenticates with none, not client_secret_basic"},
		{"public with private_key_jwt", NewClient{ID: "b4", Public: true, RedirectURIs: []string{loopback}, AuthMethod: "private_key_jwt", JWKS: jwks}, "public client authenticates with none"},
		{"confidential with none", NewClient{ID: "b5", RedirectURIs: []string{cb}, AuthMethod: "none"}, "confidential client cannot use none"},
		{"private_key_jwt without keys", pkjwt("b6", "", ""), "needs the client's public keys"},
		{"private_key_jwt with both", pkjwt("b7", jwks, "https://app.example.com/jwks.json"), "not both"},
		{"jwks with a secret method", NewClient{ID: "b8", RedirectURIs: []string{cb}, AuthMethod: "client_secret_basic", JWKS: jwks}, "only for private_key_jwt, not client_secret_basic"},
		{"jwks_uri with the default method", NewClient{ID: "b9", RedirectURIs: []string{cb}, JWKSURI: "https://app.example.com/jwks.json"}, "only for private_key_jwt"},
		{"jwks with a public client", NewClient{ID: "b10", Public: true, RedirectURIs: []string{loopback}, JWKS: jwks}, "only for private_key_jwt, not none"},
		{"jwks not JSON", pkjwt("b11", "-----BEGIN PUBLIC KEY-----", ""), "not a JSON Web Key Set"},
		{"jwks with no keys", pkjwt("b12", `{"keys":[]}`, ""), "no keys"},
		{"jwks with a private key", pkjwt("b13", keySet(t, "p", true), ""), "register the public key only"},
		{"jwks_uri over http", pkjwt("b14", "", "http://app.example.com/jwks.json"), "must be an https URL"},
		{"jwks_uri over loopback http", pkjwt("b15", "", "http://127.0.0.1/jwks.json"), "must be an https URL"},
		{"jwks_uri relative", pkjwt("b16", "", "/jwks.json"), "absolute URL"},
		{"jwks_uri without host", pkjwt("b17", "", "https:///jwks.json"), "absolute URL"},
		{"jwks_uri with fragment", pkjwt("b18", "", "https://app.example.com/jwks.json#k"), "fragment"},
		{"jwks_uri with empty fragment", pkjwt("b19", "", "https://app.example.com/jwks.json#"), "fragment"},
		{"jwks_uri with user information", pkjwt("b20", "", "https://u:p@app.example.com/jwks.json"), "user information"},
		{"jwks_uri bad escape", pkjwt("b21", "", "https://app.example.com/%zz"), "invalid URL escape"},
		{"jwks_uri too long", pkjwt("b22", "", "https://app.example.com/"+strings.Repeat("a", maxJWKSURI)), "at most"},
	}
	for _, tt := range bad {
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
}

// TestRotateClientSecretRefusesPrivateKeyJWT: a private_key_jwt client has
// no secret to rotate, and the refusal says how to give it one.
func TestRotateClientSecretRefusesPrivateKeyJWT(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	if _, _, err := AddClient(ctx, st, NewClient{ID: "svc", GrantTypes: []string{"client_credentials"}, AuthMethod: "private_key_jwt", JWKS: keySet(t, "k", false)}, now); err != nil {
		t.Fatal(err)
	}
	_, err := RotateClientSecret(ctx, st, "svc", now)
	if err == nil || !strings.Contains(err.Error(), "gatehouse client set-auth --id svc --auth-method client_secret_basic") {
		t.Fatalf("error = %v, want it to point at client set-auth", err)
	}
	if got, _ := st.GetClient(ctx, "svc"); got.SecretHash != "" || got.AuthMethod != storage.AuthPrivateKeyJWT {
		t.Fatalf("the refused rotation changed the client: %+v", got)
	}
}

// TestSetClientAuthentication: a confidential client moves between the
// secret methods (each time with a fresh secret, its keys cleared) and
// private_key_jwt (its secret cleared), and gets new keys the same way; a
// public client, an unknown one and any registration AddClient would refuse
// are refused, leaving the client as it was.
func TestSetClientAuthentication(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	if _, _, err := AddClient(ctx, st, NewClient{ID: "app", RedirectURIs: []string{"https://app.example.com/cb"}}, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AddClient(ctx, st, NewClient{ID: "cli", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}}, now); err != nil {
		t.Fatal(err)
	}
	// A client registered before clients had a method reads back "".
	if err := st.CreateClient(ctx, storage.Client{ID: "legacy", SecretHash: secret.HashToken("old"), GrantTypes: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	jwks1, jwks2 := keySet(t, "k1", false), keySet(t, "k2", false)
	const uri = "https://app.example.com/.well-known/jwks.json"

	var lastSecret string
	steps := []struct {
		name                  string
		id, method, jwks, uri string
		want                  string // error; "" = none
		// The client afterwards.
		stored     string // its method
		secret     bool   // a new secret was returned, and is the stored one
		storedJWKS string
		storedURI  string
	}{
		{name: "to private_key_jwt with jwks", id: "app", method: "private_key_jwt", jwks: jwks1, stored: storage.AuthPrivateKeyJWT, storedJWKS: jwks1},
		{name: "new keys", id: "app", method: "private_key_jwt", jwks: jwks2, stored: storage.AuthPrivateKeyJWT, storedJWKS: jwks2},
		{name: "keys by URI instead", id: "app", method: "private_key_jwt", uri: uri, stored: storage.AuthPrivateKeyJWT, storedURI: uri},
		{name: "back to a set", id: "app", method: "private_key_jwt", jwks: jwks1, stored: storage.AuthPrivateKeyJWT, storedJWKS: jwks1},
		{name: "invalid keys change nothing", id: "app", method: "private_key_jwt", jwks: keySet(t, "p", true), want: "public key only", stored: storage.AuthPrivateKeyJWT, storedJWKS: jwks1},
		{name: "bad URI changes nothing", id: "app", method: "private_key_jwt", uri: "http://app.example.com/jwks", want: "https URL", stored: storage.AuthPrivateKeyJWT, storedJWKS: jwks1},
		{name: "both change nothing", id: "app", method: "private_key_jwt", jwks: jwks2, uri: uri, want: "not both", stored: storage.AuthPrivateKeyJWT, storedJWKS: jwks1},
		{name: "no keys change nothing", id: "app", method: "private_key_jwt", want: "needs the client's public keys", stored: storage.AuthPrivateKeyJWT, storedJWKS: jwks1},
		{name: "to client_secret_post", id: "app", method: "client_secret_post", stored: storage.AuthSecretPost, secret: true},
		{name: "to client_secret_basic", id: "app", method: "client_secret_basic", stored: storage.AuthSecretBasic, secret: true},
		{name: "client_secret_basic again re-keys", id: "app", method: "client_secret_basic", stored: storage.AuthSecretBasic, secret: true},
		{name: "keys with a secret method", id: "app", method: "client_secret_post", jwks: jwks1, want: "only for private_key_jwt", stored: storage.AuthSecretBasic},
		{name: "to none", id: "app", method: "none", want: "cannot use none", stored: storage.AuthSecretBasic},
		{name: "no method", id: "app", want: "name the authentication method", stored: storage.AuthSecretBasic},
		{name: "unknown method", id: "app", method: "tls_client_auth", want: "not supported", stored: storage.AuthSecretBasic},
		{name: "public", id: "cli", method: "client_secret_basic", want: `client "cli" is public`, stored: storage.AuthNone},
		{name: "public to private_key_jwt", id: "cli", method: "private_key_jwt", jwks: jwks1, want: `client "cli" is public`, stored: storage.AuthNone},
		{name: "legacy to private_key_jwt", id: "legacy", method: "private_key_jwt", uri: uri, stored: storage.AuthPrivateKeyJWT, storedURI: uri},
	}
	for _, s := range steps {
		plain, err := SetClientAuthentication(ctx, st, s.id, s.method, s.jwks, s.uri, now)
		if s.want == "" && err != nil || s.want != "" && (err == nil || !strings.Contains(err.Error(), s.want)) {
			t.Fatalf("%s: error = %v, want %q", s.name, err, s.want)
		}
		got, err := st.GetClient(ctx, s.id)
		if err != nil {
			t.Fatal(err)
		}
		if got.AuthMethod != s.stored || got.JWKS != s.storedJWKS || got.JWKSURI != s.storedURI {
			t.Fatalf("%s: stored %q %q %q, want %q %q %q", s.name, got.AuthMethod, got.JWKS, got.JWKSURI, s.stored, s.storedJWKS, s.storedURI)
		}
		switch {
		case s.secret:
			if len(plain) < 43 || plain == lastSecret || !secret.EqualHash(got.SecretHash, secret.HashToken(plain)) {
				t.Fatalf("%s: secret %q (before %q), stored hash %q: want a fresh secret stored as its hash", s.name, plain, lastSecret, got.SecretHash)
			}
			lastSecret = plain
		case plain != "":
			t.Fatalf("%s: returned secret %q", s.name, plain)
		case s.stored == storage.AuthPrivateKeyJWT && got.SecretHash != "":
			t.Fatalf("%s: a private_key_jwt client kept a secret hash", s.name)
		case s.want != "" && s.stored == storage.AuthSecretBasic && !secret.EqualHash(got.SecretHash, secret.HashToken(lastSecret)):
			t.Fatalf("%s: a refused change replaced the secret", s.name)
		}
	}

	_, err := SetClientAuthentication(ctx, st, "nope", "client_secret_basic", "", "", now)
	if !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), `no client "nope"`) {
		t.Fatalf("unknown client: %v", err)
	}
}
