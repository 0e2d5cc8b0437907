package authz

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestFullFlow_ThirdPartyClientLibraries completes the flow with client
// libraries nobody here wrote: discovery, PKCE S256, code exchange, ID
// token verification with nonce, userinfo, refresh with rotation,
// revocation and then introspection. It runs on every backend.
func TestFullFlow_ThirdPartyClientLibraries(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnvDSN(t, b.DSN(t), nil)
			ctx := oidc.ClientContext(context.Background(), e.ts.Client())
			ctx = context.WithValue(ctx, oauth2.HTTPClient, e.ts.Client())
			provider, err := oidc.NewProvider(ctx, e.ts.URL)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			cfg := oauth2.Config{
				ClientID: "gatehouse-webapp", ClientSecret: webappSecret, Endpoint: provider.Endpoint(),
				RedirectURL: webappRedir, Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess, "todos:read"},
			}
			verifier := oauth2.GenerateVerifier()
			state, nonce := "state-"+randomSuffix(), "nonce-"+randomSuffix()
			authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))

			c := e.browser()
			_, page := e.get(c, authURL)
			resp, _ := e.login(c, page, "alice", alicePassword)
			q := callback(t, resp)
			if q.Get("state") != state || q.Get("iss") != e.ts.URL {
				t.Fatalf("callback %v", q)
			}
			tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			if idt.Nonce != nonce || idt.Subject != "u-alice" {
				t.Fatalf("nonce %q sub %q", idt.Nonce, idt.Subject)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Fatalf("at_hash: %v", err)
			}
			ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var claims struct {
				Name  string `json:"name"`
				Email string `json:"email"`
			}
			if err := ui.Claims(&claims); err != nil || ui.Subject != "u-alice" || claims.Name != "Alice Example" || claims.Email != "alice@example.com" {
				t.Fatalf("userinfo %+v %+v %v", ui, claims, err)
			}

			// Refresh: force it by marking the token expired.
			old := *tok
			old.Expiry = time.Now().Add(-time.Minute)
			next, err := cfg.TokenSource(ctx, &old).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
				t.Fatal("refresh token not rotated")
			}

			// Revocation, then introspection says inactive.
			if st := e.revoke(cfg.ClientID, webappSecret, next.RefreshToken, "refresh_token"); st != http.StatusOK {
				t.Fatalf("revoke: %d", st)
			}
			for _, tk := range []string{next.RefreshToken, next.AccessToken} {
				if m := e.introspect(tk); m["active"] != false {
					t.Fatalf("after revocation: %v", m)
				}
			}
		})
	}
}

// TestCodeReuse_AllBackends runs the replay rule on every backend, whose
// RedeemAuthCode must be atomic.
func TestCodeReuse_AllBackends(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnvDSN(t, b.DSN(t), nil)
			v, ch := pkce()
			q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid"))
			type result struct {
				st int
				tr tokenResp
			}
			results := make(chan result, 4)
			for range 4 {
				go func() {
					st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
					results <- result{st, tr}
				}()
			}
			ok := 0
			for range 4 {
				if r := <-results; r.st == 200 {
					ok++
				} else if r.tr.Error != "invalid_grant" {
					t.Errorf("loser got %d %q", r.st, r.tr.Error)
				}
			}
			if ok > 1 {
				t.Fatalf("%d token responses for one code", ok)
			}
		})
	}
}

// TestRefreshReuse_AllBackends runs the family-revocation rule on every backend.
func TestRefreshReuse_AllBackends(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnvDSN(t, b.DSN(t), nil)
			tr := e.webappTokens()
			_, next := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken)
			if _, r := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); r.Error != "invalid_grant" {
				t.Fatal("reuse accepted")
			}
			if _, r := e.refresh("gatehouse-webapp", webappSecret, next.RefreshToken); r.Error != "invalid_grant" {
				t.Fatal("family not revoked")
			}
		})
	}
}
