package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
)

func main() {
	// Ctrl-C or SIGTERM (what a service manager sends) cancels ctx, and run
	// shuts the server down gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "protect-your-api:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	addr     string // where to listen: a loopback IP:port
	issuer   string // Gatehouse's issuer URL, the tokens' "iss"
	audience string // this API's identifier, the tokens' "aud"
	caFile   string // PEM of the CA to trust for the issuer's TLS; "" for the system's
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("protect-your-api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:9000", "loopback `IP:port` to serve plain HTTP on")
	fs.StringVar(&c.issuer, "issuer", "https://127.0.0.1:8000", "Gatehouse's issuer `URL` (its authorization server)")
	fs.StringVar(&c.audience, "audience", "", "this API's identifier, the `URL` it is registered under as a resource server (default \"http://\" + --addr)")
	fs.StringVar(&c.caFile, "ca-file", "", "`PEM` file of the CA to trust for the issuer's TLS, e.g. gatehouse-data/tls/local-ca.pem (default: the system's roots)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, nil
}

// run serves the API until ctx is cancelled, then shuts it down
// gracefully. It prints the address it listens on to stdout, and logs to
// stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	httpClient, err := issuerClient(c.caFile)
	if err != nil {
		return err
	}
	ln, err := listenLoopback(c.addr)
	if err != nil {
		return err
	}
	defer ln.Close() // in case serve is not reached; closing it twice is harmless
	if c.audience == "" {
		// "http://" + --addr, with the port chosen for --addr 127.0.0.1:0.
		c.audience = "http://" + ln.Addr().String()
	}
	// The verifier checks each token locally: its signature against the
	// keys Gatehouse publishes (found through its discovery document, and
	// fetched again every few minutes so that a withdrawn key stops
	// working), its issuer, its expiry and its audience. A token Gatehouse
	// issued for another API — its own, or another resource server — has
	// another "aud" and is refused. Nothing is fetched until the first
	// token comes, so this API and Gatehouse may start in any order; while
	// Gatehouse cannot be reached, requests get 503, not 401.
	verifier, err := bearer.NewJWTVerifier(ctx, bearer.JWTConfig{
		Issuer:     c.issuer,
		Audience:   c.audience,
		HTTPClient: httpClient,
	})
	if err != nil {
		return err
	}

	srv := &http.Server{
		Handler:           newHandler(verifier, newReports()),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// A request may wait for a fetch of the keys (issuerTimeout at
		// most) before its 503; the deadline leaves room to write it.
		WriteTimeout: issuerTimeout + 10*time.Second,
		IdleTimeout:  time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "serving http://%s (audience %s, issuer %s)\n", ln.Addr(), c.audience, c.issuer)
	return serve(ctx, srv, ln, logger)
}

// issuerTimeout bounds each request to Gatehouse: the verifier's fetch of
// its discovery document and keys.
const issuerTimeout = 5 * time.Second

// issuerClient is the HTTP client that fetches Gatehouse's discovery
// document and keys: it trusts the CA in caFile alone (as curl --cacert
// does), or the system's roots when caFile is "".
func issuerClient(caFile string) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file: no PEM certificate in %s", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport, Timeout: issuerTimeout}, nil
}

// listenLoopback listens on addr, which must be a loopback IP address
// and port (a host name could resolve to any address).
//
// The example serves plain HTTP, which is acceptable only because nothing
// leaves the machine: a bearer token is as good as a password to whoever
// reads it, so over a network the API must be reached through TLS. In
// production, put a TLS-terminating proxy (nginx, Caddy, a cloud load
// balancer) in front of this loopback address, or serve TLS here with
// srv.ServeTLS(ln, certFile, keyFile); either way, register the https URL
// clients reach as the resource server's audience.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--addr %s: this example serves plain HTTP, so only on a loopback IP address such as 127.0.0.1:9000; put a TLS proxy in front of it to reach it from elsewhere", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	return ln, nil
}

// shutdownTimeout bounds how long requests in flight may take to finish
// once shutdown begins.
const shutdownTimeout = 10 * time.Second

// serve runs srv on ln until ctx is cancelled, then stops accepting
// requests and waits for those in flight (up to shutdownTimeout).
func serve(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	<-errc // http.ErrServerClosed, now that Shutdown has returned
	return nil
}

// newHandler routes the requests. bearer.Middleware guards every route of
// the API: a request without a valid token for this API never reaches
// them. Under it, bearer.RequireScope answers 403 to a token that lacks
// the route's scope. Only /healthz, for load balancers and service
// managers, is outside it and needs no token.
func newHandler(v bearer.Verifier, reports *reports) http.Handler {
	api := http.NewServeMux()
	api.Handle("GET /reports", bearer.RequireScope("reports:read")(http.HandlerFunc(reports.list)))
	api.Handle("POST /reports", bearer.RequireScope("reports:write")(http.HandlerFunc(reports.add)))
	api.HandleFunc("GET /whoami", whoami)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("/", bearer.Middleware(v)(api))
	return mux
}

// whoami answers who the token speaks for: a person, through the client
// that got the token on their behalf, or a client for itself (the client
// credentials grant; its subject is "client:" and its ID, never a
// person's).
func whoami(w http.ResponseWriter, r *http.Request) {
	c, _ := bearer.ClaimsFrom(r.Context()) // always there under Middleware
	kind := "person"
	if c.IsClient() {
		kind = "client"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"subject":   c.Subject,
		"client_id": c.ClientID,
		"scopes":    c.Scopes,
		"kind":      kind,
	})
}

// report is one report.
type report struct {
	ID     int    `json:"id"`
	Title  string `json:"title"`
	Author string `json:"author"` // the subject of the token that added it
}

// reports is the API's data, in memory.
type reports struct {
	mu    sync.Mutex
	items []report
}

func newReports() *reports {
	return &reports{items: []report{
		{ID: 1, Title: "Quarterly revenue", Author: "finance"},
		{ID: 2, Title: "Uptime, last 30 days", Author: "operations"},
	}}
}

func (rs *reports) listAll() []report {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]report(nil), rs.items...)
}

func (rs *reports) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, rs.listAll())
}

// maxTitle bounds a report's title, in bytes.
const maxTitle = 200

// add adds the report in the request body, {"title":"…"}, written by the
// token's subject: a client's subject never equals a person's, so it is
// safe to key data by.
func (rs *reports) add(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title string `json:"title"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Title == "" || len(in.Title) > maxTitle {
		writeJSON(w, http.StatusBadRequest, map[string]string{
			"error": `the body must be {"title":"…"}, a title of 1 to ` + strconv.Itoa(maxTitle) + " bytes",
		})
		return
	}
	c, _ := bearer.ClaimsFrom(r.Context())
	writeJSON(w, http.StatusCreated, rs.insert(in.Title, c.Subject))
}

func (rs *reports) insert(title, author string) report {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rep := report{ID: len(rs.items) + 1, Title: title, Author: author}
	rs.items = append(rs.items, rep)
	return rep
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
