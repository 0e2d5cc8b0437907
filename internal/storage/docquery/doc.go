// Package docquery is the query language the document store understands: a
// small, typed syntax tree of filters (comparisons joined by and/or), sort
// keys and paging, plus the description of the fields a query may name.
//
// Parsers of user input (internal/api/query) produce it; the document store
// (internal/storage/docstore) compiles it to SQL. Values in the tree are Go
// values of a field's type, never SQL; field names are checked against the
// collection's declared fields before any SQL is built.
package docquery
