package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

// limiter is Eve's RATE_LIMIT_<METHOD>: per principal — the token's client
// and user (principalKey), so that minting new tokens does not refill the
// bucket, or the client network for public methods, as
// Config.TrustedProxies resolves it — and per method, a token bucket of
// Requests filled over Window.
type limiter struct {
	limits map[string]resource.RateLimit
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxBuckets = 100000

func newLimiter(limits map[string]resource.RateLimit, now func() time.Time) *limiter {
	return &limiter{limits: limits, now: now, buckets: map[string]*bucket{}}
}

// allow takes one request from the caller's bucket, sets the X-RateLimit
// headers and reports whether the request may proceed.
func (l *limiter) allow(w http.ResponseWriter, method, key string) bool {
	cfg, ok := l.limits[method]
	if !ok {
		return true
	}
	now := l.now()
	every := rate.Every(cfg.Window / time.Duration(cfg.Requests))
	l.mu.Lock()
	if now.Sub(l.swept) > time.Minute || len(l.buckets) > maxBuckets {
		// Forget buckets that have refilled: they are equivalent to new ones.
		for k, b := range l.buckets {
			if now.Sub(b.seen) > cfg.Window {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	k := method + " " + key
	b, ok := l.buckets[k]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(every, cfg.Requests)}
		l.buckets[k] = b
	}
	b.seen = now
	allowed := b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	l.mu.Unlock()
	remaining := max(0, int(math.Floor(tokens)))
	// Reset: when the bucket is full again.
	missing := float64(cfg.Requests) - tokens
	reset := now.Add(time.Duration(missing / float64(every) * float64(time.Second)))
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(cfg.Requests))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(int64(math.Ceil(float64(reset.UnixMilli())/1000)), 10))
	if !allowed {
		wait := time.Duration((1 - tokens) / float64(every) * float64(time.Second))
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	}
	return allowed
}
