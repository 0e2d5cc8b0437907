package httpserver

import (
	"context"
	"crypto/rand"
	"net/http"
)

// RequestIDHeader is the header a request ID is read from and written to.
const RequestIDHeader = "X-Request-ID"

const maxRequestIDLen = 64

type requestIDKey struct{}

// RequestID gives every request an ID: a sane incoming X-Request-ID (1 to 64
// characters of [A-Za-z0-9._-], as set by a proxy in front) is kept, anything
// else is replaced by a fresh random one. The ID is set on the response and
// stored in the request context; read it with [RequestIDFrom].
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = rand.Text() // 128 bits, base32
		}
		w.Header().Set(RequestIDHeader, id)
		r2 := r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		serveCopy(next, w, r, r2)
	})
}

// RequestIDFrom returns the request ID stored by [RequestID], or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
