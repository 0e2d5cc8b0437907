// Package httpserver owns how Gatehouse puts HTTP handlers on the network:
// binding every role's listener up front, serving them over TLS with HTTP/2
// and safe timeouts, shutting them down gracefully, and the middleware every
// role shares — request IDs, access logs, Prometheus metrics, health and
// readiness endpoints, body size limits, request deadlines, panic recovery and
// browser security headers — and how every role finds the client's address
// behind trusted reverse proxies ([TrustedProxies]).
//
// The package holds no global state: loggers and metric registries are passed
// in, so each role (and each test) gets its own.
//
// A typical role is assembled outermost first:
//
//	h := httpserver.Chain(mux,
//		func(h http.Handler) http.Handler { return metrics.Wrap("api", h) },
//		httpserver.RequestID,
//		func(h http.Handler) http.Handler { return httpserver.AccessLog(logger, proxies, h) },
//		func(h http.Handler) http.Handler { return httpserver.Recover(logger, h) },
//		func(h http.Handler) http.Handler { return httpserver.LimitBody(1<<20, h) },
//		func(h http.Handler) http.Handler { return httpserver.Deadline(10*time.Second, h) },
//	)
//
// Metrics and AccessLog read the route pattern the [http.ServeMux] matched
// ([http.Request.Pattern]); the middleware in this package that hands a copy
// of the request down the chain copies that pattern back up, so their order
// relative to each other does not matter.
package httpserver
