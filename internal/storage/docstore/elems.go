package docstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqldialect"
)

// The elements of array fields are kept in a side table per collection,
// "docelem_<name>" (id, field, value, owner): one row per distinct scalar
// item of each declared array field of each document, its value encoded
// by elemKey. Conditions on array fields look the matching documents up in
// its index (owner, field, value, id), so their cost follows the number of
// matching elements, not the number of the owner's documents. The name
// cannot clash with a collection's table, which starts with "doc_".

// maxInlineKey is the longest key stored as it is; longer strings are
// stored as their SHA-256. It keeps MySQL's index key (owner, field, value,
// id) well under InnoDB's 3,072 bytes.
const maxInlineKey = 255

// elemKey encodes an array item, or a query value compared with array
// items, so that two keys are equal exactly when the JSON values are: a
// type letter, then the value. Strings compare bytewise; numbers as
// float64, the type query values have (so 1, 1.0 and 1e0 are one key);
// booleans are neither numbers nor strings. Strings too long to store, or
// that a database's text type cannot hold (NUL, invalid UTF-8), are
// replaced by their hash. ok is false for values no query can name (null,
// objects, arrays, numbers outside float64).
func elemKey(v any) (key string, ok bool) {
	switch x := v.(type) {
	case string:
		if len(x) < maxInlineKey && utf8.ValidString(x) && !strings.ContainsRune(x, 0) {
			return "s" + x, true
		}
		sum := sha256.Sum256([]byte(x))
		return "h" + hex.EncodeToString(sum[:]), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		if x == 0 {
			x = 0 // -0 is 0, as in JSON comparisons
		}
		return "n" + formatNumber(x), true
	case bool:
		if x {
			return "t", true
		}
		return "f", true
	}
	return "", false
}

// elem is one row of the side table.
type elem struct{ field, value string }

// arrayFields returns the names of c's array fields.
func (c *Collection) arrayFields() []string {
	var out []string
	for _, f := range c.Fields {
		if f.Type == docquery.Array {
			out = append(out, f.Name)
		}
	}
	return out
}

func (c *Collection) elemTable() string { return "docelem_" + c.Name }

// MaxElements bounds the distinct array items of one document written
// (its side-table rows): each is a row written with the document, so one
// large array must not make a single write hold the database for long.
const MaxElements = 1000

// ErrTooManyElements is returned when a document written has more than
// MaxElements distinct array items.
var ErrTooManyElements = errors.New("docstore: too many array items")

// writtenElems is elems of a document being written, bounded by
// MaxElements.
func writtenElems(data []byte, fields []string) ([]elem, error) {
	es, err := elems(data, fields)
	if err != nil {
		return nil, err
	}
	if len(es) > MaxElements {
		return nil, fmt.Errorf("%w: %d distinct items, at most %d", ErrTooManyElements, len(es), MaxElements)
	}
	return es, nil
}

// elems returns the side-table rows of a document: the distinct scalar
// items of each of fields that holds an array, sorted. A field holding
// anything else (a scalar, an object, null) or missing has none, so that
// "contains" means what it means for arrays only; nested arrays and
// objects inside the array are not items a scalar can equal.
func elems(data []byte, fields []string) ([]elem, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("the document is not a JSON object: %w", err)
	}
	var out []elem
	for _, f := range fields {
		raw, ok := top[f]
		if !ok {
			continue
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '[' {
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("field %s: %w", f, err)
		}
		for _, it := range items {
			v, err := itemValue(it)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f, err)
			}
			if k, ok := elemKey(v); ok {
				out = append(out, elem{f, k})
			}
		}
	}
	slices.SortFunc(out, compareElems)
	return slices.Compact(out), nil
}

// compareElems orders rows by field, then value.
func compareElems(a, b elem) int {
	if c := strings.Compare(a.field, b.field); c != 0 {
		return c
	}
	return strings.Compare(a.value, b.value)
}

// itemValue decodes a scalar array item into the type query values have
// (string, float64, bool); other items decode to nil. A number too large
// for float64 decodes to nil too: no query value can equal it.
func itemValue(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case 't', 'f':
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			return f, nil
		}
	}
	return nil, nil
}

// diffElems returns the rows in old but not in new, and in new but not in
// old; both are sorted and distinct.
func diffElems(old, new []elem) (gone, added []elem) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || (i < len(old) && compareElems(old[i], new[j]) < 0):
			gone = append(gone, old[i])
			i++
		case i == len(old) || compareElems(old[i], new[j]) > 0:
			added = append(added, new[j])
			j++
		default:
			i++
			j++
		}
	}
	return gone, added
}

// elemRow is an element of one document, ready to insert.
type elemRow struct {
	id, owner string
	elem
}

// elemChunks are the row counts of the INSERT statements writing elements:
// a batch is written in chunks of these sizes, largest first, so that a
// few statement texts serve every batch.
var elemChunks = []int{64, 16, 4, 1}

// insertElems writes rows to c's side table. ignore skips rows already
// there: the backfill may meet rows a running writer stored, and Replace
// stale rows of its document.
func (s *Store) insertElems(ctx context.Context, q execer, c *Collection, rows []elemRow, ignore bool) error {
	for len(rows) > 0 {
		n := 1
		for _, size := range elemChunks {
			if len(rows) >= size {
				n = size
				break
			}
		}
		if err := s.insertElemChunk(ctx, q, c, rows[:n], ignore); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func (s *Store) insertElemChunk(ctx context.Context, q execer, c *Collection, rows []elemRow, ignore bool) error {
	var sb strings.Builder
	verb := "INSERT INTO "
	if ignore {
		switch s.d.sql() {
		case sqldialect.SQLite:
			verb = "INSERT OR IGNORE INTO "
		case sqldialect.MySQL:
			verb = "INSERT IGNORE INTO "
		}
	}
	sb.WriteString(verb + c.elemTable() + " (id, field, value, owner) VALUES ")
	args := make([]any, 0, 4*len(rows))
	for i, r := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for k, v := range []any{r.id, r.field, r.value, r.owner} {
			if k > 0 {
				sb.WriteString(", ")
			}
			args = append(args, v)
			sb.WriteString(s.d.sql().Placeholder(len(args)))
		}
		sb.WriteByte(')')
	}
	if ignore && s.d.sql() == sqldialect.Postgres {
		sb.WriteString(" ON CONFLICT DO NOTHING")
	}
	if _, err := q.ExecContext(ctx, sb.String(), args...); err != nil {
		return s.wrap("writing array elements", err)
	}
	return nil
}

// deleteElems removes rows of one document by their whole key, so that on
// MySQL only those rows are locked, not the gaps next to them.
func (s *Store) deleteElems(ctx context.Context, q execer, c *Collection, id string, rows []elem) error {
	if len(rows) == 0 {
		return nil
	}
	p := s.d.sql().Placeholder
	stmt, err := q.PrepareContext(ctx, "DELETE FROM "+c.elemTable()+" WHERE id = "+p(1)+" AND field = "+p(2)+" AND value = "+p(3))
	if err != nil {
		return s.wrap("deleting array elements", err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, id, r.field, r.value); err != nil {
			return s.wrap("deleting array elements", err)
		}
	}
	return nil
}

// deleteDocElems removes every row of one document, for a stored document
// whose data is not JSON and so does not tell which rows are its.
func (s *Store) deleteDocElems(ctx context.Context, q execer, c *Collection, id string) error {
	if _, err := q.ExecContext(ctx, "DELETE FROM "+c.elemTable()+" WHERE id = "+s.d.sql().Placeholder(1), id); err != nil {
		return s.wrap("deleting array elements", err)
	}
	return nil
}
