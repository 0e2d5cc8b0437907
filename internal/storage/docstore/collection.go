package docstore

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// Collection describes one collection of documents: its name and the fields
// queries may name.
type Collection struct {
	// Name is the collection's name; its table is "doc_<Name>".
	Name string
	// Fields are the document's top-level fields that can be filtered and
	// sorted on. Fields with Indexed set get an index on (owner, field, id).
	Fields []docquery.Field
	// Unique fields have a unique value among one owner's documents.
	Unique []string
	// Indexes are compound indexes, each on (owner, its keys…, id), for
	// queries that filter on the first keys with equality and sort on the
	// next ones (MongoDB's compound indexes, Eve's mongo_indexes).
	Indexes []Index
	// SoftDelete marks deleted documents instead of removing them (Eve's
	// soft_delete): Find and Count skip them, unique values ignore them,
	// Get still returns them (Document.Deleted).
	SoftDelete bool
	// Versioning keeps a copy of every written state of a document in the
	// collection's versions table ("docver_<Name>", versions.go).
	Versioning bool
}

// Index is a named compound index.
type Index struct {
	// Name is unique in the collection; the index is "doc_<collection>_c_<Name>".
	Name string
	Keys []IndexKey
}

// IndexKey is one field of a compound index and its direction: a declared
// scalar field, or the meta field _created or _updated.
type IndexKey struct {
	Field string
	Desc  bool
}

// Limits of a compound index. MaxIndexKeys keeps the index small; the limit
// of one string or date-time key comes from MySQL, whose InnoDB index keys
// hold at most 3,072 bytes: the owner (764), the id (128) and one indexed
// string column (VARCHAR(512) utf8mb4: 2,050) fit, two do not.
const (
	MinIndexKeys       = 2
	MaxIndexKeys       = 4
	maxStringIndexKeys = 1
)

// indexNameRE keeps "doc_<collection>_c_<name>" under PostgreSQL's 63 bytes;
// lower case only, as PostgreSQL folds unquoted names and MySQL compares
// index names without case.
var indexNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// collectionName keeps table and index names short enough for every
// database (PostgreSQL truncates identifiers at 63 bytes).
var collectionName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,23}$`)

// ValidName reports whether name may name a collection.
func ValidName(name string) bool { return collectionName.MatchString(name) }

func (c *Collection) table() string { return "doc_" + c.Name }

// clone copies c's slices, so that the store keeps a collection its caller
// cannot change afterwards.
func (c Collection) clone() Collection {
	c.Fields = slices.Clone(c.Fields)
	c.Unique = slices.Clone(c.Unique)
	c.Indexes = slices.Clone(c.Indexes)
	for i := range c.Indexes {
		c.Indexes[i].Keys = slices.Clone(c.Indexes[i].Keys)
	}
	return c
}

func (c *Collection) field(name string) (docquery.Field, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return docquery.Field{}, false
}

func (c *Collection) validate() error {
	if !ValidName(c.Name) {
		return fmt.Errorf("docstore: collection name %q must match %s", c.Name, collectionName)
	}
	seen := map[string]bool{}
	for _, f := range c.Fields {
		if !docquery.ValidFieldName(f.Name) {
			return fmt.Errorf("docstore: collection %s: field name %q is not allowed (letters, digits and _, at most 32, not starting with _)", c.Name, f.Name)
		}
		// MySQL column names are case-insensitive.
		key := strings.ToLower(f.Name)
		if seen[key] {
			return fmt.Errorf("docstore: collection %s: field %q is declared twice (names differing only in case count as the same)", c.Name, f.Name)
		}
		seen[key] = true
		switch f.Type {
		case docquery.String, docquery.Number, docquery.Boolean, docquery.DateTime, docquery.Array:
		default:
			return fmt.Errorf("docstore: collection %s: field %q has unknown type %v", c.Name, f.Name, f.Type)
		}
	}
	for _, u := range c.Unique {
		f, ok := c.field(u)
		if !ok {
			return fmt.Errorf("docstore: collection %s: unique field %q is not declared", c.Name, u)
		}
		if f.Type == docquery.Array {
			return fmt.Errorf("docstore: collection %s: array field %q cannot be unique", c.Name, u)
		}
	}
	names := map[string]bool{}
	shapes := map[string]string{}
	for _, ix := range c.Indexes {
		if err := CheckIndex(c.Fields, ix); err != nil {
			return fmt.Errorf("docstore: collection %s: index %q: %w", c.Name, ix.Name, err)
		}
		if names[ix.Name] {
			return fmt.Errorf("docstore: collection %s: index %q is declared twice", c.Name, ix.Name)
		}
		names[ix.Name] = true
		shape := fmt.Sprint(ix.Keys)
		if other, ok := shapes[shape]; ok {
			return fmt.Errorf("docstore: collection %s: indexes %q and %q have the same keys", c.Name, other, ix.Name)
		}
		shapes[shape] = ix.Name
	}
	return nil
}

// CheckIndex reports what is wrong with a compound index on a collection
// with the given fields, if anything.
func CheckIndex(fields []docquery.Field, ix Index) error {
	c := &Collection{Fields: fields}
	if !indexNameRE.MatchString(ix.Name) {
		return fmt.Errorf("the name must match %s", indexNameRE)
	}
	if len(ix.Keys) < MinIndexKeys || len(ix.Keys) > MaxIndexKeys {
		return fmt.Errorf("a compound index has %d to %d fields, not %d", MinIndexKeys, MaxIndexKeys, len(ix.Keys))
	}
	seen := map[string]bool{}
	strs := 0
	for _, k := range ix.Keys {
		if seen[k.Field] {
			return fmt.Errorf("field %q appears twice", k.Field)
		}
		seen[k.Field] = true
		switch k.Field {
		case docquery.FieldCreated, docquery.FieldUpdated:
			continue
		case docquery.FieldID:
			return fmt.Errorf("%s cannot be a key: every index ends with it", k.Field)
		}
		f, ok := c.field(k.Field)
		if !ok {
			return fmt.Errorf("field %q is not declared", k.Field)
		}
		if f.Type == docquery.Array {
			return fmt.Errorf("array field %q cannot be indexed", k.Field)
		}
		if f.Type == docquery.String || f.Type == docquery.DateTime {
			strs++
		}
	}
	if strs > maxStringIndexKeys {
		return fmt.Errorf("at most %d string or date-time field per index (MySQL's index key size)", maxStringIndexKeys)
	}
	return nil
}

// CheckCollection reports what is wrong with c, if anything.
func CheckCollection(c Collection) error { return c.validate() }
