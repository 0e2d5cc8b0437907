package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

// TestDPoPCommands: `gatehouse dpop key` writes a private key only its
// owner can read, `dpop jkt` prints its thumbprint, and `dpop proof` makes
// proofs a server accepts for exactly the request named.
func TestDPoPCommands(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "dpop-key.json")
	code, stdout, stderr := gatehouse(t, ctx, "", nil, "dpop", "key", "--out", keyFile)
	m := regexp.MustCompile(`^DPoP key written to .*dpop-key.json; its thumbprint \(dpop_jkt\): ([A-Za-z0-9_-]{43})\n$`).FindStringSubmatch(stdout)
	if code != 0 || m == nil {
		t.Fatalf("dpop key: %d %q %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if code, _, stderr := gatehouse(t, ctx, "", nil, "dpop", "key", "--out", keyFile); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("dpop key over an existing file: %d %q", code, stderr)
	}
	if code, stdout, _ := gatehouse(t, ctx, "", nil, "dpop", "jkt", "--key", keyFile); code != 0 || stdout != m[1]+"\n" {
		t.Fatalf("dpop jkt: %d %q, want %s", code, stdout, m[1])
	}

	const url = "https://api.example/api/todos"
	code, proof, stderr := gatehouse(t, ctx, "", nil, "dpop", "proof", "--key", keyFile, "--method", "GET", "--url", url+"?max_results=5",
		"--access-token", "the-token", "--nonce", "n-1")
	if code != 0 {
		t.Fatalf("dpop proof: %d %q", code, stderr)
	}
	proof = strings.TrimSpace(proof)
	check := func(r dpop.Request) error {
		c := dpop.Checker{Replays: dpop.NewMemoryReplays()}
		_, err := c.Check(ctx, proof, r)
		return err
	}
	if err := check(dpop.Request{Method: "GET", URL: url, AccessToken: "the-token"}); err != nil {
		t.Fatalf("the proof is refused for its request: %v", err)
	}
	for name, r := range map[string]dpop.Request{
		"another method": {Method: "POST", URL: url, AccessToken: "the-token"},
		"another URL":    {Method: "GET", URL: "https://api.example/api/other", AccessToken: "the-token"},
		"another token":  {Method: "GET", URL: url, AccessToken: "another-token"},
	} {
		if check(r) == nil {
			t.Errorf("the proof is accepted for %s", name)
		}
	}

	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"dpop", "key"}, 2, "--out is required"},
		{[]string{"dpop", "jkt"}, 2, "--key is required"},
		{[]string{"dpop", "proof", "--key", keyFile, "--url", url}, 2, "--method and --url are required"},
		{[]string{"dpop", "proof", "--key", filepath.Join(t.TempDir(), "none.json"), "--method", "GET", "--url", url}, 1, "--key"},
		{[]string{"dpop", "proof", "--key", keyFile, "--method", "GET", "--url", "/relative"}, 1, "not absolute"},
	} {
		code, _, stderr := gatehouse(t, ctx, "", nil, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: %d %q, want %d and %q", tc.args, code, stderr, tc.code, tc.stderr)
		}
	}
}
