package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Default timeouts applied to a [Server] field left at zero.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second

	// DefaultShutdownTimeout is used by [Group.Serve] when it is given a
	// shutdown timeout of zero or less.
	DefaultShutdownTimeout = 15 * time.Second
)

// Server describes one listener of the process and the handler behind it.
type Server struct {
	Name    string // role name for logs and metrics: "authz", "api", "webapp", "metrics"
	Addr    string // host:port to listen on; port 0 picks a free port
	Handler http.Handler
	TLS     *tls.Config // nil means plain HTTP

	// Timeouts; zero values get the Default* values above.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// ListenError reports that a server could not bind its address. Its message
// is meant to be shown to a person as is, for example
//
//	authz: cannot listen on 127.0.0.1:8000: address already in use
//
// It unwraps to the operating system's error, so
// errors.Is(err, syscall.EADDRINUSE) works.
type ListenError struct {
	Name string
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("%s: cannot listen on %s: %v", e.Name, e.Addr, rootCause(e.Err))
}

func (e *ListenError) Unwrap() error { return e.Err }

// rootCause strips the "listen tcp ADDR: bind:" layers net.Listen adds, which
// would only repeat what ListenError already says.
func rootCause(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		err = opErr.Err
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) && sysErr.Err != nil {
		err = sysErr.Err
	}
	return err
}

// Group is a set of bound listeners served together and shut down together.
// It is created by [Listen].
type Group struct {
	servers   []Server
	listeners []net.Listener

	mu     sync.Mutex
	served bool
	closed bool
}

// Listen validates every server and binds every listener before anything is
// served, so a taken port is reported before any role starts answering. On
// failure it closes the listeners it had opened and returns a single error
// (a [*ListenError] when binding failed).
func Listen(servers ...Server) (*Group, error) {
	if len(servers) == 0 {
		return nil, errors.New("httpserver: no servers to listen on")
	}
	seen := make(map[string]bool, len(servers))
	for _, s := range servers {
		if err := s.validate(); err != nil {
			return nil, err
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%s: server name used twice", s.Name)
		}
		seen[s.Name] = true
	}

	g := &Group{servers: servers}
	for _, s := range servers {
		l, err := net.Listen("tcp", s.Addr)
		if err != nil {
			g.closeListeners()
			return nil, &ListenError{Name: s.Name, Addr: s.Addr, Err: err}
		}
		g.listeners = append(g.listeners, l)
	}
	return g, nil
}

func (s Server) validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("httpserver: server for %q has no name", s.Addr)
	case s.Addr == "":
		return fmt.Errorf("%s: no listen address", s.Name)
	case s.Handler == nil:
		return fmt.Errorf("%s: no handler", s.Name)
	case s.TLS != nil && len(s.TLS.Certificates) == 0 && s.TLS.GetCertificate == nil && s.TLS.GetConfigForClient == nil:
		return fmt.Errorf("%s: TLS configuration has no certificate", s.Name)
	}
	return nil
}

// Addrs returns the address each server is bound to, keyed by server name.
// With a port of 0 in Server.Addr this is where the chosen port is found.
func (g *Group) Addrs() map[string]net.Addr {
	addrs := make(map[string]net.Addr, len(g.listeners))
	for i, l := range g.listeners {
		addrs[g.servers[i].Name] = l.Addr()
	}
	return addrs
}

// Close releases the listeners of a group that will not be served. It must
// not be called while Serve is running; Serve closes them itself.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.served {
		return errors.New("httpserver: Close called on a group that is being served")
	}
	g.closeListenersLocked()
	return nil
}

func (g *Group) closeListeners() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closeListenersLocked()
}

func (g *Group) closeListenersLocked() {
	if g.closed {
		return
	}
	g.closed = true
	for _, l := range g.listeners {
		_ = l.Close()
	}
}

// Serve serves every listener of the group (over TLS with HTTP/2 and HTTP/1.1
// where Server.TLS is set, plain HTTP/1.1 otherwise) until ctx is cancelled
// or one server fails.
//
// When ctx is cancelled, every server stops accepting connections at once and
// in-flight requests get up to shutdownTimeout to finish
// ([http.Server.Shutdown]); Serve returns nil when they all did. When one
// server fails, the others are shut down the same way and that failure is
// returned. Connections still open after shutdownTimeout are closed and
// reported as an error.
//
// Serve may be called once per group.
func (g *Group) Serve(ctx context.Context, logger *slog.Logger, shutdownTimeout time.Duration) error {
	g.mu.Lock()
	if g.served || g.closed {
		g.mu.Unlock()
		return errors.New("httpserver: group already served or closed")
	}
	g.served = true
	g.mu.Unlock()
	defer g.closeListeners()

	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if shutdownTimeout <= 0 {
		shutdownTimeout = DefaultShutdownTimeout
	}

	type result struct {
		name string
		err  error
	}
	servers := make([]*http.Server, len(g.servers))
	done := make(chan result, len(g.servers))
	for i, s := range g.servers {
		srv := s.httpServer(logger)
		servers[i] = srv
		l := g.listeners[i]
		logger.LogAttrs(ctx, slog.LevelInfo, "listening",
			slog.String("role", s.Name),
			slog.String("addr", l.Addr().String()),
			slog.Bool("tls", s.TLS != nil))
		go func() {
			var err error
			if srv.TLSConfig != nil {
				// Certificates come from TLSConfig (checked by Listen).
				err = srv.ServeTLS(l, "", "")
			} else {
				err = srv.Serve(l)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			done <- result{name: s.Name, err: err}
		}()
	}

	// Wait for the signal to stop: cancellation, or a server that returned
	// on its own (which only happens when it failed).
	var errs []error
	remaining := len(servers)
	select {
	case <-ctx.Done():
		logger.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.Duration("timeout", shutdownTimeout))
	case r := <-done:
		remaining--
		if r.err == nil {
			r.err = errors.New("stopped serving unexpectedly")
		}
		err := fmt.Errorf("%s: %w", r.name, r.err)
		logger.LogAttrs(ctx, slog.LevelError, "server failed, shutting down the others",
			slog.String("role", r.name), slog.String("error", r.err.Error()))
		errs = append(errs, err)
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	shutdownErrs := make([]error, len(servers))
	for i, srv := range servers {
		wg.Go(func() {
			if err := srv.Shutdown(shutdownCtx); err != nil {
				// Out of time: cut the connections that are left.
				_ = srv.Close()
				shutdownErrs[i] = fmt.Errorf("%s: in-flight requests did not finish within %s: %w",
					g.servers[i].Name, shutdownTimeout, err)
			}
		})
	}
	wg.Wait()
	for ; remaining > 0; remaining-- {
		if r := <-done; r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
		}
	}
	errs = append(errs, shutdownErrs...)
	err := errors.Join(errs...)
	if err == nil {
		logger.LogAttrs(ctx, slog.LevelInfo, "all servers stopped")
	}
	return err
}

func (s Server) httpServer(logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: orDefault(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(s.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(s.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(s.IdleTimeout, DefaultIdleTimeout),
		// net/http's own complaints (TLS handshake failures, malformed
		// requests) go to the structured log of the role.
		ErrorLog: slog.NewLogLogger(logger.With(slog.String("role", s.Name)).Handler(), slog.LevelWarn),
	}
	if s.TLS != nil {
		srv.TLSConfig = s.TLS.Clone()
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		srv.Protocols = &p
	}
	return srv
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
