// Package docstore stores the documents of the resource API in the
// SQL database Gatehouse runs on (SQLite, PostgreSQL or MySQL/MariaDB), with
// the same behaviour on each.
//
// Every collection has a table of its own ("doc_<name>") holding the meta
// fields in columns (id, owner, created, updated, etag) and the document in a
// JSON column. The schema is managed here, not by the shared migrations: at
// start Ensure creates the table and, for each declared field, an index the
// filters and sorts on that field can use — an expression index on SQLite and
// PostgreSQL, an indexed generated column on MySQL/MariaDB (which has no
// functional indexes) — and, for each declared compound index, one over
// (owner, its fields…, id) whose key expressions are written by the same code
// as the queries' ORDER BY, so a filtered, sorted page is read in index
// order. The DDL is idempotent and safe when several instances start at once.
//
// The items of array fields are kept apart as well, in a side table per
// collection ("docelem_<name>": id, field, value, owner; elems.go), one row
// per distinct scalar item, written in the transaction of each Insert,
// Replace and Delete. Values are encoded so that equal JSON values, and
// only those, have equal keys (strings bytewise, numbers by value,
// booleans apart). Conditions on array fields look ids up in its index
// (owner, field, value, id), so their cost follows the number of matching
// elements, not the number of the owner's documents; a top-level one
// drives the query, its documents fetched by primary key. Ensure fills the
// side table from the stored documents when an array field is declared
// (or the table is new) and lists the filled fields in "docstore_arrays".
//
// Queries arrive as a docquery syntax tree. Field names are looked up in the
// collection's declared fields and every value is a bound parameter, so no
// SQL text is ever built from user input.
package docstore
