package assembletest

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/assemble"
	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/testlog"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// Options change how a stack is started.
type Options struct {
	// Args are serve's flags. Start gives a new data directory and a free
	// loopback address to each role first, so Args may override them.
	Args []string
	// Seed registers what the test signs in with (see Register), on the
	// migrated store before the roles are built; c is the stack's
	// configuration. Without it a fresh installation gets serve's demo
	// setup.
	Seed func(ctx context.Context, st *sqlstore.Store, c *config.Serve) error
	// Lockout is the authorization server's sign-in throttling; zero
	// takes its defaults.
	Lockout authz.Lockout
}

// Stack is the roles of one serve configuration, listening, until the
// test ends.
type Stack struct {
	*assemble.Assembly
	Config *config.Serve
	// Logs holds every role's log, JSON at debug level, as Logger writes it.
	Logs   *testlog.Buffer
	Logger *slog.Logger
	// Client trusts the stack's certificates.
	Client *http.Client
}

// Start builds the roles of serve's flags in o.Args and serves them.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	var c config.Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	args := append([]string{"--data-dir", t.TempDir(),
		"--authz-addr", gatehouseproc.MustFreeAddr(t), "--api-addr", gatehouseproc.MustFreeAddr(t), "--webapp-addr", gatehouseproc.MustFreeAddr(t)}, o.Args...)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("serve flags %q: %v", args, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("serve flags %q: %v", args, err)
	}
	if o.Seed != nil {
		st, err := assemble.OpenStore(ctx, &c.Storage)
		if err != nil {
			t.Fatalf("opening the store: %v", err)
		}
		err = o.Seed(ctx, st, &c)
		st.Close()
		if err != nil {
			t.Fatalf("seeding: %v", err)
		}
	}

	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := assemble.New(ctx, &c, assemble.Options{Logger: logger, Lockout: o.Lockout})
	if err != nil {
		t.Fatalf("assembling the roles: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	client, err := tlsconf.HTTPClient(30*time.Second, a.CAFiles...)
	if err != nil {
		t.Fatal(err)
	}
	group, err := httpserver.Listen(a.Servers...)
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- group.Serve(serveCtx, logger, 5*time.Second) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serving: %v", err)
		}
	})
	a.Start(serveCtx)
	return &Stack{Assembly: a, Config: &c, Logs: logs, Logger: logger, Client: client}
}
