package main

import (
	"context"
	"strings"
	"testing"
)

// TestAdminMistakes pins what the admin commands answer to a registration
// they refuse: one line naming the way out, exit code 1, nothing on stdout.
func TestAdminMistakes(t *testing.T) {
	ctx := context.Background()
	dir := []string{"--data-dir", t.TempDir()}
	steps := []struct {
		args   []string
		stdin  string
		code   int
		stderr string // exact; "" when the step succeeds
	}{
		{[]string{"client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb"}, "", 0, ""},
		{[]string{"client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb"}, "", 1,
			"gatehouse client: client \"app\" exists: change it with gatehouse client update --id app (its scopes, redirect URIs and more), " +
				"give it a new secret with gatehouse client rotate-secret --id app, or remove it first with gatehouse client remove --id app\n"},
		{[]string{"user", "add", "--username", "alice", "--password-stdin"}, "correct horse battery\n", 0, ""},
		{[]string{"user", "add", "--username", "alice", "--password-stdin"}, "another password\n", 1,
			"gatehouse user: user \"alice\" exists; use gatehouse user set-password --username alice --password-stdin for a new password\n"},
		{[]string{"client", "add", "--id", "web", "--redirect-uri", "http://example.com/cb"}, "", 1,
			"gatehouse client: redirect URI \"http://example.com/cb\" uses plain http on a host that is not loopback; " +
				"a redirect URI must be absolute, have no fragment, and use https (plain http only on a loopback host: 127.0.0.1, [::1] or localhost)\n"},
		{[]string{"client", "add", "--id", "web", "--redirect-uri", "https://example.com/cb#top"}, "", 1,
			"gatehouse client: redirect URI \"https://example.com/cb#top\" has a fragment; " +
				"a redirect URI must be absolute, have no fragment, and use https (plain http only on a loopback host: 127.0.0.1, [::1] or localhost)\n"},
		{[]string{"client", "add", "--id", "web", "--post-logout-redirect-uri", "/bye", "--redirect-uri", "https://example.com/cb"}, "", 1,
			"gatehouse client: post-logout redirect URI \"/bye\" is relative; " +
				"a redirect URI must be absolute, have no fragment, and use https (plain http only on a loopback host: 127.0.0.1, [::1] or localhost)\n"},
	}
	for _, s := range steps {
		code, stdout, stderr := gatehouse(t, ctx, s.stdin, nil, append(s.args, dir...)...)
		if code != s.code || stderr != s.stderr {
			t.Fatalf("%v: exit %d, stderr\n%q\nwant exit %d, stderr\n%q", s.args, code, stderr, s.code, s.stderr)
		}
		if code != 0 && stdout != "" {
			t.Errorf("%v: stdout %q, want none", s.args, stdout)
		}
	}
}

// TestClientUpdateScopesAndRedirects: `client update --scopes` and
// `--redirect-uris` replace the client's lists, say what changed, show in
// `client list`, and a refused value (checked before anything is written)
// leaves every setting as it was.
func TestClientUpdateScopesAndRedirects(t *testing.T) {
	ctx := context.Background()
	dir := []string{"--data-dir", t.TempDir()}
	steps := []struct {
		args   []string
		code   int
		stdout string // exact
	}{
		{[]string{"client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb"}, 0, ""},
		{[]string{"client", "update", "--id", "app", "--scopes", "openid,notes:read,openid"}, 0,
			"client app may be granted the scopes openid,notes:read (added notes:read; removed profile email offline_access)\n" +
				"tokens already issued keep the scopes they carry, and so do refreshes of them\n"},
		{[]string{"client", "update", "--id", "app", "--scopes", "openid notes:read"}, 0,
			"client app may be granted the scopes openid,notes:read (unchanged)\n"},
		{[]string{"client", "update", "--id", "app", "--scopes", "openid,notes:write", "--dpop-bound=true"}, 0,
			"client app may be granted the scopes openid,notes:write (added notes:write; removed notes:read)\n" +
				"tokens already issued keep the scopes they carry, and so do refreshes of them\n" +
				"client app must send a DPoP proof with every token request\n"},
		{[]string{"client", "update", "--id", "app", "--redirect-uris", "https://app.example.com/cb2", "--redirect-uris", "http://localhost:8080/cb"}, 0,
			"client app redirects to https://app.example.com/cb2 http://localhost:8080/cb (added https://app.example.com/cb2 http://localhost:8080/cb; removed https://app.example.com/cb)\n"},
		// Refused before the store is opened: --dpop-bound stays true.
		{[]string{"client", "update", "--id", "app", "--scopes", `a"b`, "--dpop-bound=false"}, 1, ""},
		{[]string{"client", "update", "--id", "app", "--redirect-uris", "http://app.example.com/cb", "--dpop-bound=false"}, 1, ""},
		{[]string{"client", "update", "--id", "app", "--redirect-uris", ""}, 1, ""},
		{[]string{"client", "update", "--id", "nope", "--scopes", "openid"}, 1, ""},
		{[]string{"client", "list", "--json"}, 0, ""},
	}
	for _, s := range steps {
		code, stdout, stderr := gatehouse(t, ctx, "", nil, append(s.args, dir...)...)
		if code != s.code {
			t.Fatalf("%v: exit %d, want %d (stderr %q)", s.args, code, s.code, stderr)
		}
		if s.stdout != "" && stdout != s.stdout {
			t.Fatalf("%v: stdout\n%q\nwant\n%q", s.args, stdout, s.stdout)
		}
		if s.args[1] == "list" {
			want := `"client_id":"app","name":"app","public":false,"redirect_uris":["https://app.example.com/cb2","http://localhost:8080/cb"],` +
				`"grant_types":["authorization_code","refresh_token"],"scopes":["openid","notes:write"],`
			if !strings.Contains(stdout, want) || !strings.Contains(stdout, `"dpop_bound_access_tokens":true`) {
				t.Fatalf("client list --json: %s\nwant it to hold %s and dpop_bound_access_tokens true", stdout, want)
			}
		}
	}
}

// TestScopesShown: `client list` cuts a long list of scopes after a whole
// scope and counts the rest; a short one is shown whole.
func TestScopesShown(t *testing.T) {
	long := strings.Repeat("s", 60)
	for _, tt := range []struct {
		scopes []string
		want   string
	}{
		{nil, "-"},
		{[]string{"openid", "profile", "email", "offline_access"}, "openid,profile,email,offline_access"},
		{[]string{"openid", "profile", "email", "offline_access", "todos:read", "todos:write", "notes:read"}, "openid,profile,email,offline_access,… +3"},
		{[]string{long, "openid"}, long + ",… +1"},
		{[]string{long}, long},
	} {
		if got := scopesShown(tt.scopes); got != tt.want {
			t.Errorf("scopesShown(%q) = %q, want %q", tt.scopes, got, tt.want)
		}
		if got := scopesShown(tt.scopes); len(tt.scopes) > 0 && len(tt.scopes[0]) < maxScopesShown && len(got) > maxScopesShown {
			t.Errorf("scopesShown(%q) = %q: longer than %d", tt.scopes, got, maxScopesShown)
		}
	}
}
