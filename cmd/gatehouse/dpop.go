package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

// `gatehouse dpop`: what a curl user needs to use DPoP-bound tokens (RFC
// 9449): a key, its thumbprint (for dpop_jkt) and proofs.

func runDPoP(ctx context.Context, e env, args []string) error {
	sub := map[string]func(context.Context, env, []string) error{"key": dpopKey, "jkt": dpopJKT, "proof": dpopProof}
	return dispatch(ctx, e, "dpop", "key|jkt|proof", sub, args)
}

func dpopKey(_ context.Context, e env, args []string) error {
	var out string
	fs := newFlagSet(e, "dpop key --out FILE",
		"Generate a DPoP key (ES256, P-256) and write it, private half included, as a JWK to FILE\n"+
			"(mode 0600). Keep it as you would a password: whoever holds it can use tokens bound to it.",
		"  gatehouse dpop key --out dpop-key.json")
	fs.StringVar(&out, "out", "", "the `FILE` to write the key to (required; never overwritten)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	k, err := dpop.GenerateKey()
	if err != nil {
		return err
	}
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Fprintf(e.stdout, "DPoP key written to %s; its thumbprint (dpop_jkt): %s\n", out, k.JKT())
	return nil
}

// readDPoPKey reads a key written by `gatehouse dpop key`.
func readDPoPKey(path string) (*dpop.Key, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: --key is required", errUsage)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	k, err := dpop.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", path, err)
	}
	return k, nil
}

func dpopJKT(_ context.Context, e env, args []string) error {
	var keyFile string
	fs := newFlagSet(e, "dpop jkt --key FILE",
		"Print the key's SHA-256 thumbprint (RFC 7638): the dpop_jkt parameter of an authorization\n"+
			"request, and the cnf.jkt of the tokens bound to the key.",
		"  gatehouse dpop jkt --key dpop-key.json")
	fs.StringVar(&keyFile, "key", "", "the key `FILE` (from gatehouse dpop key)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	k, err := readDPoPKey(keyFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, k.JKT())
	return nil
}

func dpopProof(_ context.Context, e env, args []string) error {
	var keyFile, method, url, token, nonce string
	fs := newFlagSet(e, "dpop proof --key FILE --method M --url URL [--access-token T] [--nonce N]",
		"Print a DPoP proof (RFC 9449) for one request: the value of its DPoP header. A proof is good\n"+
			"for one request, within a minute. For a request to a resource give the access token, whose\n"+
			"hash the proof carries; give --nonce when the server answered use_dpop_nonce with a\n"+
			"DPoP-Nonce header.",
		"  curl -sS -X POST https://127.0.0.1:8000/token -H \"DPoP: $(gatehouse dpop proof --key dpop-key.json --method POST --url https://127.0.0.1:8000/token)\" …\n"+
			"  curl -sS https://127.0.0.1:8001/api/todos -H \"Authorization: DPoP $TOKEN\" \\\n"+
			"    -H \"DPoP: $(gatehouse dpop proof --key dpop-key.json --method GET --url https://127.0.0.1:8001/api/todos --access-token $TOKEN)\"")
	fs.StringVar(&keyFile, "key", "", "the key `FILE` (from gatehouse dpop key)")
	fs.StringVar(&method, "method", "", "the request's HTTP `METHOD` (required)")
	fs.StringVar(&url, "url", "", "the request's `URL` (required; its query is left out of the proof)")
	fs.StringVar(&token, "access-token", "", "the access `TOKEN` the request carries, for a request to a resource")
	fs.StringVar(&nonce, "nonce", "", "the server's last DPoP-Nonce, if it asked for one")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if method == "" || url == "" {
		return fmt.Errorf("%w: --method and --url are required", errUsage)
	}
	k, err := readDPoPKey(keyFile)
	if err != nil {
		return err
	}
	p, err := k.Proof(method, url, token, nonce, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, p)
	return nil
}
