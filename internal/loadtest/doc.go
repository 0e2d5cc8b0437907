// Package loadtest is Gatehouse's load tool, run by cmd/gatehouse-load.
//
// It builds the real gatehouse binary from this module, starts it on a fresh
// temporary data directory (SQLite by default, or a database given by DSN),
// prepares what every scenario needs through the product's own interfaces —
// clients and users with the admin CLI, authorization codes and refresh
// tokens through a real login and consent over HTTP — and then drives each
// scenario for a fixed time with N connections in a closed loop: each
// connection sends its next request when the previous answer has been read
// and checked. With Config.Rate the loop is open instead: requests are due
// on a fixed schedule, the connections are the pool that serves it, and each
// latency counts from when the request was due, as wrk2 measures, so time
// spent queued behind a slow answer is not hidden. Bulk data the API
// scenarios need (a million documents, a million expired tokens) is written
// through the store packages (internal/storage/docstore,
// internal/storage/sqlstore) while the server is stopped, because a million
// requests to the API would take longer than the whole run.
//
// Every answer is checked for its status and shape; an answer that fails the
// check counts as an error and not as throughput. Next to each scenario the
// same load is sent to a bare net/http server with the same TLS settings
// answering a same-sized body (a child process, started in the same run), so
// every figure comes with its ratio to what the machine can do at all.
//
// With Config.Instances above one (PostgreSQL or MySQL only), or with
// Config.Proxy, the tool starts that many gatehouse serve processes on the
// one database, each with a data directory of its own but the
// installation's server secret and client secrets, and puts a round-robin
// reverse proxy per role (internal/rrproxy, in the tool's own process) in
// front of them, as docs/deploy.md describes: the proxies terminate TLS,
// keep the public Host header and set X-Forwarded-For; the instances serve
// plain HTTP with --trusted-proxies naming loopback and the proxies' URLs as
// --issuer, --api-url and --webapp-url. The bare server then sits behind a proxy of
// its own too, and the server RSS is summed over the instances. One
// instance behind the proxy is the baseline several are compared with.
//
// The tool only connects to loopback addresses, bounds every run in time and
// in request count, and stops everything it started.
package loadtest
