package docstore

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// maxExprNodes bounds the size of a filter, so a query cannot make the
// database compile an enormous statement.
const maxExprNodes = 200

// maxLookups bounds the side-table look-ups of one filter. Terms on one
// array field that can be merged make one look-up however many values they
// name, but those that cannot (each under its own and/or group) make one
// each, and a database may collect all the matches of each before
// filtering: their number, not only the filter's size, bounds the work and
// memory of a query.
const maxLookups = 16

// builder accumulates SQL text and its arguments.
type builder struct {
	d     dialect
	c     *Collection
	owner string // whose documents the query reads
	// driving is set while the conjunct that drives the query is rendered.
	driving bool
	sb      strings.Builder
	args    []any
	nodes   int
	// lookups counts the side-table look-ups of the filter (elemIn): see
	// maxLookups.
	lookups int
	// live skips soft-deleted documents.
	live bool
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return b.d.sql().Placeholder(len(b.args))
}

// column is what a query field refers to.
type column struct {
	meta  string // the column of a meta field, else ""
	field docquery.Field
}

func (b *builder) lookup(name string) (column, error) {
	switch name {
	case docquery.FieldID:
		return column{meta: "id"}, nil
	case docquery.FieldCreated:
		return column{meta: "created"}, nil
	case docquery.FieldUpdated:
		return column{meta: "updated"}, nil
	}
	if f, ok := b.c.field(name); ok {
		return column{field: f}, nil
	}
	return column{}, fmt.Errorf("docstore: unknown field %q", name)
}

// metaValue converts a value compared with a meta column.
func metaValue(col string, v any) (any, error) {
	switch col {
	case "id":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("docstore: _id needs a string, got %T", v)
		}
		return s, nil
	default:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("docstore: %s needs a time, got %T", col, v)
		}
		return t.UnixMicro(), nil
	}
}

// countNode counts one node of the filter against maxExprNodes.
func (b *builder) countNode() error {
	b.nodes++
	if b.nodes > maxExprNodes {
		return fmt.Errorf("docstore: %w: more than %d terms", docquery.ErrTooComplex, maxExprNodes)
	}
	return nil
}

func (b *builder) where(e docquery.Expr) error {
	if err := b.countNode(); err != nil {
		return err
	}
	switch x := e.(type) {
	case nil:
		b.sb.WriteString(b.d.trueSQL())
		return nil
	case docquery.And:
		return b.and(x, -1)
	case docquery.Or:
		return b.or(x)
	case *docquery.Cond:
		return b.cond(x)
	}
	return fmt.Errorf("docstore: unknown expression %T", e)
}

func (b *builder) cond(c *docquery.Cond) error {
	col, err := b.lookup(c.Field)
	if err != nil {
		return err
	}
	if c.Op == docquery.Exists {
		want, ok := c.Value.(bool)
		if !ok {
			return fmt.Errorf("docstore: $exists needs a boolean")
		}
		switch {
		case col.meta != "":
			b.sb.WriteString(map[bool]string{true: b.d.trueSQL(), false: b.d.falseSQL()}[want])
		case want:
			b.sb.WriteString("(" + b.d.present(col.field) + ")")
		default:
			b.sb.WriteString("(NOT (" + b.d.present(col.field) + "))")
		}
		return nil
	}
	if col.meta != "" {
		return b.metaCond(col.meta, c)
	}
	if col.field.Type == docquery.Array {
		return b.arrayCond(col.field, c)
	}
	return b.scalarCond(col.field, c)
}

var sqlOps = map[docquery.Op]string{
	docquery.Eq: " = ", docquery.Ne: " <> ",
	docquery.Gt: " > ", docquery.Gte: " >= ", docquery.Lt: " < ", docquery.Lte: " <= ",
}

func (b *builder) metaCond(col string, c *docquery.Cond) error {
	switch c.Op {
	case docquery.In, docquery.Nin:
		if len(c.Values) == 0 {
			b.sb.WriteString(map[bool]string{true: b.d.falseSQL(), false: b.d.trueSQL()}[c.Op == docquery.In])
			return nil
		}
		if len(c.Values) > maxExprNodes {
			return fmt.Errorf("docstore: more than %d values", maxExprNodes)
		}
		ph := make([]string, len(c.Values))
		for i, v := range c.Values {
			mv, err := metaValue(col, v)
			if err != nil {
				return err
			}
			ph[i] = b.arg(mv)
		}
		not := ""
		if c.Op == docquery.Nin {
			not = "NOT "
		}
		b.sb.WriteString("(" + col + " " + not + "IN (" + strings.Join(ph, ", ") + "))")
		return nil
	}
	op, ok := sqlOps[c.Op]
	if !ok {
		return fmt.Errorf("docstore: unknown operator %q", c.Op)
	}
	if c.Value == nil {
		// Meta fields are never null.
		if c.Op != docquery.Eq && c.Op != docquery.Ne {
			return fmt.Errorf("docstore: cannot compare %s with null", c.Field)
		}
		b.sb.WriteString(map[bool]string{true: b.d.falseSQL(), false: b.d.trueSQL()}[c.Op == docquery.Eq])
		return nil
	}
	mv, err := metaValue(col, c.Value)
	if err != nil {
		return err
	}
	b.sb.WriteString("(" + col + op + b.arg(mv) + ")")
	return nil
}

