// Package assemble builds the roles `gatehouse serve` runs from its
// configuration: it opens and migrates what the selected roles use, seeds
// a fresh installation, builds each role's handler wrapped in the
// operational middleware (tracing, metrics, request ID, access log, panic
// recovery, body limit, deadline, /healthz and /readyz) and returns the
// servers to listen on. cmd/gatehouse and the in-process test harnesses
// (internal/assemble/assembletest) call it alike, so the tests exercise
// what runs in production.
//
// What each role opens and seeds:
//
//   - The SQL store (sqlstore), migrated, is opened for every role: the
//     authorization server keeps everything there, the API its DPoP replay
//     records and the database's readiness, the web app its client's
//     registration and, without --session-store, its sessions and leases.
//   - The document store and the resources' tables and indexes are opened
//     and created only when the API runs: `--roles authz`, `--roles webapp`
//     and `--roles authz,webapp` create no resource table.
//   - The first-start seed (the built-in clients, their secret files and
//     the demo user) and the later starts' fixes of the built-in clients
//     run when the authorization server or the web app runs: they are the
//     authorization server's data, and the web app signs in with its
//     client. The API alone seeds nothing.
//   - The demo user's todos are added with the demo user, by the
//     first-start seed only when the API runs in the same process (its
//     documents are open then) or by `gatehouse seed`. A demo user created
//     by an instance without the API has none: run `gatehouse seed` before
//     the first start of a split deployment for a demo with todos.
//   - An API alone seeds nothing: with --token-check=introspect it needs
//     the API client's secret file, which the first start of the
//     authorization server (or `gatehouse seed`) writes.
package assemble
