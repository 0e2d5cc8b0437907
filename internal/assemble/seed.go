package assemble

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// Seeded is what the banner says about the demo login.
type Seeded struct {
	Username string // "" without a demo user
	Password string // only on the start that created the user
}

// OpenStore opens (and migrates) the configured database; s is valid
// (config.Storage.Validate).
func OpenStore(ctx context.Context, s *config.Storage) (*sqlstore.Store, error) {
	if s.DB == "" {
		// The embedded default lives in the data directory, which the
		// first command run on a fresh clone creates, as serve does.
		if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the data directory: %w", err)
		}
	}
	return sqlstore.Open(ctx, s.DSN(), sqlstore.Options{Migrate: true, MaxOpenConns: s.MaxOpenConns, SQLiteCacheKiB: s.SQLiteCacheMiB << 10})
}

// SeedOnFirstStart seeds a database that has no clients yet: the very first
// start of an installation. On later starts it makes the client the API
// introspects with (--api-client-id) a resource server for the API's
// current URL: the introspection endpoint shows a resource server only
// the access tokens whose audience is its own, and the audience follows
// --api-addr and --api-url. It also gives the web app's client
// (--webapp-client-id), when it is registered with no ID token algorithm
// (as installations seeded before there was a choice are), the one the
// seed registers it with, admin.WebappIDTokenAlg; one set explicitly is
// kept. The web app reads the algorithm from the registration when it
// starts, after this. The banner's demo login names the demo user when
// the installation has one.
//
// It does all this only when c runs the authorization server or the web
// app (see the package documentation); docs is nil when the API does not
// run, and the first start then adds no demo todos.
func SeedOnFirstStart(ctx context.Context, c *config.Serve, st *sqlstore.Store, docs *docstore.Store, res *resource.Set, lookup func(string) (string, bool)) (Seeded, error) {
	if !c.Runs(config.RoleAuthz) && !c.Runs(config.RoleWebapp) {
		return Seeded{}, nil
	}
	clients, err := st.ListClients(ctx)
	if err != nil {
		return Seeded{}, fmt.Errorf("reading clients: %w", err)
	}
	if len(clients) == 0 {
		return Seed(ctx, c, st, docs, res, lookup)
	}
	if _, err := admin.EnsureResourceAudience(ctx, st, c.APIClientID, c.APIPublicURL(), time.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Seeded{}, fmt.Errorf("the API's client: %w", err)
	}
	if _, err := admin.EnsureIDTokenAlg(ctx, st, c.WebappClientID, admin.WebappIDTokenAlg, time.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Seeded{}, fmt.Errorf("the web app's client: %w", err)
	}
	// The CLI's client is not registered again here: an operator may have
	// removed it. gatehouse seed registers it on an installation without it.
	if _, err := st.GetUserByUsername(ctx, admin.DemoUsername); err == nil {
		return Seeded{Username: admin.DemoUsername}, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return Seeded{}, fmt.Errorf("reading users: %w", err)
	}
	return Seeded{}, nil
}

// Seed creates the demo setup: the built-in clients with their secret
// files, the demo user and, when docs is not nil, the demo user's todos.
// What exists is kept.
func Seed(ctx context.Context, c *config.Serve, st *sqlstore.Store, docs *docstore.Store, res *resource.Set, lookup func(string) (string, bool)) (Seeded, error) {
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
		return Seeded{}, fmt.Errorf("seeding the demo setup: %w", err)
	}
	return Seeded{Username: admin.DemoUsername, Password: r.DemoPassword}, nil
}

// LoadResources reads the resource file of --resources, or the built-in
// one without it.
func LoadResources(c *config.Serve) (*resource.Set, error) {
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

// OpenDocuments opens the API's document store and makes sure every declared
// resource has its table and indexes.
func OpenDocuments(ctx context.Context, st *sqlstore.Store, res *resource.Set) (*docstore.Store, error) {
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

// addTodos (nil without docs) stores the demo user's todos in the `todos` resource, when the
// resource file declares one; each is checked against the resource's schema.
func addTodos(docs *docstore.Store, res *resource.Set) func(context.Context, string, []map[string]any) error {
	if docs == nil {
		return nil
	}
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
