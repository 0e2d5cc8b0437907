package docstore

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// dialect is what differs between the databases. Every method returns SQL
// built only from constants, the collection name and declared field names
// (both validated to [A-Za-z0-9_]); values go through placeholder.
type dialect interface {
	name() string
	placeholder(n int) string
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
	// contains is true when the array field f contains v; never NULL.
	contains(b *builder, f docquery.Field, v any) (string, error)
	// orderBy renders one sort key on a field expression.
	orderBy(expr string, desc, nullable bool) string
	falseSQL() string
	trueSQL() string
}

func dialectFor(name string) (dialect, error) {
	switch name {
	case "sqlite":
		return sqliteDialect{}, nil
	case "postgres":
		return postgresDialect{}, nil
	case "mysql":
		return mysqlDialect{}, nil
	}
	return nil, fmt.Errorf("docstore: unknown dialect %q", name)
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

func (sqliteDialect) name() string           { return "sqlite" }
func (sqliteDialect) placeholder(int) string { return "?" }
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
func (sqliteDialect) contains(b *builder, f docquery.Field, v any) (string, error) {
	if x, ok := v.(bool); ok {
		v = boolInt(x)
	}
	return "EXISTS (SELECT 1 FROM json_each(data, " + jsonPath(f) + ") WHERE json_each.value = " + b.arg(v) + ")", nil
}
func (sqliteDialect) orderBy(expr string, desc, _ bool) string { return expr + dir(desc) }
func (sqliteDialect) falseSQL() string                         { return "0" }
func (sqliteDialect) trueSQL() string                          { return "1" }

// --- PostgreSQL ---

// Strings compare with the "C" collation, bytewise as on SQLite and MySQL
// (utf8mb4_bin); booleans and numbers compare as jsonb, whose order for
// values of one type is the type's own.
type postgresDialect struct{}

func (postgresDialect) name() string             { return "postgres" }
func (postgresDialect) placeholder(n int) string { return "$" + strconv.Itoa(n) }
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
func (postgresDialect) contains(b *builder, f docquery.Field, v any) (string, error) {
	js, err := jsonScalar(v)
	if err != nil {
		return "", fmt.Errorf("docstore: field %s: %w", f.Name, err)
	}
	return "COALESCE((data->'" + f.Name + "') @> CAST(" + b.arg("["+js+"]") + " AS jsonb), FALSE)", nil
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

func (mysqlDialect) name() string                 { return "mysql" }
func (mysqlDialect) placeholder(int) string       { return "?" }
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
func (mysqlDialect) contains(b *builder, f docquery.Field, v any) (string, error) {
	js, err := jsonScalar(v)
	if err != nil {
		return "", fmt.Errorf("docstore: field %s: %w", f.Name, err)
	}
	return "COALESCE(JSON_CONTAINS(data, " + b.arg(js) + ", " + jsonPath(f) + "), 0) = 1", nil
}
func (mysqlDialect) orderBy(expr string, desc, _ bool) string { return expr + dir(desc) }
func (mysqlDialect) falseSQL() string                         { return "0" }
func (mysqlDialect) trueSQL() string                          { return "1" }

// mysqlColumn is the definition of a field's generated column.
func mysqlColumn(f docquery.Field) string {
	p := jsonPath(f)
	switch f.Type {
	case docquery.Boolean:
		// MariaDB's JSON_VALUE gives 1/0 for booleans and MySQL's true/false;
		// the text of JSON_EXTRACT is true/false on both.
		return "TINYINT AS (CASE CAST(JSON_EXTRACT(data, " + p + ") AS CHAR) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END) VIRTUAL"
	case docquery.Number:
		return "DOUBLE AS (CAST(JSON_VALUE(data, " + p + ") AS DOUBLE)) VIRTUAL"
	}
	// Longer strings are compared on their first 512 characters, the most
	// an InnoDB index key allows next to the owner and the id.
	return "VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (LEFT(JSON_VALUE(data, " + p + "), 512)) VIRTUAL"
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
