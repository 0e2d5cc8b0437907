package loadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/rrproxy"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// fleet is what the scenarios run against: one gatehouse reached directly,
// or n instances on the shared database with a round-robin proxy per role
// in this process in front of them. Behind the proxy the instances serve
// plain HTTP with --trusted-proxies naming loopback and the proxies' URLs as
// their public URLs (--issuer, --api-url, --webapp-url), and the proxies
// terminate TLS: the set-up of docs/deploy.md on one machine.
type fleet struct {
	g       *gatehouse
	n       int
	proxied bool
	dir     string // per-instance data directories and logs

	proxies [3]*rrproxy.Proxy // authz, api, webapp; nil when direct
	fronts  [3]*front
	extra   []string // the instances' flags behind the proxies

	insts []*instance
	// ready is how long the last start took to have every instance ready
	// (the slowest of those started together).
	ready time.Duration
	// authz and api are the base URLs the load is sent to.
	authz, api string
}

// newFleet prepares n instances of g; proxied puts them behind the
// proxies (always when n > 1). tls is the local certificate the proxies
// present (empty files: plain HTTP); idle bounds the proxies' idle
// connections per instance.
func newFleet(g *gatehouse, n int, proxied bool, dir string, tls tlsconf.LocalFiles, idle int) (*fleet, error) {
	f := &fleet{g: g, n: max(n, 1), proxied: proxied || n > 1, dir: dir}
	if !f.proxied {
		return f, nil
	}
	for i := range f.proxies {
		f.proxies[i] = rrproxy.New(f.n, rrproxy.Options{IdleConns: idle})
		fr, err := serveFront(f.proxies[i], tls.Cert, tls.Key)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("proxy: %w", err)
		}
		f.fronts[i] = fr
	}
	f.authz, f.api = f.fronts[0].url, f.fronts[1].url
	f.extra = []string{"--trusted-proxies", "127.0.0.1,::1",
		"--issuer", f.fronts[0].url, "--api-url", f.fronts[1].url, "--webapp-url", f.fronts[2].url,
		"--webapp-client-secret-file", config.ClientSecretPath(g.dataDir, "gatehouse-webapp"),
		"--api-client-secret-file", config.ClientSecretPath(g.dataDir, "gatehouse-api"),
	}
	if tls.CACert != "" {
		// The roles call each other through the proxies' public URLs.
		f.extra = append(f.extra, "--ca-file", tls.CACert)
	}
	return f, nil
}

// spec is instance i's serve settings (0-based).
func (f *fleet) spec(i int) (serveSpec, error) {
	if !f.proxied {
		return serveSpec{dataDir: f.g.dataDir, log: filepath.Join(f.dir, "server.log"), plain: f.g.scheme == "http"}, nil
	}
	d := filepath.Join(f.dir, fmt.Sprintf("instance%d", i+1))
	if err := os.MkdirAll(d, 0o700); err != nil {
		return serveSpec{}, err
	}
	return serveSpec{dataDir: d, log: d + ".log", plain: true, extra: f.extra}, nil
}

// start starts the first count instances together (count < n only to let
// one instance create the signing keys alone) and waits until all are
// ready; with every instance started, the proxies point at them.
func (f *fleet) start(ctx context.Context, count int) error {
	count = min(max(count, 1), f.n)
	insts := make([]*instance, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			s, err := f.spec(i)
			if err == nil {
				insts[i], err = f.g.start(ctx, s)
			}
			if err != nil {
				errs[i] = fmt.Errorf("instance %d: %w", i+1, err)
			}
		})
	}
	wg.Wait()
	f.insts, f.ready = f.insts[:0], 0
	for _, in := range insts {
		if in != nil {
			f.insts = append(f.insts, in)
			f.ready = max(f.ready, in.ready)
		}
	}
	if err := errors.Join(errs...); err != nil {
		f.stop()
		return err
	}
	if !f.proxied {
		f.authz, f.api = f.insts[0].authz, f.insts[0].api
		return nil
	}
	if count < f.n {
		return nil
	}
	for r, p := range f.proxies {
		bases := make([]string, len(f.insts))
		for i, in := range f.insts {
			bases[i] = []string{in.authz, in.api, in.webapp}[r]
		}
		if err := p.SetBackends(bases); err != nil {
			return err
		}
	}
	return nil
}

// stop stops every running instance (together).
func (f *fleet) stop() {
	var wg sync.WaitGroup
	for _, in := range f.insts {
		wg.Go(in.stop)
	}
	wg.Wait()
	f.insts = nil
}

// close stops the instances and the proxies.
func (f *fleet) close() {
	f.stop()
	for i := range f.fronts {
		f.fronts[i].close()
		if f.proxies[i] != nil {
			f.proxies[i].Close()
		}
	}
}

// pids are the running instances' process IDs.
func (f *fleet) pids() []int {
	out := make([]int, len(f.insts))
	for i, in := range f.insts {
		out[i] = in.pid()
	}
	return out
}

// spread is how many requests each role's proxy sent to each instance
// (nil when direct).
func (f *fleet) spread() map[string][]int64 {
	if !f.proxied {
		return nil
	}
	return map[string][]int64{"authz": f.proxies[0].Counts(), "api": f.proxies[1].Counts()}
}

// behindProxy puts a one-backend proxy in front of base (the bare server
// behind the same kind of proxy as Gatehouse). The caller closes the front.
func behindProxy(base string, tls tlsconf.LocalFiles, idle int) (*front, *rrproxy.Proxy, error) {
	p := rrproxy.New(1, rrproxy.Options{IdleConns: idle})
	if err := p.SetBackends([]string{base}); err != nil {
		return nil, nil, err
	}
	fr, err := serveFront(p, tls.Cert, tls.Key)
	if err != nil {
		return nil, nil, err
	}
	return fr, p, nil
}
