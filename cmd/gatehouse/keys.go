package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/assemble"
	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

func runKeys(ctx context.Context, e env, args []string) error {
	sub := map[string]func(context.Context, env, []string) error{"list": keysList, "rotate": keysRotate, "retire": keysRetire}
	return dispatch(ctx, e, "keys", "list|rotate|retire", sub, args)
}

func keysRotate(ctx context.Context, e env, args []string) error {
	var c config.Serve
	fs := newFlagSet(e, "keys rotate [flags]",
		"Create new signing keys. They are published in JWKS at once and sign only after every\n"+
			"instance and verifier has had time to see them; the old keys stay published until every\n"+
			"token they signed has expired. Works against a running deployment.",
		"  gatehouse keys rotate\n  gatehouse keys rotate --db postgres://gatehouse@db/gatehouse --secret-file /etc/gatehouse/secret")
	c.Storage.RegisterFlags(fs)
	fs.StringVar(&c.SecretFile, "secret-file", "", "file holding the server secret (default <data-dir>/secret; or set GATEHOUSE_SECRET)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	st, key, err := openKeys(ctx, e, &c)
	if err != nil {
		return err
	}
	defer st.Close()
	kids, err := authz.RotateKeys(ctx, st, key, time.Now())
	if err != nil {
		return fmt.Errorf("rotating keys: %w", err)
	}
	fmt.Fprintf(e.stdout, "new signing keys %s published; they start signing within minutes\n", kids)
	return nil
}

func keysRetire(ctx context.Context, e env, args []string) error {
	var c config.Serve
	fs := newFlagSet(e, "keys retire KID [flags]",
		"Withdraw a signing key at once, for a key whose private half may have leaked. The\n"+
			"authorization servers stop signing with it and publishing it within --key-reload (1m by\n"+
			"default); an API checking tokens locally (--token-check=jwt) refuses the tokens it signed\n"+
			"once it refetches the JWKS, at most --jwks-max-age (5m by default) later. If the key signs\n"+
			"(or was due to take over after a rotation), a new key of its algorithm is created that\n"+
			"signs at once (or when the retired one would have). Find the KID with `gatehouse keys list`.\n"+
			"Works against a running deployment.",
		"  gatehouse keys list\n"+
			"  gatehouse keys retire 0vO3ThBEsI0-GQVeQ7mJl-pZ5LQvVdUYnXUb2XyxF0M\n"+
			"  gatehouse keys retire 0vO3ThBEsI0-GQVeQ7mJl-pZ5LQvVdUYnXUb2XyxF0M --db postgres://gatehouse@db/gatehouse --secret-file /etc/gatehouse/secret")
	c.Storage.RegisterFlags(fs)
	fs.StringVar(&c.SecretFile, "secret-file", "", "file holding the server secret (default <data-dir>/secret; or set GATEHOUSE_SECRET)")
	kid, err := parseWithKID(fs, e, args)
	if err != nil {
		return err
	}
	st, key, err := openKeys(ctx, e, &c)
	if err != nil {
		return err
	}
	defer st.Close()
	repl, err := keys.Retire(ctx, st, key, kid, time.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no signing key %q (gatehouse keys list shows them)", kid)
	}
	if err != nil {
		return fmt.Errorf("retiring key %s: %w", kid, err)
	}
	fmt.Fprintf(e.stdout, "key %s retired: running servers drop it within --key-reload\n", kid)
	if repl != "" {
		fmt.Fprintf(e.stdout, "new signing key %s published in its place\n", repl)
	}
	return nil
}

// kidForm is the form of a key ID: a SHA-256 thumbprint in base64url,
// which begins with "-" one time in 64.
var kidForm = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// parseWithKID parses `KID [flags]` or `[flags] KID [flags]`: the one
// argument that is not a flag is the kid. An argument of a kid's form that
// begins with "-" and names no flag is the kid too.
func parseWithKID(fs *flag.FlagSet, e env, args []string) (string, error) {
	for i, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && kidForm.MatchString(a) && fs.Lookup(name) == nil {
			rest := append(slices.Clone(args[:i]), args[i+1:]...)
			if err := parse(fs, e, rest); err != nil {
				return "", err
			}
			return a, nil
		}
	}
	if err := parseArgs(fs, args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") || rest[0] == "" {
		return "", fmt.Errorf("%w: name the key to retire: keys retire KID", errUsage)
	}
	kid := rest[0]
	if err := parse(fs, e, rest[1:]); err != nil {
		return "", err
	}
	return kid, nil
}

func keysList(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var asJSON bool
	fs := newFlagSet(e, "keys list [--json]",
		"List the signing keys (never their private halves) and what each is used for: signing\n"+
			"(signs new tokens), next (published, signs from its signs-from time), published (only\n"+
			"verifies the tokens it signed) or expired (out of the JWKS, deleted soon).",
		"  gatehouse keys list\n  gatehouse keys list --json --db postgres://gatehouse@db/gatehouse")
	s.RegisterFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		infos, err := keys.List(ctx, st, time.Now())
		if err != nil {
			return fmt.Errorf("listing keys: %w", err)
		}
		if asJSON {
			type row struct {
				KID       string     `json:"kid"`
				Algorithm string     `json:"alg"`
				State     string     `json:"state"`
				Created   time.Time  `json:"created_at"`
				NotBefore time.Time  `json:"not_before"`
				Expires   *time.Time `json:"expires_at,omitempty"`
			}
			rows := make([]row, 0, len(infos))
			for _, k := range infos {
				r := row{k.ID, string(k.Algorithm), string(k.State), k.CreatedAt, k.NotBefore, nil}
				if !k.ExpiresAt.IsZero() {
					r.Expires = &k.ExpiresAt
				}
				rows = append(rows, r)
			}
			return json.NewEncoder(e.stdout).Encode(rows)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tSIGNS FROM\tEXPIRES")
		for _, k := range infos {
			expires := "-"
			if !k.ExpiresAt.IsZero() {
				expires = k.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State,
				k.CreatedAt.Format(time.RFC3339), k.NotBefore.Format(time.RFC3339), expires)
		}
		return tw.Flush()
	})
}

// openKeys opens the store and the server secret the signing keys are
// sealed with, for the key commands.
func openKeys(ctx context.Context, e env, c *config.Serve) (*sqlstore.Store, *secret.Key, error) {
	c.SecretFile = c.SecretPath()
	key, err := assemble.LoadSecret(c, e.lookup)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, &c.Storage)
	if err != nil {
		return nil, nil, err
	}
	return st, key, nil
}
