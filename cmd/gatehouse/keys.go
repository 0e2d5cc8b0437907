package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func runKeys(ctx context.Context, e env, args []string) error {
	sub := map[string]func(context.Context, env, []string) error{"rotate": keysRotate}
	return dispatch(ctx, e, "keys", "rotate", sub, args)
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
	c.SecretFile = c.SecretPath()
	key, err := loadSecret(&c, e.lookup)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, &c.Storage)
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
