// Package rrproxy is a round-robin HTTP reverse proxy in front of several
// instances of one gatehouse role, for the tests that run several
// instances (test/cluster) and for the load tool (internal/loadtest). It
// stands where a TLS-terminating load balancer would: it keeps the public
// Host header, sets X-Forwarded-For and X-Forwarded-Proto (the instances
// run with --trusted-proxies naming loopback) and sends each request to
// the next backend in turn.
//
// It does not retry: a request whose backend fails is answered 502. With
// Options.SkipDown, a backend that failed is then passed over for a while,
// as a load balancer's passive health check does. Options.PinHeader lets a
// request choose its backend and Options.InstanceHeader names the backend
// that served an answer, so a test can put each step of a flow on a
// different instance.
//
// The proxy is a http.Handler; serving it (plain HTTP, TLS) is the
// caller's task.
package rrproxy
