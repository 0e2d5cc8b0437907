package docstore

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqldialect"
)

// dialect is what differs between the databases. Every method returns SQL
// built only from constants, the collection name and declared field names
// (both validated to [A-Za-z0-9_]); values go through placeholders.
type dialect interface {
	// sql is the dialect's name, placeholders and shared SQL syntax.
	sql() sqldialect.Dialect
	// expr is the SQL expression of a scalar field, used both in queries and
	// in the index, so the planner can match them.
	expr(f docquery.Field) string
	// present is true when the field exists in the document (null or not).
	present(f docquery.Field) string
	// isNull is true when the field is missing or JSON null.
	isNull(f docquery.Field) string
	// bind converts a value of f's type for comparison with expr(f), and
	// returns the SQL to put in place of the placeholder.
	bind(b *builder, f docquery.Field, v any) (string, error)
	// ownerCond is the owner condition of a query, the owner's value at
	// placeholder p; drive is set when an array condition drives the
	// query (builder.top).
	ownerCond(p string, drive bool) string
	// elemIn is true when the document has one of set's elements in the
	// side table; never NULL. With drive, it is the conjunct the query
	// is driven by, read through the side table's index whatever the
	// planner's statistics; without, a test of each row, bounded per row.
	elemIn(b *builder, set *elemSet, drive bool) string
	// orderBy renders one sort key on a field expression.
	orderBy(expr string, desc, nullable bool) string
	falseSQL() string
	trueSQL() string
}

func dialectFor(name string) (dialect, error) {
	d, err := sqldialect.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	switch d {
	case sqldialect.Postgres:
		return postgresDialect{}, nil
	case sqldialect.MySQL:
		return mysqlDialect{}, nil
	}
	return sqliteDialect{}, nil
}

// jsonPath is the SQL string literal of the JSON path of a field. The name
// was validated by docquery.ValidFieldName, so it needs no escaping.
func jsonPath(f docquery.Field) string { return "'$." + f.Name + "'" }

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// --- SQLite ---

type sqliteDialect struct{}

func (sqliteDialect) sql() sqldialect.Dialect { return sqldialect.SQLite }
func (sqliteDialect) expr(f docquery.Field) string {
	return "json_extract(data, " + jsonPath(f) + ")"
}
func (sqliteDialect) present(f docquery.Field) string {
	return "json_type(data, " + jsonPath(f) + ") IS NOT NULL"
}
func (d sqliteDialect) isNull(f docquery.Field) string { return d.expr(f) + " IS NULL" }
func (sqliteDialect) bind(b *builder, f docquery.Field, v any) (string, error) {
	if x, ok := v.(bool); ok {
		return b.arg(boolInt(x)), nil
	}
	return b.arg(v), nil
}

// ownerCond: with no statistics (Gatehouse does not ANALYZE), SQLite
// prefers walking the owner's documents in the index order of the sort to
// looking up ids from the side table and sorting them; the unary + keeps
// it from using owner as an index key, so the ids drive.
func (sqliteDialect) ownerCond(p string, drive bool) string {
	if drive {
		return "+owner = " + p
	}
	return "owner = " + p
}

// elemIn: SQLite reads the subquery once through the index (owner, field,
// value, id) into a temporary index, and either fetches its ids by
// primary key or (in a filter) probes it per row.
func (sqliteDialect) elemIn(b *builder, set *elemSet, _ bool) string {
	return elemSubquery(b, set)
}
func (sqliteDialect) orderBy(expr string, desc, _ bool) string { return expr + dir(desc) }
func (sqliteDialect) falseSQL() string                         { return "0" }
func (sqliteDialect) trueSQL() string                          { return "1" }

// --- PostgreSQL ---

// Strings compare with the "C" collation, bytewise as on SQLite and MySQL
// (utf8mb4_bin); booleans and numbers compare as jsonb, whose order for
// values of one type is the type's own.
type postgresDialect struct{}

func (postgresDialect) sql() sqldialect.Dialect { return sqldialect.Postgres }
func (postgresDialect) expr(f docquery.Field) string {
	switch f.Type {
	case docquery.String, docquery.DateTime:
		return "((data->>'" + f.Name + "') COLLATE \"C\")"
	}
	return "(data->'" + f.Name + "')"
}
func (postgresDialect) present(f docquery.Field) string {
	return "(data->'" + f.Name + "') IS NOT NULL"
}
func (postgresDialect) isNull(f docquery.Field) string {
	return "COALESCE(jsonb_typeof(data->'" + f.Name + "'), 'null') = 'null'"
}
func (postgresDialect) bind(b *builder, f docquery.Field, v any) (string, error) {
	switch f.Type {
	case docquery.String, docquery.DateTime:
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("docstore: field %s needs a string, got %T", f.Name, v)
		}
		return b.arg(s), nil
	}
	js, err := jsonScalar(v)
	if err != nil {
		return "", fmt.Errorf("docstore: field %s: %w", f.Name, err)
	}
	return "CAST(" + b.arg(js) + " AS jsonb)", nil
}

// ownerCond: without statistics the planner takes the owner's rows for
// few and may AND a bitmap of all of them (from an index on owner, …) with
// the ids; (owner = $1) IS TRUE is the same test but no index condition.
func (postgresDialect) ownerCond(p string, drive bool) string {
	if drive {
		return "(owner = " + p + ") IS TRUE"
	}
	return "owner = " + p
}

