// Package storage defines what Gatehouse keeps in its database: the records
// (users, clients, authorization state, tokens, signing keys, API documents)
// and the small interfaces every backend implements, together with the
// guarantees each method owes its callers.
//
// Backends live in sub-packages (see sqlstore). A backend is correct when it
// passes the suite in storage/conformance; nothing else proves it.
package storage
