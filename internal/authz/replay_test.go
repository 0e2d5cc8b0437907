package authz

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// TestCodeReplay_MarksRequest: a code's first exchange leaves its request
// unmarked; presenting the code again marks it replayed in the store, the
// flag the winning exchange checks after issuing its tokens.
func TestCodeReplay_MarksRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	code := q.Get("code")
	replayed := func(step string, want bool) {
		t.Helper()
		req, err := e.store.GetAuthRequestByCode(ctx, secret.HashToken(code))
		if err != nil {
			t.Fatalf("%s: GetAuthRequestByCode: %v", step, err)
		}
		if req.Replayed != want {
			t.Errorf("%s: Replayed = %v, want %v", step, req.Replayed, want)
		}
	}
	replayed("before the exchange", false)
	if st, tr := e.exchange("gatehouse-webapp", webappSecret, code, webappRedir, v); st != 200 {
		t.Fatalf("exchange: %d %q", st, tr.Error)
	}
	replayed("after the exchange", false)
	if st, tr := e.exchange("gatehouse-webapp", webappSecret, code, webappRedir, v); tr.Error != "invalid_grant" {
		t.Fatalf("replay: %d %q, want invalid_grant", st, tr.Error)
	}
	replayed("after the replay", true)
}
