package assemble

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// Options are what New takes besides the configuration.
type Options struct {
	// Logger is every role's log; required.
	Logger *slog.Logger
	// Lookup reads the environment: GATEHOUSE_SECRET and
	// GATEHOUSE_DEMO_PASSWORD. Nil reads nothing.
	Lookup func(string) (string, bool)
	// Tracing sends the roles' spans; nil is tracing off.
	Tracing *telemetry.Tracing
	// Lockout tunes the authorization server's sign-in throttling; the
	// zero value takes its defaults, as serve does. Tests that sign in
	// many times set it.
	Lockout authz.Lockout
}

// Assembly is the built roles of one process, ready to listen.
type Assembly struct {
	// Servers are the roles' servers in the order of --roles, then the
	// metrics and profiler servers when configured.
	Servers []httpserver.Server
	// CAFiles are the CA certificates the roles trust when they call each
	// other: the local CA first when serve generated the certificates.
	CAFiles []string
	// Seeded is what the banner says about the demo login.
	Seeded Seeded
	// Store is the SQL store every role uses.
	Store *sqlstore.Store
	// Docs is the API's document store; nil when the API does not run.
	Docs *docstore.Store
	// Key is the server secret.
	Key *secret.Key

	logger     *slog.Logger
	background []background
	stops      []func()
	closeOnce  sync.Once

	cancelBackground context.CancelFunc // set by Start
	running          sync.WaitGroup     // Start's background work
}

// background is a role's work beside its server.
type background struct {
	role string
	run  func(ctx context.Context) error
}

// New opens what the roles of c use, seeds a fresh installation and builds
// the roles' servers. The caller listens on them (httpserver.Listen), calls
// Start once they listen and Close when they have stopped.
func New(ctx context.Context, c *config.Serve, o Options) (a *Assembly, err error) {
	if o.Logger == nil {
		return nil, errors.New("assemble: a logger is required")
	}
	if o.Lookup == nil {
		o.Lookup = func(string) (string, bool) { return "", false }
	}
	if o.Tracing == nil {
		o.Tracing = telemetry.Off()
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	res, err := LoadResources(c)
	if err != nil {
		return nil, err
	}
	if err := checkWebappResources(c, res); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	key, err := LoadSecret(c, o.Lookup)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, &c.Storage)
	if err != nil {
		return nil, err
	}
	a = &Assembly{Store: st, Key: key, logger: o.Logger}
	defer func() {
		if err != nil {
			a.Close()
			a = nil
		}
	}()
	if c.Runs(config.RoleAPI) {
		if a.Docs, err = OpenDocuments(ctx, st, res); err != nil {
			return a, err
		}
	}
	if a.Seeded, err = SeedOnFirstStart(ctx, c, st, a.Docs, res, o.Lookup); err != nil {
		return a, err
	}

	serverTLS, caFiles, err := setupTLS(c)
	if err != nil {
		return a, err
	}
	a.CAFiles = caFiles
	client, err := tlsconf.HTTPClient(15*time.Second, caFiles...)
	if err != nil {
		return a, err
	}
	client.Transport = o.Tracing.Transport(client.Transport)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := httpserver.NewMetrics(reg)
	if err != nil {
		return a, fmt.Errorf("metrics: %w", err)
	}

	nonces, err := newDPoPNonces(c, key)
	if err != nil {
		return a, err
	}
	w := wiring{cfg: c, logger: o.Logger, store: st, key: key, docs: a.Docs, resources: res, client: client, dpopNonces: nonces, lockout: o.Lockout}
	for _, name := range c.RoleSet() {
		r, err := w.build(ctx, name)
		if err != nil {
			return a, fmt.Errorf("%s: %w", name, err)
		}
		if r.stop != nil {
			a.stops = append(a.stops, r.stop)
		}
		r.server.Name, r.server.TLS = name, serverTLS
		r.server.Handler = withOperations(name, r.server.Handler, st.Ping, o.Logger, metrics, o.Tracing, c.RequestTimeout, c.TrustedProxies)
		a.Servers = append(a.Servers, r.server)
		if r.background != nil {
			a.background = append(a.background, background{role: name, run: r.background})
		}
	}
	if c.MetricsAddr != "" {
		a.Servers = append(a.Servers, httpserver.Server{Name: "metrics", Addr: c.MetricsAddr, Handler: httpserver.MetricsHandler(reg)})
	}
	if c.DebugAddr != "" {
		a.Servers = append(a.Servers, httpserver.Server{Name: "debug", Addr: c.DebugAddr, Handler: httpserver.DebugHandler()})
	}
	return a, nil
}

