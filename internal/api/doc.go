// Package api is the resource API role: an Eve-compatible REST engine
// serving the resources of the resource file under /api, protected by
// bearer tokens (package bearer). Documents live in internal/storage/docstore;
// queries are parsed by internal/api/query.
//
// Every request is authorized: GET needs <resource>:read, writes need
// <resource>:write, and on resources with an owner field each caller sees
// and changes only the documents they created; another user's document is
// a 404.
//
// Each caller — a token's client and user, or the client network for public
// methods — has a rate limit per method (ratelimit.go) and at most a few
// requests querying the store at once, each query within a time budget
// below the request deadline (querylimits.go), so that no caller holds the
// connections everyone else needs.
package api
