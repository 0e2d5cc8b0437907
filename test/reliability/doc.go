// Package reliability holds Gatehouse's fault, crash, shutdown and soak
// tests. They build the real gatehouse binary from this module and drive
// it as an operator and its users would: over HTTPS on loopback, with the
// admin CLI, and with signals.
//
//   - TestDatabaseDown puts a TCP proxy written in the test between
//     gatehouse and PostgreSQL or MariaDB, cuts it while the server runs and
//     restores it: every role answers 503 with Retry-After in its own error
//     shape, /readyz turns red, no answer outlives the request deadline
//     (--request-timeout) even when nothing answers, and service comes back
//     by itself.
//   - TestCrashSafety kills the server with SIGKILL during a stream of writes
//     (API documents and client-credentials tokens) on SQLite and
//     PostgreSQL, restarts it and finds every acknowledged write, whole.
//   - TestGracefulShutdown sends SIGTERM during a steady stream of requests:
//     every answer is complete, no acknowledged write is lost, and the
//     process exits 0 within its shutdown timeout.
//   - TestSoak drives mixed traffic (sign-ins through the login and consent
//     pages, code exchanges, refreshes, API reads and writes, the web app)
//     at a steady bounded rate for -soak (default 45s) and reports memory,
//     goroutines, errors and table sizes.
//
// Tests that need PostgreSQL or MariaDB skip when those do not answer,
// unless GATEHOUSE_REQUIRE_DBS=1. Everything listens on 127.0.0.1 and every
// test is bounded in time. The package has no code outside its tests.
package reliability
