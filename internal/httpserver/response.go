package httpserver

import (
	"net/http"
)

// recorder wraps a ResponseWriter to remember the status code and the number
// of body bytes written. It unwraps for [http.ResponseController] and keeps
// Flush working for handlers that assert [http.Flusher].
type recorder struct {
	http.ResponseWriter
	status  int
	bytes   int64
	written bool
}

func newRecorder(w http.ResponseWriter) *recorder {
	return &recorder{ResponseWriter: w}
}

func (r *recorder) WriteHeader(code int) {
	if !r.written && code >= 200 {
		// 1xx informational responses are not the final status.
		r.status = code
		r.written = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.written {
		r.status = http.StatusOK
		r.written = true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if !r.written {
		r.status = http.StatusOK
		r.written = true
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap lets [http.ResponseController] reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Status is the final status sent, or 200 when the handler wrote nothing
// (net/http then sends 200 itself).
func (r *recorder) Status() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// serveCopy serves r2, a shallow copy of r made by a middleware, and copies
// the route back to r, so that Metrics, AccessLog and Trace further out
// still see it: the route a handler further in recorded (SetRoute,
// RecordRoute), or else the pattern the ServeMux recorded on r2.
func serveCopy(next http.Handler, w http.ResponseWriter, r, r2 *http.Request) {
	r2, h := withRouteHolder(r2)
	defer func() {
		switch {
		case h.pattern != "":
			r.Pattern = h.pattern
		case r.Pattern == "":
			r.Pattern = r2.Pattern
		}
	}()
	next.ServeHTTP(w, r2)
}
