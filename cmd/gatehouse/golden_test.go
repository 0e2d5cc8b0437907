package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite cmd/gatehouse/testdata/*.golden with what the commands print now")

// golden compares got with testdata/NAME.golden; with -update it writes
// got there instead.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/gatehouse -run '%s' -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("the output differs from %s (after a deliberate change, go test ./cmd/gatehouse -run '%s' -update rewrites it):\n--- got\n%s--- want\n%s",
			path, t.Name(), got, want)
	}
}

// transcript is a command line and all it printed, as a golden file holds it.
func transcript(args []string, code int, stdout, stderr string) string {
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = shellWord(a)
	}
	return fmt.Sprintf("$ gatehouse %s\n[exit %d]\n--- stdout\n%s--- stderr\n%s", strings.Join(words, " "), code, stdout, stderr)
}

// TestGoldenMessages pins, word for word, what the CLI prints for common
// mistakes and for serve --help. Each case runs on a fresh data directory
// (GATEHOUSE_DATA_DIR, so that no path shows in the output) after its setup
// command lines.
func TestGoldenMessages(t *testing.T) {
	tests := []struct {
		name  string
		setup [][]string
		args  []string
	}{
		// A wrong flag: the mistake and one hint, no usage.
		{"serve-unknown-flag", nil, []string{"serve", "--nope"}},
		{"user-add-misspelt-flag", nil, []string{"user", "add", "--usernme", "alice"}},
		// A bare number for a duration says what a duration looks like.
		{"serve-duration-without-unit", nil, []string{"serve", "--access-token-ttl", "5"}},
		{"client-add-exists", [][]string{{"client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb"}},
			[]string{"client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb"}},
		// A refused redirect URI states the whole rule.
		{"client-add-http-redirect", nil, []string{"client", "add", "--id", "web", "--redirect-uri", "http://app.example.com/cb"}},
		{"client-add-relative-redirect", nil, []string{"client", "add", "--id", "web", "--redirect-uri", "/cb"}},
		{"client-update-nothing", nil, []string{"client", "update", "--id", "app"}},
		{"client-update-no-scopes", [][]string{{"client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb"}},
			[]string{"client", "update", "--id", "app", "--scopes", ""}},
		{"client-update-bad-redirect", nil, []string{"client", "update", "--id", "app", "--redirect-uris", "https://app.example.com/cb#x"}},
		{"client-update-scopes", [][]string{{"client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb"}},
			[]string{"client", "update", "--id", "app", "--scopes", "openid,profile,notes:read", "--redirect-uris", "https://app.example.com/cb,http://127.0.0.1:9000/cb"}},
		{"client-list", [][]string{
			{"client", "add", "--id", "app", "--name", "App", "--redirect-uri", "https://app.example.com/cb",
				"--scopes", "openid,profile,email,offline_access,todos:read,todos:write,notes:read"},
			{"client", "add", "--id", "batch", "--grant-types", "client_credentials", "--scopes", "todos:read"},
		}, []string{"client", "list"}},
		{"serve-help", nil, []string{"serve", "--help"}},
		{"client-update-help", nil, []string{"client", "update", "--help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			environ := map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()}
			for _, s := range tt.setup {
				if code, _, stderr := gatehouse(t, ctx, "", environ, s...); code != 0 {
					t.Fatalf("%v: exit %d: %s", s, code, stderr)
				}
			}
			code, stdout, stderr := gatehouse(t, ctx, "", environ, tt.args...)
			golden(t, tt.name, transcript(tt.args, code, stdout, stderr))
		})
	}
}

// TestHelpHasNoMarkupArtefacts: the flag package takes a `quoted` word of
// a flag's usage as the name of its value and drops the quotes, so a usage
// quoting a command would read "-key-rotation gatehouse keys rotate", and
// a quoted word elsewhere is printed with its backquotes. No --help here
// shows a backquote or a command where a value's name belongs.
func TestHelpHasNoMarkupArtefacts(t *testing.T) {
	ctx := context.Background()
	commandAsValue := regexp.MustCompile(`(?m)^  -[a-z0-9-]+ gatehouse\b`)
	for _, args := range [][]string{
		{"serve", "--help"}, {"migrate", "--help"},
		{"client", "add", "--help"}, {"client", "update", "--help"}, {"client", "list", "--help"}, {"client", "set-auth", "--help"},
		{"client", "disable", "--help"}, {"user", "disable", "--help"}, {"user", "set-password", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := gatehouse(t, ctx, "", nil, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.Contains(stdout, "`") {
				t.Errorf("--help shows a backquote:\n%s", stdout)
			}
			if m := commandAsValue.FindString(stdout); m != "" {
				t.Errorf("--help shows a command as a flag's value: %q", m)
			}
		})
	}
}
