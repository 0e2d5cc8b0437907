// Package resource reads the resource file: the declaration of the API's
// resources (the counterpart of Python Eve's DOMAIN setting) with, for each,
// its URL, schema (JSON Schema draft 2020-12, or an Eve schema of Cerberus
// rules, translated to JSON Schema in eveschema.go), allowed methods, owner
// field, unique fields, default sort, pagination and public methods, Eve's
// other resource settings (additional_lookup, datasource, allow_unknown,
// item_url, hateoas, bandwidth_saver, … in settings.go), plus
// the API-wide CORS origins, rate limits, body size limit and query limits
// (concurrent queries, wait and time budget per client and user).
//
// It owns the file's format and its checks: the built-in file (default.yaml,
// the todos resource), the messages that name a mistake's file, line and
// place with what would be right (messages.go), and what the web app needs
// of the todos resource (webapp.go). docs/resources.md is the reference of
// every key.
package resource
