package loadtest

import (
	"slices"
	"time"
)

// Stats are the figures of one load run against one server.
type Stats struct {
	Requests   int           `json:"requests"` // answers that passed the check
	Errors     int           `json:"errors"`   // failed requests and answers that failed the check
	Elapsed    time.Duration `json:"elapsed_ns"`
	RPS        float64       `json:"requests_per_second"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	PeakRSS    int64         `json:"peak_rss_bytes"` // of the server process, sampled during the run
	FirstError string        `json:"first_error,omitempty"`

	// Open loop only (Config.Rate). RPS is the rate achieved and the
	// latencies count from when each request was due.
	TargetRPS  float64 `json:"target_requests_per_second,omitempty"`
	Scheduled  int     `json:"scheduled,omitempty"`  // requests due within the run
	Late       int     `json:"late,omitempty"`       // started more than 1 ms after they were due
	Unanswered int     `json:"unanswered,omitempty"` // due but not answered by the end: never started, or cut off in flight
}

// summarize computes the figures from the latencies of the successful
// requests (in any order; sorted in place).
func summarize(lat []time.Duration, errors int, elapsed time.Duration) Stats {
	slices.Sort(lat)
	s := Stats{Requests: len(lat), Errors: errors, Elapsed: elapsed,
		P50: percentile(lat, 0.50), P99: percentile(lat, 0.99), P999: percentile(lat, 0.999)}
	if elapsed > 0 {
		s.RPS = float64(len(lat)) / elapsed.Seconds()
	}
	return s
}

// percentile returns the nearest-rank percentile p (0 < p ≤ 1) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.999999) - 1 // ceil(p·n) − 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
