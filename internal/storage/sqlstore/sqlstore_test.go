package sqlstore_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/conformance"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// open opens a migrated store on a fresh database of backend b.
func open(t testing.TB, b storagetest.Backend) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), b.DSN(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			conformance.RunTests(t, func(t *testing.T) storage.Store { return open(t, b) })
		})
	}
}
