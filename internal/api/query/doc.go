// Package query parses the query parameters of Eve's collection requests —
// where (MongoDB-style JSON or Eve's Python-style expressions), sort (both of
// Eve's syntaxes) and projection — into the docquery syntax tree, checking
// every field against the resource's schema and every value against the
// field's type. It never produces SQL.
package query
