package httpserver

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics counts and times HTTP requests. Labels are bounded: the role, the
// ServeMux route pattern (never the raw path; "unmatched" when no pattern
// matched), the method (unknown methods become "OTHER") and the status code.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the request metrics and registers them with reg. A nil
// reg leaves them unregistered.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"role", "route", "method", "code"}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatehouse",
			Subsystem: "http",
			Name:      "requests_total",
			Help:      "HTTP requests served, by role, route pattern, method and status code.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gatehouse",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time to serve HTTP requests, by role, route pattern, method and status code.",
			Buckets:   prometheus.DefBuckets,
		}, labels),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("httpserver: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Wrap counts and times every request next serves for the given role.
func (m *Metrics) Wrap(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := newRecorder(w)
		defer func() {
			values := []string{role, routeOf(r), methodLabel(r.Method), strconv.Itoa(rec.Status())}
			m.requests.WithLabelValues(values...).Inc()
			m.duration.WithLabelValues(values...).Observe(time.Since(start).Seconds())
		}()
		serveCopy(next, rec, r, r)
	})
}

// methodLabel keeps the method label to the standard methods, since the
// method is chosen by the client.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// MetricsHandler serves the metrics gathered by g in the Prometheus
// exposition format, for the /metrics endpoint.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	if g == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no metrics registry", http.StatusInternalServerError)
		})
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
}