func checkValue(f docquery.Field, v any) error {
	want := f.Type
	if want == docquery.Array {
		// Arrays hold scalars of any JSON type.
		switch x := v.(type) {
		case string, bool:
			return nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("docstore: field %s: number out of range", f.Name)
			}
			return nil
		}
		return fmt.Errorf("docstore: field %s: unsupported value %T", f.Name, v)
	}
	ok := false
	switch x := v.(type) {
	case string:
		ok = want == docquery.String || want == docquery.DateTime
	case bool:
		ok = want == docquery.Boolean
	case float64:
		ok = want == docquery.Number && !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	if !ok {
		return fmt.Errorf("docstore: field %s is a %s, cannot compare with %T", f.Name, want, v)
	}
	return nil
}

func (b *builder) scalarCond(f docquery.Field, c *docquery.Cond) error {
	expr := b.d.expr(f)
	switch c.Op {
	case docquery.In, docquery.Nin:
		if len(c.Values) > maxExprNodes {
			return fmt.Errorf("docstore: more than %d values", maxExprNodes)
		}
		var ph []string
		hasNull := false
		for _, v := range c.Values {
			if v == nil {
				hasNull = true
				continue
			}
			if err := checkValue(f, v); err != nil {
				return err
			}
			p, err := b.d.bind(b, f, v)
			if err != nil {
				return err
			}
			ph = append(ph, p)
		}
		in := b.d.falseSQL()
		if len(ph) > 0 {
			in = expr + " IN (" + strings.Join(ph, ", ") + ")"
		}
		if c.Op == docquery.In {
			if hasNull {
				in = in + " OR " + b.d.isNull(f)
			}
			b.sb.WriteString("(" + in + ")")
			return nil
		}
		// $nin matches documents without the field, as MongoDB does,
		// unless null is one of the values.
		if hasNull {
			b.sb.WriteString("(NOT (" + b.d.isNull(f) + ") AND NOT (" + in + "))")
		} else {
			b.sb.WriteString("(" + b.d.isNull(f) + " OR NOT (" + in + "))")
		}
		return nil
	}
	op, ok := sqlOps[c.Op]
	if !ok {
		return fmt.Errorf("docstore: unknown operator %q", c.Op)
	}
	if c.Value == nil {
		switch c.Op {
		case docquery.Eq:
			b.sb.WriteString("(" + b.d.isNull(f) + ")")
		case docquery.Ne:
			b.sb.WriteString("(NOT (" + b.d.isNull(f) + "))")
		default:
			return fmt.Errorf("docstore: cannot compare %s with null", f.Name)
		}
		return nil
	}
	if err := checkValue(f, c.Value); err != nil {
		return err
	}
	p, err := b.d.bind(b, f, c.Value)
	if err != nil {
		return err
	}
	if c.Op == docquery.Ne {
		// $ne matches documents without the field, as MongoDB does.
		b.sb.WriteString("(" + b.d.isNull(f) + " OR " + expr + op + p + ")")
		return nil
	}
	b.sb.WriteString("(" + expr + op + p + ")")
	return nil
}

