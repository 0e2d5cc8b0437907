// Package resource reads the resource file: the declaration of the API's
// resources (the counterpart of Python Eve's DOMAIN setting) with, for each,
// its URL, JSON Schema (draft 2020-12), allowed methods, owner field, unique
// fields, default sort, pagination and public methods, plus the API-wide
// CORS origins, rate limits, body size limit and query limits (concurrent
// queries, wait and time budget per client and user).
package resource
