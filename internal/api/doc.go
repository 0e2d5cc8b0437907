// Package api is the resource API role: an Eve-compatible REST engine
// serving the resources of the resource file under /api, protected by
// bearer tokens (internal/bearer). Documents live in internal/storage/docstore;
// queries are parsed by internal/api/query.
//
// Every request is authorized: GET needs <resource>:read, writes need
// <resource>:write, and on resources with an owner field each caller sees
// and changes only the documents they created; another user's document is
// a 404.
package api