// Conditions on array fields read the side table (elems.go): "contains
// v" is id IN (the ids of the owner's documents with element v), which
// the database answers from the index (owner, field, value, id). A
// missing or null array contains nothing.
func (b *builder) arrayCond(f docquery.Field, c *docquery.Cond) error {
	switch c.Op {
	case docquery.Eq, docquery.Ne:
		if c.Value == nil {
			if c.Op == docquery.Eq {
				b.sb.WriteString("(" + b.d.isNull(f) + ")")
			} else {
				b.sb.WriteString("(NOT (" + b.d.isNull(f) + "))")
			}
			return nil
		}
		var set elemSet
		if err := set.add(f, c.Value); err != nil {
			return err
		}
		if c.Op == docquery.Ne {
			b.sb.WriteString("(NOT (" + b.elemIn(&set) + "))")
		} else {
			b.sb.WriteString("(" + b.elemIn(&set) + ")")
		}
		return nil
	case docquery.In, docquery.Nin:
		if len(c.Values) > maxExprNodes {
			return fmt.Errorf("docstore: more than %d values", maxExprNodes)
		}
		var set elemSet
		hasNull := false
		for _, v := range c.Values {
			if v == nil {
				hasNull = true
				continue
			}
			if err := set.add(f, v); err != nil {
				return err
			}
		}
		var parts []string
		if len(set.fields) > 0 {
			parts = append(parts, b.elemIn(&set))
		}
		if hasNull {
			parts = append(parts, b.d.isNull(f))
		}
		s := b.d.falseSQL()
		if len(parts) > 0 {
			s = strings.Join(parts, " OR ")
		}
		if c.Op == docquery.Nin {
			s = "NOT (" + s + ")"
		}
		b.sb.WriteString("(" + s + ")")
		return nil
	}
	return fmt.Errorf("docstore: operator %s does not apply to array field %s", c.Op, f.Name)
}

// elemSet is a disjunction of "contains" conditions: for each array field,
// the element keys one of which a document must have.
type elemSet struct {
	fields []docquery.Field
	keys   map[string][]string
}

func (s *elemSet) add(f docquery.Field, v any) error {
	if err := checkValue(f, v); err != nil {
		return err
	}
	k, ok := elemKey(v)
	if !ok {
		return fmt.Errorf("docstore: field %s: unsupported value %T", f.Name, v)
	}
	if s.keys == nil {
		s.keys = map[string][]string{}
	}
	if _, ok := s.keys[f.Name]; !ok {
		s.fields = append(s.fields, f)
	}
	// A value given again adds nothing: each one is a look-up (a row of
	// the VALUES list on PostgreSQL, whose matches are all collected), so
	// repeats would multiply a query's work without changing its answer.
	if !slices.Contains(s.keys[f.Name], k) {
		s.keys[f.Name] = append(s.keys[f.Name], k)
	}
	return nil
}

// elemWhere renders the condition on side-table rows of having one of
// set's elements. The field names were validated and are written as
// literals.
func (b *builder) elemWhere(set *elemSet) string {
	var sb strings.Builder
	if len(set.fields) > 1 {
		sb.WriteByte('(')
	}
	for i, f := range set.fields {
		if i > 0 {
			sb.WriteString(" OR ")
		}
		sb.WriteString("(field = '" + f.Name + "' AND value")
		keys := set.keys[f.Name]
		if len(keys) == 1 {
			sb.WriteString(" = " + b.arg(keys[0]) + ")")
			continue
		}
		sb.WriteString(" IN (")
		for j, k := range keys {
			if j > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(b.arg(k))
		}
		sb.WriteString("))")
	}
	if len(set.fields) > 1 {
		sb.WriteByte(')')
	}
	return sb.String()
}

// elemIn renders the condition that a document has one of set's elements,
// in the form that drives the query when b.driving is set (see top).
func (b *builder) elemIn(set *elemSet) string {
	b.lookups++
	return b.d.elemIn(b, set, b.driving)
}

// top renders the owner condition and the filter. A top-level conjunct
// made only of "contains" terms drives the query: the dialect renders it
// so that the database reads the matching ids from the side table's index
// and fetches those documents by id, rather than walking the owner's
// documents and testing each; a filter that names elements no document
// has then costs a few index probes however many documents the owner has.
// It is the first such conjunct; other conditions filter what it finds.
// A filter that needs more than maxLookups look-ups is refused with
// docquery.ErrTooComplex.
func (b *builder) top(filter docquery.Expr) error {
	if err := b.topFilter(filter); err != nil {
		return err
	}
	if b.lookups > maxLookups {
		return fmt.Errorf("docstore: %w: more than %d look-ups of array elements (conditions on array fields that cannot be merged)", docquery.ErrTooComplex, maxLookups)
	}
	return nil
}

// topFilter renders the owner condition and the filter (see top).
func (b *builder) topFilter(filter docquery.Expr) error {
	conj, isAnd := filter.(docquery.And)
	if !isAnd {
		conj = docquery.And{filter}
	}
	driver := slices.IndexFunc(conj, b.drives)
	b.sb.WriteString(b.d.ownerCond(b.arg(b.owner), driver >= 0) + " AND ")
	if b.live {
		b.sb.WriteString("deleted = 0 AND ")
	}
	switch {
	case isAnd:
		b.nodes++ // the And, as where counts it
		return b.and(conj, driver)
	case driver == 0:
		return b.and(conj, driver)
	}
	return b.where(filter)
}

