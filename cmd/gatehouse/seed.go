package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/assemble"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func runSeed(ctx context.Context, e env, args []string) error {
	var c config.Serve
	fs := newFlagSet(e, "seed [flags]",
		"Create the demo setup: the built-in web app and API clients (their secrets written to\n"+
			"<data-dir>/clients/, readable only by you; the API's client a resource server for the API's URL),\n"+
			"a demo user with a random password printed once (or GATEHOUSE_DEMO_PASSWORD), and a few todos.\n"+
			"Safe to run again: what exists is kept. `serve` runs it by itself on a fresh database.",
		"  gatehouse seed\n  GATEHOUSE_DEMO_PASSWORD='a demo password' gatehouse seed --webapp-url https://todos.example.com")
	c.Storage.RegisterFlags(fs)
	fs.StringVar(&c.WebappAddr, "webapp-addr", "127.0.0.1:5000", "listen address of the web app (gives its default URL)")
	fs.StringVar(&c.WebappURL, "webapp-url", "", "public URL of the web app (its redirect URIs derive from it)")
	fs.StringVar(&c.APIAddr, "api-addr", "127.0.0.1:8001", "listen address of the resource API (gives its default URL)")
	fs.StringVar(&c.APIURL, "api-url", "", "public URL of the resource API, the access tokens' audience (the API's client is a resource server for it)")
	fs.BoolVar(&c.InsecureHTTP, "insecure-http", false, "the web app is served over plain HTTP behind a TLS proxy")
	fs.StringVar(&c.Resources, "resources", "", "resource file (YAML) declaring the API's resources (default: built-in todos)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	res, err := assemble.LoadResources(&c)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, &c.Storage)
	if err != nil {
		return err
	}
	defer st.Close()
	docs, err := assemble.OpenDocuments(ctx, st, res)
	if err != nil {
		return err
	}
	out, err := assemble.Seed(ctx, &c, st, docs, res, e.lookup)
	if err != nil {
		return err
	}
	if out.Password != "" {
		fmt.Fprintf(e.stdout, "created the demo user: username %q, password %q (shown once)\n", out.Username, out.Password)
	} else {
		fmt.Fprintf(e.stdout, "the demo setup exists already: nothing to do for user %q\n", out.Username)
	}
	return nil
}
