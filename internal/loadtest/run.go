package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Transports the tool speaks.
const (
	TransportH1    = "h1"    // TLS, HTTP/1.1 keep-alive
	TransportH2    = "h2"    // TLS, HTTP/2
	TransportPlain = "plain" // plain HTTP/1.1 (the server runs with --insecure-http)
)

// clients makes the HTTP clients of the load: one transport, so one
// connection, per simulated client.
type clients struct {
	kind string
	tls  *tls.Config // nil for plain HTTP
}

func (f clients) new() *http.Client {
	var p http.Protocols
	if f.kind == TransportH2 {
		p.SetHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{
		Protocols:           &p,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if f.tls != nil {
		tr.TLSClientConfig = f.tls.Clone()
	}
	return &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		// The flows read every redirect themselves.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// op is one unit of load, timed as a whole: usually one request, several
// for a sign-in. It returns an error when the request fails or the answer
// is not what the scenario expects.
type op func(ctx context.Context) error

// load is how hard and how long to drive one scenario.
type load struct {
	conns       int
	duration    time.Duration
	maxRequests int   // bound on the ops started, over all connections
	rssPIDs     []int // processes whose summed RSS is sampled (none: no sampling)
}

// drive runs ops in a closed loop: conns workers, each starting its next op
// when the previous one has finished, until the duration is over or
// maxRequests ops have been started. newOp makes worker i's op (its own
// connection and state). Each worker first runs one untimed op, so
// connection set-up is not measured.
func drive(ctx context.Context, l load, newOp func(i int) (op, error)) (Stats, error) {
	ops := make([]op, l.conns)
	for i := range ops {
		o, err := newOp(i)
		if err != nil {
			return Stats{}, err
		}
		ops[i] = o
	}
	// Warm-up: one op per connection, not timed, errors ignored.
	var wg sync.WaitGroup
	for _, o := range ops {
		wg.Go(func() {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = o(wctx)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}

	rss := startRSSSampler(l.rssPIDs)
	runCtx, cancel := context.WithTimeout(ctx, l.duration)
	defer cancel()
	var (
		started  atomic.Int64
		mu       sync.Mutex
		all      []time.Duration
		errCount int
		firstErr error
	)
	begin := time.Now()
	var end atomic.Int64
	for _, o := range ops {
		wg.Go(func() {
			var lat []time.Duration
			errs := 0
			var first error
			for runCtx.Err() == nil && (l.maxRequests <= 0 || started.Add(1) <= int64(l.maxRequests)) {
				t0 := time.Now()
				err := o(runCtx)
				d := time.Since(t0)
				if err != nil {
					if runCtx.Err() != nil || errors.Is(err, errNoWork) {
						break // cut off by the end of the run: not an answer
					}
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, d)
			}
			now := time.Since(begin)
			for {
				prev := end.Load()
				if int64(now) <= prev || end.CompareAndSwap(prev, int64(now)) {
					break
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errCount += errs
			if firstErr == nil {
				firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	s := summarize(all, errCount, time.Duration(end.Load()))
	s.PeakRSS = rss()
	if firstErr != nil {
		s.FirstError = firstErr.Error()
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}
	return s, nil
}

// errNoWork is returned by an op that has run out of prepared inputs.
var errNoWork = errors.New("no prepared input left")
