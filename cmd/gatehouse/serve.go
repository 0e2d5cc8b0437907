package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/assemble"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/logbuf"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

const serveExamples = `  gatehouse serve                                   # everything, embedded SQLite, local HTTPS
  gatehouse serve --data-dir /var/lib/gatehouse
  gatehouse serve --roles authz --db postgres://gatehouse@db/gatehouse --secret-file /etc/gatehouse/secret
  gatehouse serve --insecure-http --trusted-proxies 10.0.0.0/8 --issuer https://login.example.com   # behind a TLS proxy`

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
	a, err := assemble.New(ctx, &c, assemble.Options{Logger: logger, Lookup: e.lookup, Tracing: tel})
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			logger.Error("closing the stores", "err", err)
		}
	}()
	group, err := httpserver.Listen(a.Servers...)
	if err != nil {
		return err
	}

	printBanner(e.stdout, &c, a.CAFiles, a.Seeded)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.Start(ctx)
	logger.Info("gatehouse is ready", "roles", c.Roles)
	return group.Serve(ctx, logger, c.ShutdownTimeout)
}

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

func printBanner(w io.Writer, c *config.Serve, caFiles []string, seeded assemble.Seeded) {
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
