package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// TestKeysCommands drives keys list, rotate and retire on a fresh data
// directory: a retired key is listed as expired, a replacement takes over
// its signing, and mistakes give one line and a non-zero exit code.
func TestKeysCommands(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	dir := []string{"--data-dir", data}
	if _, _, err := secret.LoadOrCreate(filepath.Join(data, "secret")); err != nil {
		t.Fatal(err)
	}
	wrong, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		KID       string `json:"kid"`
		Algorithm string `json:"alg"`
		State     string `json:"state"`
		Expires   string `json:"expires_at"`
	}
	list := func() []row {
		t.Helper()
		code, stdout, stderr := gatehouse(t, ctx, "", nil, append([]string{"keys", "list", "--json"}, dir...)...)
		if code != 0 {
			t.Fatalf("keys list: exit %d, stderr %q", code, stderr)
		}
		var rows []row
		if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
			t.Fatalf("keys list --json: %v in %q", err, stdout)
		}
		return rows
	}
	for _, args := range [][]string{{"keys", "list", "--help"}, {"keys", "retire", "--help"}} {
		code, stdout, _ := gatehouse(t, ctx, "", nil, args...)
		if code != 0 || !strings.Contains(stdout, "Examples:") || strings.Count(stdout, "Usage:") != 1 {
			t.Fatalf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
	if rows := list(); len(rows) != 0 {
		t.Fatalf("keys on a fresh database: %+v", rows)
	}
	if code, _, stderr := gatehouse(t, ctx, "", nil, append([]string{"keys", "rotate"}, dir...)...); code != 0 {
		t.Fatalf("keys rotate: exit %d, %q", code, stderr)
	}
	rows := list()
	if len(rows) == 0 {
		t.Fatal("no keys after keys rotate")
	}
	victim := rows[0]
	const dashKID = "-FBBOw4zwLLSE97uTHnmc3eDbgBs6cVLvQs7P46WbFc"

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string // in stderr
	}{
		{"no kid", []string{"keys", "retire"}, nil, 2, "name the key"},
		{"two kids", []string{"keys", "retire", victim.KID, "other"}, nil, 2, `unexpected argument "other"`},
		{"unknown kid", []string{"keys", "retire", "no-such-kid"}, nil, 1, `no signing key "no-such-kid"`},
		// A kid is base64url: one in 64 begins with "-", and is no flag.
		{"unknown kid beginning with -", []string{"keys", "retire", dashKID}, nil, 1, `no signing key "` + dashKID + `"`},
		{"two kids, the first beginning with -", []string{"keys", "retire", dashKID, "other"}, nil, 2, `unexpected argument "other"`},
		{"wrong secret", []string{"keys", "retire", victim.KID}, map[string]string{"GATEHOUSE_SECRET": wrong.Encode()}, 1, "does not open"},
	} {
		code, _, stderr := gatehouse(t, ctx, "", tc.env, append(tc.args, dir...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q on one line", tc.name, code, stderr, tc.code, tc.want)
		}
	}

	// The kid may come before or after the flags.
	code, stdout, stderr := gatehouse(t, ctx, "", nil, append(append([]string{"keys", "retire"}, dir...), victim.KID)...)
	if code != 0 {
		t.Fatalf("keys retire: exit %d, stderr %q", code, stderr)
	}
	m := regexp.MustCompile(`new signing key (\S+) published`).FindStringSubmatch(stdout)
	if !strings.Contains(stdout, victim.KID) || m == nil {
		t.Fatalf("keys retire printed %q, want the retired kid and its replacement", stdout)
	}
	states := map[string]row{}
	for _, r := range list() {
		states[r.KID] = r
	}
	if r := states[victim.KID]; r.State != "expired" || r.Expires == "" {
		t.Errorf("retired key listed as %+v, want expired", r)
	}
	// The replacement takes the retired key's part: on this fresh database
	// the rotated keys do not sign yet, so it is "next" too.
	if r := states[m[1]]; r.State != victim.State || r.Algorithm != victim.Algorithm {
		t.Errorf("replacement listed as %+v, want a %s %s key like the retired one", r, victim.State, victim.Algorithm)
	}
	code, stdout, stderr = gatehouse(t, ctx, "", nil, append([]string{"keys", "list"}, dir...)...)
	if code != 0 || !regexp.MustCompile(`(?m)^KID\s+ALG\s+STATE\s+CREATED\s+SIGNS FROM\s+EXPIRES$`).MatchString(stdout) ||
		!strings.Contains(stdout, m[1]) {
		t.Errorf("keys list: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
