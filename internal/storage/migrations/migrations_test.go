package migrations_test

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/migrations"
)

// TestSameVersions: every dialect has the same migration files, so a
// version number means the same schema on every database.
func TestSameVersions(t *testing.T) {
	var want []string
	for _, d := range []string{migrations.SQLite, migrations.Postgres, migrations.MySQL} {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: no migrations (%v)", d, err)
		}
		if want == nil {
			want = names
		} else if !slices.Equal(names, want) {
			t.Errorf("%s migrations %v, want %v as on sqlite", d, names, want)
		}
	}
	if _, err := migrations.FS("oracle"); err == nil {
		t.Error("FS of an unknown dialect succeeded")
	}
}
