package docquery

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Type is the type of a queryable field.
type Type int

// Field types. A DateTime field holds an RFC 3339 string normalised by the
// caller to NormalizeTime's format, so that string order is time order.
const (
	String Type = iota + 1
	Number
	Boolean
	DateTime
	// Array is an array of scalars; comparisons against it mean "contains"
	// (as in MongoDB and Eve): {"tags":"work"} matches ["home","work"].
	Array
)

func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Number:
		return "number"
	case Boolean:
		return "boolean"
	case DateTime:
		return "date-time"
	case Array:
		return "array"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Meta fields every document has; their values are kept in columns, not in
// the document's JSON.
const (
	FieldID      = "_id"
	FieldCreated = "_created"
	FieldUpdated = "_updated"
)

// Field is a field a query may name.
type Field struct {
	Name string
	Type Type
	// Indexed asks the store to keep an index on (owner, field).
	Indexed bool
}

// fieldName is what a document field name may look like: it appears in SQL
// (as a JSON path and, on MySQL, in a column name), so it is restricted to
// letters, digits and underscores and must not start with "_" (reserved for
// meta fields).
var fieldName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,31}$`)

// ValidFieldName reports whether name may be used as a document field name.
func ValidFieldName(name string) bool { return fieldName.MatchString(name) }

// Op is a comparison operator.
type Op string

// Operators, named as MongoDB's.
const (
	Eq     Op = "$eq"
	Ne     Op = "$ne"
	Gt     Op = "$gt"
	Gte    Op = "$gte"
	Lt     Op = "$lt"
	Lte    Op = "$lte"
	In     Op = "$in"
	Nin    Op = "$nin"
	Exists Op = "$exists"
)

// Expr is a filter expression: *Cond, And or Or.
type Expr interface{ expr() }

// Cond compares one field with a value.
//
// Value is nil (JSON null: the field is null or missing), a bool, a float64,
// a string, or a time.Time (for _created and _updated only), matching the
// field's type. For In and Nin, Values holds the candidates instead. For
// Exists, Value is a bool.
type Cond struct {
	Field  string
	Op     Op
	Value  any
	Values []any
}

// And matches when every expression matches (an empty And matches all).
type And []Expr

// Or matches when any expression matches (an empty Or matches nothing).
type Or []Expr

func (*Cond) expr() {}
func (And) expr()   {}
func (Or) expr()    {}

// SortKey orders results by one field.
type SortKey struct {
	Field string
	Desc  bool
}

// Query selects documents of one owner.
type Query struct {
	Filter Expr // nil: all documents
	Sort   []SortKey
	Limit  int // 0: no limit
	Offset int
}

// TimeLayout is the layout DateTime fields are stored in: UTC with a fixed
// number of fractional digits, so that comparing strings compares times.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// NormalizeTime formats t in TimeLayout.
func NormalizeTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ErrTooComplex is wrapped by the errors of a store that refuses a filter
// for its cost rather than its form: the caller should narrow the query.
var ErrTooComplex = errors.New("the filter is too complex")
