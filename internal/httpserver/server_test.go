package httpserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }

func TestListenAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	first := gatehouseproc.MustFreeAddr(t)

	g, err := httpserver.Listen(
		httpserver.Server{Name: "metrics", Addr: first, Handler: http.HandlerFunc(ok)},
		httpserver.Server{Name: "authz", Addr: taken.Addr().String(), Handler: http.HandlerFunc(ok)},
	)
	if err == nil {
		_ = g.Close()
		t.Fatal("Listen on a taken port succeeded")
	}
	want := "authz: cannot listen on " + taken.Addr().String() + ": address already in use"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("errors.Is(err, EADDRINUSE) = false for %#v", err)
	}
	// The first listener must have been released.
	l, err := net.Listen("tcp", first)
	if err != nil {
		t.Fatalf("first listener still open: %v", err)
	}
	_ = l.Close()
}

func TestListenInvalid(t *testing.T) {
	h := http.HandlerFunc(ok)
	tests := []struct {
		name    string
		servers []httpserver.Server
		want    string
	}{
		{"none", nil, "httpserver: no servers to listen on"},
		{"no handler", []httpserver.Server{{Name: "api", Addr: "127.0.0.1:0"}}, "api: no handler"},
		{"no addr", []httpserver.Server{{Name: "api", Handler: h}}, "api: no listen address"},
		{"missing port", []httpserver.Server{{Name: "api", Addr: "127.0.0.1", Handler: h}},
			"api: cannot listen on 127.0.0.1: address 127.0.0.1: missing port in address"},
		{"duplicate name", []httpserver.Server{
			{Name: "api", Addr: "127.0.0.1:0", Handler: h},
			{Name: "api", Addr: "127.0.0.1:0", Handler: h},
		}, "api: server name used twice"},
		{"tls without cert", []httpserver.Server{{Name: "authz", Addr: "127.0.0.1:0", Handler: h, TLS: &tls.Config{}}},
			"authz: TLS configuration has no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := httpserver.Listen(tt.servers...)
			if err == nil {
				_ = g.Close()
				t.Fatal("Listen succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
		})
	}
}

// selfSigned makes a certificate for 127.0.0.1 and returns the server config
// and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "httpserver test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
	}, pool
}

// start serves g in the background and returns a stop function that cancels
// and returns Serve's error.
func start(t *testing.T, g *httpserver.Group, shutdownTimeout time.Duration) (cancel func(), wait func() error) {
	t.Helper()
	ctx, cancelCtx := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ctx, slog.New(slog.DiscardHandler), shutdownTimeout) }()
	var err error
	var got bool
	wait = func() error {
		if !got {
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
			got = true
		}
		return err
	}
	t.Cleanup(func() { cancelCtx(); _ = wait() })
	return cancelCtx, wait
}

func TestServeTLSWithHTTP2(t *testing.T) {
	serverTLS, pool := selfSigned(t)
	g, err := httpserver.Listen(
		httpserver.Server{Name: "authz", Addr: "127.0.0.1:0", Handler: http.HandlerFunc(ok), TLS: serverTLS},
		httpserver.Server{Name: "metrics", Addr: "127.0.0.1:0", Handler: http.HandlerFunc(ok)},
	)
	if err != nil {
		t.Fatal(err)
	}
	// After GOAWAY, an HTTP/2 server gives the client up to a second to
	// hang up, so the shutdown budget must exceed that.
	cancel, wait := start(t, g, 5*time.Second)
	addrs := g.Addrs()

	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addrs["authz"].String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("protocol = %s (ALPN %q), want HTTP/2 over TLS", resp.Proto, resp.TLS.NegotiatedProtocol)
	}

	// The plain listener of the same group answers plain HTTP.
	resp, err = http.Get("http://" + addrs["metrics"].String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("plain server: status %d", resp.StatusCode)
	}

	cancel()
	if err := wait(); err != nil {
		t.Errorf("Serve = %v, want nil after clean shutdown", err)
	}
}

func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	g, err := httpserver.Listen(httpserver.Server{Name: "api", Addr: "127.0.0.1:0", Handler: mux})
	if err != nil {
		t.Fatal(err)
	}
	addr := g.Addrs()["api"].String()
	cancel, wait := start(t, g, 5*time.Second)

	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	<-started
	cancel()

	// New connections are refused once shutdown began, while the slow
	// request is still running.
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}

	close(release)
	r := <-inflight
	if r.err != nil || r.status != http.StatusOK || r.body != "done" {
		t.Errorf("in-flight request = %d %q %v, want 200 \"done\"", r.status, r.body, r.err)
	}
	if err := wait(); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	g, err := httpserver.Listen(httpserver.Server{Name: "api", Addr: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			close(started)
			<-release
		})})
	if err != nil {
		t.Fatal(err)
	}
	addr := g.Addrs()["api"].String()
	cancel, wait := start(t, g, 100*time.Millisecond)
	go func() {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	err = wait()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want a shutdown timeout error", err)
	}
}

func TestServeTwice(t *testing.T) {
	g, err := httpserver.Listen(httpserver.Server{Name: "api", Addr: "127.0.0.1:0", Handler: http.HandlerFunc(ok)})
	if err != nil {
		t.Fatal(err)
	}
	cancel, wait := start(t, g, time.Second)
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := g.Serve(t.Context(), nil, time.Second); err == nil {
		t.Error("second Serve succeeded")
	}
}
