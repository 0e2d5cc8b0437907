package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"math"
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
	maxRequests int     // bound on the ops started, over all connections
	rate        float64 // requests per second over all connections; 0: closed loop
	rssPIDs     []int   // processes whose summed RSS is sampled (none: no sampling)
}

// lateAfter is how far behind its intended time an open-loop request may
// start before it counts as late.
const lateAfter = time.Millisecond

// drive runs ops for the duration or until maxRequests ops have been
// started, on conns workers, each with its own op (newOp(i): its own
// connection and state). Each worker first runs one untimed op, so
// connection set-up is not measured.
//
// With rate 0 the loop is closed: each worker starts its next op when the
// previous one has finished, and an op is timed from its start. With a
// rate the loop is open: ops are due on a fixed schedule, 1/rate apart from
// the start, each taken by the next free worker, and an op is timed from
// when it was due — the time it waited for a free worker counts, as wrk2
// counts it, so a slow answer cannot hide the requests queued behind it.
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
	begin := time.Now()
	var next nextStart = &closedLoop{max: int64(l.maxRequests)}
	var sched *schedule
	if l.rate > 0 {
		sched = newSchedule(begin, l.rate, l.duration, l.maxRequests)
		next = sched
	}
	var (
		mu  sync.Mutex
		all tally
		end atomic.Int64
	)
	for _, o := range ops {
		wg.Go(func() {
			t := work(runCtx, o, next)
			now := int64(time.Since(begin))
			for {
				prev := end.Load()
				if now <= prev || end.CompareAndSwap(prev, now) {
					break
				}
			}
			mu.Lock()
			all.add(t)
			mu.Unlock()
		})
	}
	wg.Wait()
	s := summarize(all.lat, all.errs, time.Duration(end.Load()))
	s.PeakRSS = rss()
	if all.first != nil {
		s.FirstError = all.first.Error()
	}
	if sched != nil {
		s.TargetRPS, s.Scheduled, s.Late = l.rate, int(sched.n), all.late
		s.Unanswered = s.Scheduled - s.Requests - s.Errors
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}
	return s, nil
}

// tally is what one worker (or all of them) measured.
type tally struct {
	lat   []time.Duration // of the answers that passed the check
	errs  int
	late  int // open loop: ops started more than lateAfter after they were due
	first error
}

func (t *tally) add(o tally) {
	t.lat = append(t.lat, o.lat...)
	t.errs += o.errs
	t.late += o.late
	if t.first == nil {
		t.first = o.first
	}
}

// work is one worker's loop: it runs o whenever next says, until next
// has no more or the run ends.
func work(ctx context.Context, o op, next nextStart) tally {
	var t tally
	for ctx.Err() == nil {
		due, ok := next.wait(ctx)
		if !ok {
			break
		}
		if time.Since(due) > lateAfter {
			t.late++
		}
		err := o(ctx)
		d := time.Since(due)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, errNoWork) {
				break // cut off by the end of the run: not an answer
			}
			t.errs++
			if t.first == nil {
				t.first = err
			}
			continue
		}
		t.lat = append(t.lat, d)
	}
	return t
}

// nextStart says when a free worker starts its next op.
type nextStart interface {
	// wait returns once the next op is due, with the time it was due
	// (its latency counts from then); false when no op is left or ctx
	// ended first.
	wait(ctx context.Context) (time.Time, bool)
}

// closedLoop starts the next op at once, up to max ops in all (0: no
// bound).
type closedLoop struct {
	max     int64
	started atomic.Int64
}

func (c *closedLoop) wait(context.Context) (time.Time, bool) {
	if c.max > 0 && c.started.Add(1) > c.max {
		return time.Time{}, false
	}
	return time.Now(), true
}

// schedule is the open loop's timetable: n ops, op k due at begin + k/rate.
// Free workers take the ops in order, so when all are busy the ops due
// wait, oldest first, and none is skipped; the ones still waiting or in
// flight when the run ends are reported as unanswered.
type schedule struct {
	begin time.Time
	rate  float64
	n     int64
	taken atomic.Int64
}

// newSchedule lays out the ops due within d at rate per second, at most
// maxRequests of them (0: no bound).
func newSchedule(begin time.Time, rate float64, d time.Duration, maxRequests int) *schedule {
	n := int64(math.Ceil(d.Seconds() * rate))
	if maxRequests > 0 {
		n = min(n, int64(maxRequests))
	}
	return &schedule{begin: begin, rate: rate, n: n}
}

// due is when op k is due; computed from the start each time, so rounding
// does not accumulate.
func (s *schedule) due(k int64) time.Time {
	return s.begin.Add(time.Duration(float64(k) * float64(time.Second) / s.rate))
}

func (s *schedule) wait(ctx context.Context) (time.Time, bool) {
	k := s.taken.Add(1) - 1
	if k >= s.n {
		return time.Time{}, false
	}
	at := s.due(k)
	d := time.Until(at)
	if d <= 0 {
		return at, true // behind schedule: start at once, timed from when due
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return at, true
	case <-ctx.Done():
		return time.Time{}, false
	}
}

// errNoWork is returned by an op that has run out of prepared inputs.
var errNoWork = errors.New("no prepared input left")
