// Package cluster holds the several-instances test: it builds the
// gatehouse binary once, runs three `gatehouse serve` processes on one
// shared database (PostgreSQL, and MariaDB/MySQL) and one Redis, and puts
// a round-robin reverse proxy (internal/rrproxy) in front of each role.
// Every instance gets the proxies' URLs as --issuer, --api-url and
// --webapp-url, so all three present the same public URLs, as they would
// behind a real load balancer.
//
// The proxies speak plain HTTP on loopback and the instances run with
// --insecure-http and --trusted-proxies 127.0.0.1,::1: the proxy stands
// where a TLS-terminating load balancer would, minus the TLS (nothing
// leaves 127.0.0.1). Each proxy adds X-Forwarded-For, keeps the public
// Host header, names the instance that served a request in the
// X-Cluster-Instance response header, and honours an X-Cluster-Pin request
// header that sends a request to one chosen instance, so the test can put
// each step of a flow on a different instance. A backend that refuses
// connections is skipped for ten seconds, like a load balancer's passive
// health check.
//
// The package has tests only. They skip when PostgreSQL, MariaDB or Redis
// is absent, unless GATEHOUSE_REQUIRE_DBS=1.
package cluster