// elemIn reads the matching ids into an array computed once (an
// InitPlan): each value is looked up on its own through the index (owner,
// field, value, id), as the LATERAL subquery (kept apart by OFFSET 0) can
// only run per value, where value = ANY (…) could be planned as a scan of
// all the owner's rows filtered on value. The planner cannot know how many
// ids the array holds and assumes ten for its unnest.
//
// Driving, id IN (SELECT unnest(…)) becomes a semi-join that starts from
// those ten ids and fetches each document by primary key, rather than
// walking the owner's documents, whatever its statistics say of the side
// table.
//
// As a filter, (id IN (SELECT unnest(…))) IS TRUE: the same test (neither
// side is ever NULL), kept a subquery, planned as a hash table built once
// and probed per row. A bare IN there would become a semi-join too, which
// for ten estimated rows can be a nested loop comparing every document
// with every id; a correlated EXISTS would run once per row and term, and
// a plain IN over more rows than work_mem holds becomes a list searched
// row by row.
func (postgresDialect) elemIn(b *builder, set *elemSet, drive bool) string {
	var sb strings.Builder
	owner := b.arg(b.owner)
	sb.WriteString("id IN (SELECT unnest(ARRAY (SELECT DISTINCT m.id FROM (VALUES ")
	n := 0
	for _, f := range set.fields {
		for _, k := range set.keys[f.Name] {
			if n > 0 {
				sb.WriteString(", ")
			}
			n++
			sb.WriteString("('" + f.Name + "', " + b.arg(k) + ")")
		}
	}
	sb.WriteString(") AS v (field, value) CROSS JOIN LATERAL (SELECT e.id FROM " + b.c.elemTable() + " e WHERE e.owner = " + owner +
		" AND e.field = v.field AND e.value = v.value OFFSET 0) m)))")
	if drive {
		return sb.String()
	}
	return "(" + sb.String() + ") IS TRUE"
}

// orderBy puts missing and null values first in ascending order, as SQLite
// and MySQL do; the field indexes are built NULLS FIRST to match.
func (postgresDialect) orderBy(expr string, desc, nullable bool) string {
	if !nullable {
		return expr + dir(desc)
	}
	if desc {
		return expr + " DESC NULLS LAST"
	}
	return expr + " ASC NULLS FIRST"
}
func (postgresDialect) falseSQL() string { return "FALSE" }
func (postgresDialect) trueSQL() string  { return "TRUE" }

// --- MySQL / MariaDB ---

// Every scalar field has a virtual generated column g_<field>, indexed when
// the field asks for it.
type mysqlDialect struct{}

func (mysqlDialect) sql() sqldialect.Dialect      { return sqldialect.MySQL }
func (mysqlDialect) expr(f docquery.Field) string { return "g_" + f.Name }
func (mysqlDialect) present(f docquery.Field) string {
	return "JSON_CONTAINS_PATH(data, 'one', " + jsonPath(f) + ") = 1"
}
func (d mysqlDialect) isNull(f docquery.Field) string {
	if f.Type == docquery.Array {
		return "COALESCE(JSON_TYPE(JSON_EXTRACT(data, " + jsonPath(f) + ")), 'NULL') = 'NULL'"
	}
	return d.expr(f) + " IS NULL"
}
func (mysqlDialect) bind(b *builder, f docquery.Field, v any) (string, error) {
	if x, ok := v.(bool); ok {
		return b.arg(boolInt(x)), nil
	}
	return b.arg(v), nil
}
func (mysqlDialect) ownerCond(p string, _ bool) string { return "owner = " + p }

// elemIn: MySQL and MariaDB estimate the subquery's rows with index dives
// into (owner, field, value, id), which count the matching elements, so
// that few of them are read as a materialized semi-join whose ids are
// fetched by primary key; in a filter the subquery is materialized once
// and probed per row.
func (mysqlDialect) elemIn(b *builder, set *elemSet, _ bool) string {
	return elemSubquery(b, set)
}
func (mysqlDialect) orderBy(expr string, desc, _ bool) string { return expr + dir(desc) }
func (mysqlDialect) falseSQL() string                         { return "0" }
func (mysqlDialect) trueSQL() string                          { return "1" }

// mysqlColumn is the definition of a field's generated column.
func mysqlColumn(f docquery.Field) string {
	typ, expr := mysqlColumnParts(f)
	return typ + " AS (" + expr + ") VIRTUAL"
}

// mysqlColumnParts are the type and the expression of a field's generated
// column.
func mysqlColumnParts(f docquery.Field) (typ, expr string) {
	p := jsonPath(f)
	switch f.Type {
	case docquery.Boolean:
		// MariaDB's JSON_VALUE gives 1/0 for booleans and MySQL's true/false;
		// the text of JSON_EXTRACT is true/false on both.
		return "TINYINT", "CASE CAST(JSON_EXTRACT(data, " + p + ") AS CHAR) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
	case docquery.Number:
		return "DOUBLE", "CAST(JSON_VALUE(data, " + p + ") AS DOUBLE)"
	}
	// Longer strings are compared on their first 512 characters, the most
	// an InnoDB index key allows next to the owner and the id.
	return "VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "LEFT(JSON_VALUE(data, " + p + "), 512)"
}

// elemSubquery is id IN (the owner's documents with one of set's
// elements), read through the index (owner, field, value, id).
func elemSubquery(b *builder, set *elemSet) string {
	return "id IN (SELECT id FROM " + b.c.elemTable() + " WHERE owner = " + b.arg(b.owner) + " AND " + b.elemWhere(set) + ")"
}

func dir(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

// jsonScalar renders a query value as JSON text.
func jsonScalar(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("number %v has no JSON form", x)
		}
		return formatNumber(x), nil
	case string:
		b, err := json.Marshal(x)
		return string(b), err
	}
	return "", fmt.Errorf("unsupported value type %T", v)
}
