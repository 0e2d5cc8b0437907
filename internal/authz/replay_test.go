package authz

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// TestCodeReplay_RevokesGrant: a code's exchange starts an active grant
// (whose ID is the request's); presenting the code again revokes it.
func TestCodeReplay_RevokesGrant(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	code := q.Get("code")
	req, err := e.store.GetAuthRequestByCode(ctx, secret.HashToken(code))
	if err != nil {
		t.Fatal(err)
	}
	revoked := func(step string, want bool) {
		t.Helper()
		g, err := e.store.GetGrant(ctx, req.ID)
		if err != nil {
			t.Fatalf("%s: GetGrant: %v", step, err)
		}
		if g.Revoked != want {
			t.Errorf("%s: Revoked = %v, want %v", step, g.Revoked, want)
		}
	}
	if st, tr := e.exchange("gatehouse-webapp", webappSecret, code, webappRedir, v); st != 200 {
		t.Fatalf("exchange: %d %q", st, tr.Error)
	}
	revoked("after the exchange", false)
	if st, tr := e.exchange("gatehouse-webapp", webappSecret, code, webappRedir, v); tr.Error != "invalid_grant" {
		t.Fatalf("replay: %d %q, want invalid_grant", st, tr.Error)
	}
	revoked("after the replay", true)
}
