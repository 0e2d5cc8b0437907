package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/logbuf"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

const serveExamples = `  gatehouse serve                                   # everything, embedded SQLite, local HTTPS
  gatehouse serve --data-dir /var/lib/gatehouse
  gatehouse serve --roles authz --db postgres://gatehouse@db/gatehouse --secret-file /etc/gatehouse/secret
  gatehouse serve --insecure-http --trusted-proxies 10.0.0.0/8 --issuer https://login.example.com   # behind a TLS proxy`

// role is one running role: its listener and its background work.
type role struct {
	server     httpserver.Server
	background func(ctx context.Context) error // nil when it has none
}

func runServe(ctx context.Context, e env, args []string) error {
	var c config.Serve
	fs := newFlagSet(e, "serve [flags]",
		"Run the authorization server, the resource API and the web app (or the roles named by --roles).\n"+
			"On a fresh data directory it creates an SQLite database, local certificates, a server secret\n"+
			"and the demo setup, and prints where everything is.", serveExamples)
	c.RegisterFlags(fs)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// One write system call per log line costs a measurable share of a
	// request's CPU (docs/performance.md): the lines go out together, at
	// least every 100 ms, and all of them before serve returns.
	logOut := logbuf.New(e.stderr, 0, 0)
	defer logOut.Close()
	// Traces go to the OTLP endpoint of the OTEL_* variables, if any; the
	// spans still buffered are sent once the servers have stopped.
	tel, err := telemetry.New(ctx, e.lookup)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	logger, err := newLogger(logOut, &c.Storage, tel)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), traceFlushTimeout)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Warn("traces not all sent", "err", err)
		}
	}()
	if limit, ok := c.GoMemoryLimit(e.lookup); ok {
		e.setMemoryLimit(limit)
	}
	if c.InsecureHTTP {
		logger.Warn("!!! --insecure-http: serving PLAIN HTTP. Tokens, passwords and cookies cross the network unencrypted unless a TLS-terminating proxy sits in front. Never expose these ports directly.")
	}
	res, err := loadResources(&c)
	if err != nil {
		return err
	}
	if err := checkWebappResources(&c, res); err != nil {
		return err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}

	key, err := loadSecret(&c, e.lookup)
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
	seeded, err := seedOnFirstStart(ctx, &c, st, docs, res, e.lookup)
	if err != nil {
		return err
	}

	serverTLS, caFiles, err := setupTLS(&c)
	if err != nil {
		return err
	}
	client, err := tlsconf.HTTPClient(15*time.Second, caFiles...)
	if err != nil {
		return err
	}
	client.Transport = tel.Transport(client.Transport)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := httpserver.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	nonces, err := newDPoPNonces(&c, key)
	if err != nil {
		return err
	}
	w := wiring{cfg: &c, logger: logger, store: st, key: key, docs: docs, resources: res, client: client, dpopNonces: nonces}
	var roles []role
	for _, name := range c.RoleSet() {
		r, err := w.build(ctx, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.server.Name, r.server.TLS = name, serverTLS
		r.server.Handler = withOperations(name, r.server.Handler, st.Ping, logger, metrics, tel, c.RequestTimeout, c.TrustedProxies)
		roles = append(roles, r)
	}
	servers := make([]httpserver.Server, 0, len(roles)+1)
	for _, r := range roles {
		servers = append(servers, r.server)
	}
	if c.MetricsAddr != "" {
		servers = append(servers, httpserver.Server{Name: "metrics", Addr: c.MetricsAddr, Handler: httpserver.MetricsHandler(reg)})
	}
	if c.DebugAddr != "" {
		servers = append(servers, httpserver.Server{Name: "debug", Addr: c.DebugAddr, Handler: httpserver.DebugHandler()})
	}
	group, err := httpserver.Listen(servers...)
	if err != nil {
		return err
	}

	printBanner(e.stdout, &c, caFiles, seeded)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, r := range roles {
		if r.background == nil {
			continue
		}
		go func() {
			if err := r.background(ctx); err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("background work stopped", "role", r.server.Name, "err", err)
			}
		}()
	}
	logger.Info("gatehouse is ready", "roles", c.Roles)
	return group.Serve(ctx, logger, c.ShutdownTimeout)
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

// traceFlushTimeout bounds sending the buffered spans at shutdown.
const traceFlushTimeout = 5 * time.Second

// newLogger is the log of --log-level and --log-format; with tracing on,
// the lines of a traced request carry its trace_id and span_id.
func newLogger(w io.Writer, s *config.Storage, tel *telemetry.Tracing) (*slog.Logger, error) {
	level, err := s.Level()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if s.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(tel.LogHandler(h)), nil
}

// loadSecret takes the server secret from GATEHOUSE_SECRET or its file. Only
// for the embedded SQLite default is a missing file generated: instances that
// share a database must share one secret, so it has to be given to them.
func loadSecret(c *config.Serve, lookup func(string) (string, bool)) (*secret.Key, error) {
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

func printBanner(w io.Writer, c *config.Serve, caFiles []string, seeded seedOutcome) {
	fmt.Fprintln(w, "Gatehouse is running:")
	urls := map[string]string{
		config.RoleAuthz:  "authorization server  " + c.IssuerURL(),
		config.RoleAPI:    "resource API          " + c.APIPublicURL() + "/api",
		config.RoleWebapp: "web app               " + c.WebappPublicURL() + "   <- open this in a browser",
	}
	for _, r := range c.RoleSet() {
		fmt.Fprintln(w, "  "+urls[r])
	}
	if c.MetricsAddr != "" {
		fmt.Fprintf(w, "  metrics               http://%s/metrics\n", c.MetricsAddr)
	}
	if c.DebugAddr != "" {
		fmt.Fprintf(w, "  profiler              http://%s/debug/pprof/\n", c.DebugAddr)
	}
	if !c.InsecureHTTP && c.TLSCert == "" && len(caFiles) > 0 {
		fmt.Fprintf(w, "Local CA certificate (trust it in your browser or pass it to curl --cacert): %s\n", caFiles[0])
	}
	if line := demoLogin(&c.Storage, seeded); line != "" {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}
