package httpserver

import (
	"context"
	"net/http"
)

// routeKey holds a *routeHolder in a request's context.
type routeKey struct{}

// routeHolder carries the route of a request up from a handler that
// served a copy of it the middleware here never sees (a session manager's,
// a role's own dispatch).
type routeHolder struct{ pattern string }

// SetRoute records pattern ("GET /api/todos/{id}") as r's route for
// Metrics, AccessLog and Trace, for a handler that routes requests itself
// or serves a copy of the request they made. The first route recorded
// wins: it is the innermost, the most precise. Without those middlewares
// it does nothing.
func SetRoute(r *http.Request, pattern string) {
	if h, ok := r.Context().Value(routeKey{}).(*routeHolder); ok && h.pattern == "" {
		h.pattern = pattern
	}
}

// RecordRoute records the pattern the ServeMux next matched (SetRoute).
// Wrap the innermost mux of a role with it when something between it and
// the middlewares hands down a copy of the request.
func RecordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if r.Pattern != "" {
			SetRoute(r, r.Pattern)
		}
	})
}

// withRouteHolder gives r2 a route holder when it has none yet.
func withRouteHolder(r2 *http.Request) (*http.Request, *routeHolder) {
	if h, ok := r2.Context().Value(routeKey{}).(*routeHolder); ok {
		return r2, h
	}
	h := &routeHolder{}
	return r2.WithContext(context.WithValue(r2.Context(), routeKey{}, h)), h
}
