package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// seedOutcome is what the banner says about the demo login.
type seedOutcome struct {
	username string
	password string // only on the start that created the user
}

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
	res, err := loadResources(&c)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, &c.Storage)
	if err != nil {
		return err
	}
	defer st.Close()
	docs, err := openDocuments(ctx, st, res)
	if err != nil {
		return err
	}
	out, err := seed(ctx, &c, st, docs, res, e.lookup)
	if err != nil {
		return err
	}
	if out.password != "" {
		fmt.Fprintf(e.stdout, "created the demo user: username %q, password %q (shown once)\n", out.username, out.password)
	} else {
		fmt.Fprintf(e.stdout, "the demo setup exists already: nothing to do for user %q\n", out.username)
	}
	return nil
}

// seedOnFirstStart seeds a database that has no clients yet: the very first
// start of an installation. On later starts it makes the client the API
// introspects with (--api-client-id) a resource server for the API's
// current URL: the introspection endpoint shows a resource server only
// the access tokens whose audience is its own, and the audience follows
// --api-addr and --api-url. It also gives the web app's client
// (--webapp-client-id), when it is registered with no ID token algorithm
// (as installations seeded before there was a choice are), the one the
// seed registers it with, admin.WebappIDTokenAlg; one set explicitly is
// kept. The web app reads the algorithm from the registration when it
// starts, after this. An installation with the demo user gets the CLI's
// public client (admin.EnsureCLIClient) when it has none.
func seedOnFirstStart(ctx context.Context, c *config.Serve, st *sqlstore.Store, docs *docstore.Store, res *resource.Set, lookup func(string) (string, bool)) (seedOutcome, error) {
	clients, err := st.ListClients(ctx)
	if err != nil {
		return seedOutcome{}, fmt.Errorf("reading clients: %w", err)
	}
	if len(clients) == 0 {
		return seed(ctx, c, st, docs, res, lookup)
	}
	if _, err := admin.EnsureResourceAudience(ctx, st, c.APIClientID, c.APIPublicURL(), time.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return seedOutcome{}, fmt.Errorf("the API's client: %w", err)
	}
	if _, err := admin.EnsureIDTokenAlg(ctx, st, c.WebappClientID, admin.WebappIDTokenAlg, time.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return seedOutcome{}, fmt.Errorf("the web app's client: %w", err)
	}
	// The CLI's client is not registered again here: an operator may have
	// removed it. gatehouse seed registers it on an installation without it.
	if _, err := st.GetUserByUsername(ctx, admin.DemoUsername); err == nil {
		return seedOutcome{username: admin.DemoUsername}, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return seedOutcome{}, fmt.Errorf("reading users: %w", err)
	}
	return seedOutcome{}, nil
}

func seed(ctx context.Context, c *config.Serve, st *sqlstore.Store, docs *docstore.Store, res *resource.Set, lookup func(string) (string, bool)) (seedOutcome, error) {
	pw, _ := lookup("GATEHOUSE_DEMO_PASSWORD")
	r, err := admin.Seed(ctx, st, admin.SeedOptions{
		WebappURL:      c.WebappPublicURL(),
		APIURL:         c.APIPublicURL(),
		ResourceScopes: res.Scopes(),
		DemoPassword:   pw,
		SecretFile:     func(id string) string { return config.ClientSecretPath(c.DataDir, id) },
		AddTodos:       addTodos(docs, res),
		Now:            time.Now(),
	})
	if err != nil {
		return seedOutcome{}, fmt.Errorf("seeding the demo setup: %w", err)
	}
	return seedOutcome{username: admin.DemoUsername, password: r.DemoPassword}, nil
}

// loadResources reads the resource file of --resources, or the built-in
// one without it.
func loadResources(c *config.Serve) (*resource.Set, error) {
	if c.Resources == "" {
		return resource.Default()
	}
	return resource.LoadResources(c.Resources)
}

// checkWebappResources refuses, when serve runs the web app, resources the
// web app cannot work with: a resource file replaces the built-in todos
// resource, and the web app lists and edits the person's todos there.
func checkWebappResources(c *config.Serve, res *resource.Set) error {
	if !c.Runs(config.RoleWebapp) {
		return nil
	}
	if err := res.CheckWebapp(); err != nil {
		return fmt.Errorf("the web app cannot run with the resource file %s: %v. "+
			"A resource file replaces the built-in todos resource, which the web app shows and edits: "+
			"keep a todos resource in %s (`gatehouse resources default` prints the built-in file to start from; "+
			"`gatehouse resources check %s` checks the result), or run without the web app: --roles authz,api",
			c.Resources, err, c.Resources, c.Resources)
	}
	return nil
}

// openDocuments opens the API's document store and makes sure every declared
// resource has its table and indexes.
func openDocuments(ctx context.Context, st *sqlstore.Store, res *resource.Set) (*docstore.Store, error) {
	// Writes share sqlstore's transactions: on SQLite, group commit.
	docs, err := docstore.New(st.DB(), st.ReadDB(), st.Dialect(), docstore.WithTxRunner(st))
	if err != nil {
		return nil, err
	}
	for _, r := range res.Resources {
		if err := docs.Ensure(ctx, r.Collection()); err != nil {
			return nil, fmt.Errorf("resource %s: %w", r.Name, err)
		}
	}
	return docs, nil
}

// addTodos stores the demo user's todos in the `todos` resource, when the
// resource file declares one; each is checked against the resource's schema.
func addTodos(docs *docstore.Store, res *resource.Set) func(context.Context, string, []map[string]any) error {
	return func(ctx context.Context, owner string, todos []map[string]any) error {
		r, ok := res.ByURL("todos")
		if !ok {
			return nil
		}
		now := time.Now().UTC()
		batch := make([]docstore.Document, 0, len(todos))
		for _, t := range todos {
			for k, v := range r.Defaults {
				if _, set := t[k]; !set {
					t[k] = v
				}
			}
			raw, err := json.Marshal(t)
			if err != nil {
				return err
			}
			var generic any
			if err := json.Unmarshal(raw, &generic); err != nil {
				return err
			}
			if err := r.Schema.Validate(generic); err != nil {
				return fmt.Errorf("demo todo %v: %w", t["title"], err)
			}
			batch = append(batch, docstore.Document{
				ID: docstore.NewID(), Owner: owner, Created: now, Updated: now, ETag: docstore.NewETag(), Data: raw,
			})
		}
		return docs.Insert(ctx, r.Name, batch)
	}
}