// and renders a conjunction, es[driver] (if driver >= 0) as the conjunct
// that drives the query. Its "does not contain" terms (an array field not
// equal to a value, or $nin values without null) become one lookup in the
// side table, NOT (contains one of them), tested once per row however
// many there are.
func (b *builder) and(es docquery.And, driver int) error {
	if len(es) == 0 {
		b.sb.WriteString(b.d.trueSQL())
		return nil
	}
	var none elemSet
	n := 0
	b.sb.WriteByte('(')
	for i, e := range es {
		if i != driver {
			if f, values, ok := b.notContainsTerm(e); ok {
				if err := b.merge(&none, f, values); err != nil {
					return err
				}
				continue
			}
		}
		if n > 0 {
			b.sb.WriteString(" AND ")
		}
		n++
		b.driving = i == driver
		err := b.where(e)
		b.driving = false
		if err != nil {
			return err
		}
	}
	if len(none.fields) > 0 {
		if n > 0 {
			b.sb.WriteString(" AND ")
		}
		b.sb.WriteString("(NOT (" + b.elemIn(&none) + "))")
	}
	b.sb.WriteByte(')')
	return nil
}

// merge adds a term of values to set, counting it as where would.
func (b *builder) merge(set *elemSet, f docquery.Field, values []any) error {
	if err := b.countNode(); err != nil {
		return err
	}
	if len(values) > maxExprNodes {
		return fmt.Errorf("docstore: more than %d values", maxExprNodes)
	}
	for _, v := range values {
		if err := set.add(f, v); err != nil {
			return err
		}
	}
	return nil
}

// drives reports whether e is one "contains" term or a disjunction of
// them, which renders as one elemIn.
func (b *builder) drives(e docquery.Expr) bool {
	if _, _, ok := b.containsTerm(e); ok {
		return true
	}
	or, ok := e.(docquery.Or)
	if !ok || len(or) == 0 {
		return false
	}
	for _, x := range or {
		if _, _, ok := b.containsTerm(x); !ok {
			return false
		}
	}
	return true
}

// or renders a disjunction. Its "contains" terms (an array field equal to
// a value, or $in values without null) become one lookup in the side
// table, so that many of them cost one probe of its index per value rather
// than one subquery each.
func (b *builder) or(es docquery.Or) error {
	if len(es) == 0 {
		b.sb.WriteString(b.d.falseSQL())
		return nil
	}
	var (
		set  elemSet
		rest docquery.Or
	)
	for _, e := range es {
		f, values, ok := b.containsTerm(e)
		if !ok {
			rest = append(rest, e)
			continue
		}
		if err := b.merge(&set, f, values); err != nil {
			return err
		}
	}
	b.sb.WriteByte('(')
	if len(set.fields) > 0 {
		b.sb.WriteString(b.elemIn(&set))
	}
	for i, e := range rest {
		if i > 0 || len(set.fields) > 0 {
			b.sb.WriteString(" OR ")
		}
		if err := b.where(e); err != nil {
			return err
		}
	}
	b.sb.WriteByte(')')
	return nil
}

// containsTerm reports whether e is a condition that an array field
// contains one of some values (none of them null), and which.
func (b *builder) containsTerm(e docquery.Expr) (docquery.Field, []any, bool) {
	return b.arrayTerm(e, docquery.Eq, docquery.In)
}

// notContainsTerm reports whether e is a condition that an array field
// contains none of some values (none of them null), and which.
func (b *builder) notContainsTerm(e docquery.Expr) (docquery.Field, []any, bool) {
	return b.arrayTerm(e, docquery.Ne, docquery.Nin)
}

func (b *builder) arrayTerm(e docquery.Expr, one, many docquery.Op) (docquery.Field, []any, bool) {
	c, ok := e.(*docquery.Cond)
	if !ok {
		return docquery.Field{}, nil, false
	}
	f, ok := b.c.field(c.Field)
	if !ok || f.Type != docquery.Array {
		return docquery.Field{}, nil, false
	}
	switch c.Op {
	case one:
		if c.Value != nil {
			return f, []any{c.Value}, true
		}
	case many:
		if len(c.Values) > 0 && !slices.Contains(c.Values, nil) {
			return f, c.Values, true
		}
	}
	return docquery.Field{}, nil, false
}

