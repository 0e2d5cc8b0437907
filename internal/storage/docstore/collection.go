package docstore

import (
	"fmt"
	"regexp"
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
}

// collectionName keeps table and index names short enough for every
// database (PostgreSQL truncates identifiers at 63 bytes).
var collectionName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,23}$`)

// ValidName reports whether name may name a collection.
func ValidName(name string) bool { return collectionName.MatchString(name) }

func (c *Collection) table() string { return "doc_" + c.Name }

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
	return nil
}

// CheckCollection reports what is wrong with c, if anything.
func CheckCollection(c Collection) error { return c.validate() }
