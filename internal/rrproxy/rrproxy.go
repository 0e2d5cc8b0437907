package rrproxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options are a proxy's settings; the zero value is a plain round robin.
type Options struct {
	// IdleConns is how many idle connections the proxy keeps per backend:
	// at least the number of concurrent clients, or every request opens a
	// new one. Zero is net/http's default (2).
	IdleConns int
	// SkipDown is how long a backend whose request failed (connection
	// refused, reset) is passed over; zero never passes one over.
	SkipDown time.Duration
	// PinHeader, when set, names a request header that chooses the backend
	// (1-based); the header is removed before forwarding, and a value that
	// names no backend is answered 400.
	PinHeader string
	// InstanceHeader, when set, names a response header that carries the
	// backend (1-based) that served the request.
	InstanceHeader string
}

// Proxy is a round-robin reverse proxy for a fixed number of backends. It
// is safe for concurrent use.
type Proxy struct {
	opts      Options
	next      atomic.Uint64
	transport *http.Transport

	mu       sync.RWMutex
	backends []*httputil.ReverseProxy // nil until SetBackends
	downTo   []time.Time              // backend i is passed over until downTo[i]
	served   []atomic.Int64           // requests sent to backend i, over every SetBackends
}

// New returns a proxy for n backends; SetBackends gives their URLs. Until
// then it answers 503.
func New(n int, o Options) *Proxy {
	return &Proxy{
		opts:   o,
		downTo: make([]time.Time, n),
		served: make([]atomic.Int64, n),
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: o.IdleConns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// SetBackends points the proxy at the instances' base URLs (as many as New
// was given), replacing the previous ones: instances started again on
// other ports take over. Request counts go on; skipped backends are
// forgotten.
func (p *Proxy) SetBackends(bases []string) error {
	if len(bases) != len(p.served) {
		return fmt.Errorf("proxy: %d backends, want %d", len(bases), len(p.served))
	}
	rps := make([]*httputil.ReverseProxy, len(bases))
	for i, b := range bases {
		target, err := url.Parse(b)
		if err != nil {
			return fmt.Errorf("proxy backend %q: %w", b, err)
		}
		if target.Scheme != "http" && target.Scheme != "https" || target.Host == "" {
			return fmt.Errorf("proxy backend %q: want an http or https URL", b)
		}
		rps[i] = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = r.In.Host // the public host, as a load balancer keeps it
				r.SetXForwarded()
			},
			Transport: p.transport,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				// A client that went away says nothing of the backend; a
				// failure of a backend since replaced marks nothing.
				if p.opts.SkipDown > 0 && r.Context().Err() == nil {
					p.mu.Lock()
					if len(p.backends) == len(rps) && p.backends[i] == rps[i] {
						p.downTo[i] = time.Now().Add(p.opts.SkipDown)
					}
					p.mu.Unlock()
				}
				http.Error(w, "proxy: backend "+target.Host+": "+err.Error(), http.StatusBadGateway)
			},
		}
	}
	p.mu.Lock()
	p.backends = rps
	clear(p.downTo)
	p.mu.Unlock()
	return nil
}

// ServeHTTP forwards r to the pinned backend, or else to the next one in
// turn that is not being passed over (to the next one in turn when all
// are).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.RLock()
	bs := p.backends
	p.mu.RUnlock()
	if len(bs) == 0 {
		http.Error(w, "proxy: no backends", http.StatusServiceUnavailable)
		return
	}
	var i int
	var pin string
	if p.opts.PinHeader != "" {
		pin = r.Header.Get(p.opts.PinHeader)
	}
	if pin != "" {
		n, err := strconv.Atoi(pin)
		if err != nil || n < 1 || n > len(bs) {
			http.Error(w, fmt.Sprintf("proxy: %s %q names no backend (1 to %d)", p.opts.PinHeader, pin, len(bs)), http.StatusBadRequest)
			return
		}
		i = n - 1
		r.Header.Del(p.opts.PinHeader)
	} else {
		i = p.pick(len(bs))
	}
	p.served[i].Add(1)
	if p.opts.InstanceHeader != "" {
		w.Header().Set(p.opts.InstanceHeader, strconv.Itoa(i+1))
	}
	bs[i].ServeHTTP(w, r)
}

// pick returns the next backend in turn that is not passed over.
func (p *Proxy) pick(n int) int {
	first := int((p.next.Add(1) - 1) % uint64(n))
	if p.opts.SkipDown <= 0 {
		return first
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	now := time.Now()
	// The backends after first, in order: concurrent picks drawing again
	// from the shared counter could each land on a down one every time.
	for k := range n {
		if i := (first + k) % n; !now.Before(p.downTo[i]) {
			return i
		}
	}
	return first
}

// Counts returns the requests sent to each backend so far.
func (p *Proxy) Counts() []int64 {
	out := make([]int64, len(p.served))
	for i := range p.served {
		out[i] = p.served[i].Load()
	}
	return out
}

// Close drops the proxy's idle backend connections.
func (p *Proxy) Close() { p.transport.CloseIdleConnections() }
