package main

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFlagMistakes pins what a mistake on the command line prints: never
// the whole usage, but the mistake on stderr, with a hint to --help when the
// flags are wrong, and exit code 2; --help itself still prints the usage and
// exits 0.
func TestFlagMistakes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string // regexp
		stderr string // exact
	}{
		{"unknown flag", []string{"serve", "--nope"}, nil, 2, "^$",
			"gatehouse serve: unknown flag --nope\nRun 'gatehouse serve --help' for usage.\n"},
		{"misspelt flag of a subcommand", []string{"user", "add", "--usernme", "x"}, nil, 2, "^$",
			"gatehouse user add: unknown flag --usernme (did you mean --username?)\nRun 'gatehouse user add --help' for usage.\n"},
		{"unknown flag of client add", []string{"client", "add", "--nope"}, nil, 2, "^$",
			"gatehouse client add: unknown flag --nope\nRun 'gatehouse client add --help' for usage.\n"},
		{"unknown flag before a KID", []string{"keys", "retire", "--nope"}, nil, 2, "^$",
			"gatehouse keys retire: unknown flag --nope\nRun 'gatehouse keys retire --help' for usage.\n"},
		{"unknown flag of dpop proof", []string{"dpop", "proof", "--nope"}, nil, 2, "^$",
			"gatehouse dpop proof: unknown flag --nope\nRun 'gatehouse dpop proof --help' for usage.\n"},
		{"flag without its value", []string{"migrate", "--db"}, nil, 2, "^$",
			"gatehouse migrate: flag --db needs a value\nRun 'gatehouse migrate --help' for usage.\n"},
		{"bad list value", []string{"serve", "--trusted-proxies", "10.0.0.0/8,lb.internal"}, nil, 2, "^$",
			"gatehouse serve: invalid value \"10.0.0.0/8,lb.internal\" for --trusted-proxies: \"lb.internal\" is not an IP address or CIDR prefix\nRun 'gatehouse serve --help' for usage.\n"},
		{"removed flag", []string{"serve", "--trust-proxy"}, nil, 2, "^$",
			"gatehouse serve: --trust-proxy was removed: it believed the leftmost X-Forwarded-For entry, which clients can forge; list your proxies with --trusted-proxies CIDR,… instead\nRun 'gatehouse serve --help' for usage.\n"},
		{"bad boolean value", []string{"serve", "--require-par=maybe"}, nil, 2, "^$",
			"gatehouse serve: invalid value \"maybe\" for --require-par: use true or false, as in --require-par=false\nRun 'gatehouse serve --help' for usage.\n"},
		{"bad boolean value of client update", []string{"client", "update", "--id", "app", "--require-mfa=sometimes"}, nil, 2, "^$",
			"gatehouse client update: invalid value \"sometimes\" for --require-mfa: use true or false, as in --require-mfa=false\nRun 'gatehouse client update --help' for usage.\n"},
		{"unknown flag far from any", []string{"client", "update", "--scopess", "x"}, nil, 2, "^$",
			"gatehouse client update: unknown flag --scopess (did you mean --scopes?)\nRun 'gatehouse client update --help' for usage.\n"},
		{"unexpected argument", []string{"migrate", "extra"}, nil, 2, "^$",
			"gatehouse migrate: unexpected argument \"extra\"\n"},
		{"bare number for a duration", []string{"serve", "--access-token-ttl", "5"}, nil, 2, "^$",
			"gatehouse serve: invalid value \"5\" for --access-token-ttl: use a duration such as 5m, 90s or 1h\nRun 'gatehouse serve --help' for usage.\n"},
		{"bad duration with =", []string{"serve", "--shutdown-timeout=soon"}, nil, 2, "^$",
			"gatehouse serve: invalid value \"soon\" for --shutdown-timeout: use a duration such as 5m, 90s or 1h\nRun 'gatehouse serve --help' for usage.\n"},
		{"bare number for a duration in env", []string{"serve"}, map[string]string{"GATEHOUSE_REQUEST_TIMEOUT": "5"}, 2, "^$",
			"gatehouse serve: GATEHOUSE_REQUEST_TIMEOUT: invalid value \"5\": use a duration such as 5m, 90s or 1h\n"},
		{"help", []string{"serve", "--help"}, nil, 0, `^Usage: gatehouse serve \[flags\]\n(?s:.*)\n  -access-token-ttl duration\n`, ""},
		{"help of a subcommand", []string{"user", "add", "-h"}, nil, 0, `^Usage: gatehouse user add (?s:.*)\n  -username string\n`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()}
			for k, v := range tt.env {
				env[k] = v
			}
			code, stdout, stderr := gatehouse(t, context.Background(), "", env, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if stderr != tt.stderr {
				t.Errorf("stderr:\n%q\nwant\n%q", stderr, tt.stderr)
			}
			if !regexp.MustCompile(tt.stdout).MatchString(stdout) {
				t.Errorf("stdout %q does not match %q", stdout, tt.stdout)
			}
		})
	}
}

// TestFlagValueNames checks what --help shows after each flag's name: the
// flag package takes the first `quoted` word of a flag's usage as the name
// of its value, so a usage quoting a command line shows that command as the
// value. Every command and subcommand is asked for its --help.
func TestFlagValueNames(t *testing.T) {
	ctx := context.Background()
	var cmdLines [][]string
	for name := range commands() {
		_, stdout, _ := gatehouse(t, ctx, "", nil, name, "--help")
		if m := regexp.MustCompile(`^Usage: gatehouse \S+ (\S+\|\S+) \[flags\]`).FindStringSubmatch(stdout); m != nil {
			for _, sub := range strings.Split(m[1], "|") {
				cmdLines = append(cmdLines, []string{name, sub})
			}
			continue
		}
		cmdLines = append(cmdLines, []string{name})
	}
	words := []string{"gatehouse"}
	for _, c := range cmdLines {
		words = append(words, c...)
	}
	flagLine := regexp.MustCompile(`^  -([a-z0-9-]+)(?: (.*))?$`)
	flags := 0
	for _, c := range cmdLines {
		code, stdout, stderr := gatehouse(t, ctx, "", nil, append(c, "--help")...)
		if code != 0 {
			t.Fatalf("%v --help: exit %d, %s", c, code, stderr)
		}
		for _, line := range strings.Split(stdout, "\n") {
			m := flagLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			flags++
			if value := m[2]; strings.Contains(value, " ") || slices.Contains(words, value) {
				t.Errorf("gatehouse %s --help: -%s shows %q as its value", strings.Join(c, " "), m[1], value)
			}
		}
	}
	if len(cmdLines) < 20 || flags < 100 {
		t.Fatalf("saw %d commands and %d flags: the help output is not read right", len(cmdLines), flags)
	}
}
