package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Readiness tuning used by [Health].
const (
	// ReadyTimeout bounds one readiness check; a check that takes longer
	// counts as not ready.
	ReadyTimeout = 2 * time.Second
	// ReadyRetryAfter is the Retry-After, in seconds, sent with a 503.
	ReadyRetryAfter = 5
)

// NotReadyError is returned by a readiness function to say why the process is
// not ready in words safe to show to anyone: Reason goes into the /readyz
// response, Err (which may hold hostnames, DSNs or driver messages) does not.
type NotReadyError struct {
	Reason string // e.g. "database unreachable"
	Err    error
}

// NotReady wraps err with a reason that /readyz may show.
func NotReady(reason string, err error) error {
	return &NotReadyError{Reason: reason, Err: err}
}

func (e *NotReadyError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// Health registers the liveness and readiness endpoints on mux:
//
//   - GET /healthz answers 200 "ok" for as long as the process serves at all.
//   - GET /readyz answers 200 {"status":"ok"} when ready(ctx) returns nil
//     within [ReadyTimeout], and otherwise 503 with Retry-After and
//     {"status":"unavailable","error":REASON}. REASON is the Reason of a
//     [NotReadyError] in the chain, "readiness check timed out", or
//     "not ready"; the error text itself is never sent.
//
// ready should honour ctx; one that does not is abandoned, not waited for.
// A nil ready means always ready.
func Health(mux *http.ServeMux, ready func(ctx context.Context) error) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", readyHandler(ready, ReadyTimeout))
}

func readyHandler(ready func(ctx context.Context) error, timeout time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var err error
		if ready != nil {
			err = checkReady(r.Context(), ready, timeout)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err == nil {
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
			return
		}
		reason := "not ready"
		var nr *NotReadyError
		switch {
		case errors.As(err, &nr) && nr.Reason != "":
			reason = nr.Reason
		case errors.Is(err, context.DeadlineExceeded):
			reason = "readiness check timed out"
		}
		w.Header().Set("Retry-After", strconv.Itoa(ReadyRetryAfter))
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "error": reason})
	}
}

// checkReady runs ready with a deadline and stops waiting at the deadline
// even if ready ignores its context.
func checkReady(ctx context.Context, ready func(ctx context.Context) error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	result := make(chan error, 1) // buffered: an abandoned check must not block forever
	go func() {
		defer func() {
			// A panicking check is a failed check, not a crashed process.
			if v := recover(); v != nil {
				result <- fmt.Errorf("readiness check panicked: %v", v)
			}
		}()
		result <- ready(ctx)
	}()
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
