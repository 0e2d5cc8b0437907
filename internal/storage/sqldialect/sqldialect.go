package sqldialect

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect names one SQL database. Its value is the name sqlstore.Store's
// Dialect reports, the directory of its migrations and the db.system of
// its trace spans.
type Dialect string

// The dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
)

// Parse returns the dialect called name.
func Parse(name string) (Dialect, error) {
	switch d := Dialect(name); d {
	case SQLite, Postgres, MySQL:
		return d, nil
	}
	return "", fmt.Errorf("unknown SQL dialect %q", name)
}

// Name returns "sqlite", "postgres" or "mysql".
func (d Dialect) Name() string { return string(d) }

// Placeholder returns the placeholder of the n-th argument (from 1): $n on
// PostgreSQL, ? elsewhere.
func (d Dialect) Placeholder(n int) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// Rebind turns the ? placeholders of q into the dialect's: $1, $2, … on
// PostgreSQL. q must not contain a literal question mark.
func (d Dialect) Rebind(q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Upsert returns the clause that follows an INSERT's VALUES to update the
// existing row when the key columns conflict. Each set entry is
// "column = expression"; inside an expression, Excluded(col) names the
// value the INSERT proposed and a bare column name the existing row's
// value.
//
// On MySQL the assignments run left to right and later ones see earlier
// results, so a column that other expressions read must be assigned last.
func (d Dialect) Upsert(keyCols string, set ...string) string {
	if d == MySQL {
		return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	}
	return " ON CONFLICT (" + keyCols + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// Excluded names the value an upsert's INSERT proposed for col.
func (d Dialect) Excluded(col string) string {
	if d == MySQL {
		return "VALUES(" + col + ")"
	}
	return "excluded." + col
}

// InsertIgnore returns the clause that follows an INSERT's VALUES so that a
// row whose key column keyCol conflicts with a stored one is left as it
// is, without an error. (MySQL's INSERT IGNORE would also turn other errors
// into warnings.)
func (d Dialect) InsertIgnore(keyCol string) string {
	if d == MySQL {
		return " ON DUPLICATE KEY UPDATE " + keyCol + " = " + keyCol
	}
	return " ON CONFLICT (" + keyCol + ") DO NOTHING"
}

// DeleteBatch returns a statement deleting at most limit (the last
// placeholder) rows of table matching where; key is the table's primary
// key (a column, or a parenthesised list of columns). Placeholders are ?,
// for Rebind.
func (d Dialect) DeleteBatch(table, key, where string) string {
	if d == MySQL {
		return "DELETE FROM " + table + " WHERE " + where + " LIMIT ?"
	}
	return "DELETE FROM " + table + " WHERE " + key + " IN (SELECT " + strings.Trim(key, "()") +
		" FROM " + table + " WHERE " + where + " LIMIT ?)"
}
