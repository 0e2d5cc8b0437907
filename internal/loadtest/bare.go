package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// bareEnv carries the bare server's settings to the child process that
// runs it: the tool starts itself again with this variable set.
const bareEnv = "GATEHOUSE_LOAD_BARE"

type bareSettings struct {
	Addr string `json:"addr"`
	Cert string `json:"cert,omitempty"` // empty: plain HTTP
	Key  string `json:"key,omitempty"`
}

// maxBare bounds the bare server's answers.
const maxBare = 1 << 20

// bareHandler is the physical limit Gatehouse is measured against: it reads
// the request body and answers n bytes of JSON content (n from the query),
// nothing else.
func bareHandler() http.Handler {
	filler := make([]byte, maxBare)
	for i := range filler {
		filler[i] = 'x'
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > maxBare {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(filler[:n])
	})
}

// bareServer is an http.Server with the settings Gatehouse's servers have
// (internal/httpserver's timeouts, internal/tlsconf's TLS configuration,
// HTTP/1.1 and HTTP/2).
func bareServer(s bareSettings) (*http.Server, error) {
	srv := &http.Server{
		Handler:           bareHandler(),
		ReadHeaderTimeout: httpserver.DefaultReadHeaderTimeout,
		ReadTimeout:       httpserver.DefaultReadTimeout,
		WriteTimeout:      httpserver.DefaultWriteTimeout,
		IdleTimeout:       httpserver.DefaultIdleTimeout,
	}
	if s.Cert != "" {
		if err := withTLS(srv, s.Cert, s.Key); err != nil {
			return nil, err
		}
	}
	return srv, nil
}

// withTLS makes srv serve TLS with the certificate and key files, in
// internal/tlsconf's configuration, over HTTP/1.1 and HTTP/2, as
// internal/httpserver's servers do.
func withTLS(srv *http.Server, cert, key string) error {
	cfg, err := tlsconf.ServerConfig(cert, key)
	if err != nil {
		return err
	}
	srv.TLSConfig = cfg
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	srv.Protocols = &p
	return nil
}

// RunBareChild serves the bare server until ctx ends when this process was
// started as the load tool's bare-server child, and reports whether it was.
// The tool's main calls it first.
func RunBareChild(ctx context.Context) (bool, error) {
	v, ok := os.LookupEnv(bareEnv)
	if !ok {
		return false, nil
	}
	var s bareSettings
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return true, fmt.Errorf("%s: %w", bareEnv, err)
	}
	srv, err := bareServer(s)
	if err != nil {
		return true, err
	}
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return true, err
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if s.Cert != "" {
		err = srv.ServeTLS(l, "", "")
	} else {
		err = srv.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return true, err
}

// startBare starts the bare server as a child process of this executable
// and waits until it answers.
func startBare(ctx context.Context, self string, s bareSettings, ready *http.Client) (*instance, error) {
	addr, err := gatehouseproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	s.Addr = addr
	env, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	p, err := gatehouseproc.Start(gatehouseproc.Spec{Bin: self, Env: []string{bareEnv + "=" + string(env)}})
	if err != nil {
		return nil, fmt.Errorf("the bare server: %w", err)
	}
	scheme := "https"
	if s.Cert == "" {
		scheme = "http"
	}
	in := &instance{p: p, authz: scheme + "://" + addr}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := gatehouseproc.WaitReady(rctx, ready, p, 5*time.Millisecond, in.authz+"/?n=2"); err != nil {
		in.stop()
		return nil, fmt.Errorf("the bare server: %w", err)
	}
	return in, nil
}
