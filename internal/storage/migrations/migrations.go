package migrations

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqldialect"
)

// Dialect names, which are also the directory names.
const (
	SQLite   = string(sqldialect.SQLite)
	Postgres = string(sqldialect.Postgres)
	MySQL    = string(sqldialect.MySQL)
)

//go:embed sqlite/*.sql postgres/*.sql mysql/*.sql
var files embed.FS

// FS returns the migrations of one dialect, with the .sql files at its root
// as goose expects them.
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case SQLite, Postgres, MySQL:
		return fs.Sub(files, dialect)
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
}