// Start runs the roles' background work (the authorization server's key
// rotation and janitor) until ctx ends or Close is called; it returns at
// once.
func (a *Assembly) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	a.cancelBackground = cancel
	for _, b := range a.background {
		a.running.Go(func() {
			if err := b.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.logger.Error("background work stopped", "role", b.role, "err", err)
			}
		})
	}
}

// Close stops the background work and waits for it (a sweep in progress
// ends before the database closes), ends the roles' own cleanup work and
// closes the stores. Call it once the servers have stopped; later calls
// do nothing.
func (a *Assembly) Close() error {
	var err error
	a.closeOnce.Do(func() {
		if a.cancelBackground != nil {
			a.cancelBackground()
		}
		a.running.Wait()
		for _, stop := range a.stops {
			stop()
		}
		err = a.Store.Close()
	})
	return err
}

// withOperations adds /healthz and /readyz and the cross-cutting middleware
// every role shares, outermost first; requestTimeout is each request's
// deadline (--request-timeout), proxies the reverse proxies the access log
// takes the client's address from (--trusted-proxies). With tracing on, the
// request's span is outermost, so the access log line and everything the
// handler does belong to it.
func withOperations(role string, h http.Handler, ping func(context.Context) error, logger *slog.Logger, m *httpserver.Metrics, tel *telemetry.Tracing, requestTimeout time.Duration, proxies httpserver.TrustedProxies) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	httpserver.Health(mux, func(ctx context.Context) error {
		if err := ping(ctx); err != nil {
			return httpserver.NotReady("database unreachable", err)
		}
		return nil
	})
	access := logger.With("role", role)
	var tp trace.TracerProvider // nil: no spans, no cost
	if tel.Enabled() {
		tp = tel.TracerProvider()
	}
	return httpserver.Chain(mux,
		func(next http.Handler) http.Handler { return httpserver.Trace(tp, tel.Propagator(), role, next) },
		func(next http.Handler) http.Handler { return m.Wrap(role, next) },
		httpserver.RequestID,
		func(next http.Handler) http.Handler { return httpserver.AccessLog(access, proxies, next) },
		func(next http.Handler) http.Handler { return httpserver.Recover(logger, next) },
		func(next http.Handler) http.Handler { return httpserver.LimitBody(maxBody, next) },
		func(next http.Handler) http.Handler { return httpserver.Deadline(requestTimeout, next) },
	)
}

// maxBody bounds every request body; the API may set a lower limit of its own.
const maxBody = 4 << 20

// LoadSecret takes the server secret from GATEHOUSE_SECRET or its file. Only
// for the embedded SQLite default is a missing file generated: instances that
// share a database must share one secret, so it has to be given to them.
func LoadSecret(c *config.Serve, lookup func(string) (string, bool)) (*secret.Key, error) {
	if v, ok := lookup("GATEHOUSE_SECRET"); ok && v != "" {
		k, err := secret.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("GATEHOUSE_SECRET: %w", err)
		}
		return k, nil
	}
	path := c.SecretPath()
	if c.SecretFile != "" || !strings.HasPrefix(c.DSN(), "sqlite:") {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("server secret: %s cannot be read (%v); with a shared database give every instance the same secret through --secret-file or GATEHOUSE_SECRET", path, errors.Unwrap(err))
		}
	}
	k, _, err := secret.LoadOrCreate(path)
	if err != nil {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	return k, nil
}

// setupTLS returns the servers' TLS configuration (nil with --insecure-http)
// and the CA files the roles trust when they call each other.
func setupTLS(c *config.Serve) (*tls.Config, []string, error) {
	var cas []string
	if c.CAFile != "" {
		cas = append(cas, c.CAFile)
	}
	switch {
	case c.InsecureHTTP:
		return nil, cas, nil
	case c.TLSCert != "":
		cfg, err := tlsconf.ServerConfig(c.TLSCert, c.TLSKey)
		return cfg, cas, err
	}
	files, _, err := tlsconf.EnsureLocal(filepath.Join(c.DataDir, "tls"), time.Now())
	if err != nil {
		return nil, nil, fmt.Errorf("local certificates: %w", err)
	}
	cfg, err := tlsconf.ServerConfig(files.Cert, files.Key)
	if err != nil {
		return nil, nil, err
	}
	return cfg, append([]string{files.CACert}, cas...), nil
}
