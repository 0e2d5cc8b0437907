// Package storage defines what Gatehouse keeps in its database: the records
// (users, clients, authorization state, tokens, signing keys, second
// factors, web sessions) and the small interfaces every backend implements,
// together with the guarantees each method owes its callers. The API's
// documents are kept by storage/docstore.
//
// Backends live in sub-packages (see sqlstore). A backend is correct when it
// passes the suite in storage/conformance; nothing else proves it.
package storage
