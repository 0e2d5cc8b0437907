package httpserver

import (
	"net/http"
	"net/http/pprof"
)

// DebugHandler serves the Go runtime's profiles under /debug/pprof/ (CPU,
// heap, allocations, goroutines, blocking, mutexes, execution trace), for
// the --debug-addr listener. Profiles reveal internals, so it belongs on a
// loopback address only; config.Serve.Validate enforces that.
//
// The handlers are net/http/pprof's, mounted on a mux of their own: the
// package also registers them on http.DefaultServeMux when imported, but no
// server here serves that mux.
func DebugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also each named profile: heap, allocs, goroutine, …
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
