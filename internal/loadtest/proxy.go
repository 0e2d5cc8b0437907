package loadtest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// rrProxy is a round-robin reverse proxy in front of one role's instances,
// standing where a TLS-terminating load balancer would: it keeps the public
// Host header, sets X-Forwarded-For/-Proto (the instances run with
// --trusted-proxies naming loopback) and sends request i to backend i mod n.
// It does not retry and has no health check: a failed backend answers 502,
// which the scenario's check counts as an error.
type rrProxy struct {
	next      atomic.Uint64
	transport *http.Transport

	mu       sync.RWMutex
	backends []*httputil.ReverseProxy
	served   []atomic.Int64 // requests sent to backend i, over every setBackends
}

// newRRProxy returns a proxy for n backends; setBackends gives their URLs.
// idle is how many idle connections it keeps per backend (at least the load's
// connections, or every request would open a new one).
func newRRProxy(n, idle int) *rrProxy {
	return &rrProxy{
		served: make([]atomic.Int64, n),
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: idle,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// setBackends points the proxy at the instances' base URLs (one per
// backend given to newRRProxy), replacing the previous ones.
func (p *rrProxy) setBackends(bases []string) error {
	if len(bases) != len(p.served) {
		return fmt.Errorf("proxy: %d backends, want %d", len(bases), len(p.served))
	}
	rps := make([]*httputil.ReverseProxy, len(bases))
	for i, b := range bases {
		target, err := url.Parse(b)
		if err != nil {
			return fmt.Errorf("proxy backend %q: %w", b, err)
		}
		rps[i] = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = r.In.Host // the public host, as a load balancer keeps it
				r.SetXForwarded()
			},
			Transport: p.transport,
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				http.Error(w, "proxy: backend "+target.Host+": "+err.Error(), http.StatusBadGateway)
			},
		}
	}
	p.mu.Lock()
	p.backends = rps
	p.mu.Unlock()
	return nil
}

func (p *rrProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.RLock()
	bs := p.backends
	p.mu.RUnlock()
	if len(bs) == 0 {
		http.Error(w, "proxy: no backends", http.StatusServiceUnavailable)
		return
	}
	i := int((p.next.Add(1) - 1) % uint64(len(bs)))
	p.served[i].Add(1)
	bs[i].ServeHTTP(w, r)
}

// counts returns the requests sent to each backend so far.
func (p *rrProxy) counts() []int64 {
	out := make([]int64, len(p.served))
	for i := range p.served {
		out[i] = p.served[i].Load()
	}
	return out
}

// close drops the proxy's idle backend connections.
func (p *rrProxy) close() { p.transport.CloseIdleConnections() }

// front is a listener serving a proxy: TLS (HTTP/1.1 and HTTP/2) with cert
// and key, plain HTTP/1.1 without.
type front struct {
	srv *http.Server
	url string
}

// serveFront serves h on a fresh loopback port until close.
func serveFront(h http.Handler, cert, key string) (*front, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	f := &front{srv: srv, url: "http://" + l.Addr().String()}
	if cert != "" {
		if err := withTLS(srv, cert, key); err != nil {
			l.Close()
			return nil, err
		}
		f.url = "https://" + l.Addr().String()
		go func() { _ = srv.ServeTLS(l, "", "") }()
	} else {
		go func() { _ = srv.Serve(l) }()
	}
	return f, nil
}

func (f *front) close() {
	if f != nil {
		_ = f.srv.Close()
	}
}
