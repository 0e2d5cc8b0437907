package main

import (
	"context"
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
			"gatehouse client: client \"app\" exists; use gatehouse client rotate-secret --id app for a new secret, or client update to change it\n"},
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