// fixedFields returns the fields the filter holds equal to one non-null
// value (top-level equality conditions, alone or in an $and).
func fixedFields(filter docquery.Expr) map[string]bool {
	conds := []docquery.Expr{filter}
	if and, ok := filter.(docquery.And); ok {
		conds = and
	}
	out := map[string]bool{}
	for _, e := range conds {
		if c, ok := e.(*docquery.Cond); ok && c.Op == docquery.Eq && c.Value != nil {
			out[c.Field] = true
		}
	}
	return out
}

// orderBy renders the sort. A sort key on a field the filter holds equal
// to one value orders nothing and is left out (?where={"done":false}&
// sort=done,due is sorted by due): SQLite cannot match such a key with
// the index (owner, done, due, id) and would sort every match. The id
// tie-breaker keeps the direction of the last key given, left out or not.
func (b *builder) orderBy(keys []docquery.SortKey, filter docquery.Expr) error {
	b.sb.WriteString(" ORDER BY ")
	fixed := fixedFields(filter)
	last := false
	n := 0
	for _, k := range keys {
		col, err := b.lookup(k.Field)
		if err != nil {
			return err
		}
		if col.meta == "" && col.field.Type == docquery.Array {
			return fmt.Errorf("docstore: cannot sort by array field %s", k.Field)
		}
		last = k.Desc
		if col.meta == "" && fixed[k.Field] {
			continue
		}
		if n > 0 {
			b.sb.WriteString(", ")
		}
		n++
		if col.meta != "" {
			b.sb.WriteString(b.d.orderBy(col.meta, k.Desc, false))
		} else {
			b.sb.WriteString(b.d.orderBy(b.d.expr(col.field), k.Desc, true))
		}
		if col.meta == "id" {
			return nil // unique: no tie-breaker needed
		}
	}
	// The id breaks ties, in the direction of the last key so that an index
	// on (owner, field, id) gives the whole order.
	if n > 0 {
		b.sb.WriteString(", ")
	}
	b.sb.WriteString(b.d.orderBy("id", last, false))
	return nil
}

// BuildFind returns the SELECT statement and arguments Find runs. It is
// exported so that tests can EXPLAIN it and fuzz tests can check that user
// input only ever reaches the arguments.
func BuildFind(dialectName string, c Collection, owner string, q docquery.Query) (string, []any, error) {
	if err := c.validate(); err != nil {
		return "", nil, err
	}
	d, err := dialectFor(dialectName)
	if err != nil {
		return "", nil, err
	}
	return buildFind(d, &c, owner, q, false)
}

// buildFind builds Find's query; in a soft-delete collection, it skips the
// deleted documents unless withDeleted.
func buildFind(d dialect, c *Collection, owner string, q docquery.Query, withDeleted bool) (string, []any, error) {
	b := &builder{d: d, c: c, owner: owner, live: c.SoftDelete && !withDeleted}
	b.sb.WriteString("SELECT " + docColumns + " FROM " + c.table() + " WHERE ")
	if err := b.top(q.Filter); err != nil {
		return "", nil, err
	}
	if err := b.orderBy(q.Sort, q.Filter); err != nil {
		return "", nil, err
	}
	if q.Limit < 0 || q.Offset < 0 {
		return "", nil, fmt.Errorf("docstore: negative limit or offset")
	}
	if q.Limit > 0 || q.Offset > 0 {
		limit := int64(q.Limit)
		if limit == 0 {
			limit = math.MaxInt32
		}
		// LIMIT and OFFSET are integers the caller parsed; they are bound
		// like every other value.
		b.sb.WriteString(" LIMIT " + b.arg(limit) + " OFFSET " + b.arg(int64(q.Offset)))
	}
	return b.sb.String(), b.args, nil
}

// BuildCount returns the COUNT statement Count runs.
func BuildCount(dialectName string, c Collection, owner string, filter docquery.Expr) (string, []any, error) {
	if err := c.validate(); err != nil {
		return "", nil, err
	}
	d, err := dialectFor(dialectName)
	if err != nil {
		return "", nil, err
	}
	return buildCount(d, &c, owner, filter, false)
}

func buildCount(d dialect, c *Collection, owner string, filter docquery.Expr, withDeleted bool) (string, []any, error) {
	b := &builder{d: d, c: c, owner: owner, live: c.SoftDelete && !withDeleted}
	b.sb.WriteString("SELECT COUNT(*) FROM " + c.table() + " WHERE ")
	if err := b.top(filter); err != nil {
		return "", nil, err
	}
	return b.sb.String(), b.args, nil
}
