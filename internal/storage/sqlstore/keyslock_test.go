package sqlstore_test

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to change the database's settings

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestCreateKeyIfNoSigner_RepeatableRead: on a PostgreSQL database whose
// default isolation is REPEATABLE READ, instances racing to create the
// first key still store exactly one.
func TestCreateKeyIfNoSigner_RepeatableRead(t *testing.T) {
	dsn := storagetest.Postgres(t)
	first, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.QueryRowContext(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), fmt.Sprintf(`ALTER DATABASE %q SET default_transaction_isolation = 'repeatable read'`, name)); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Second)
	const racers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	start := make(chan struct{})
	for i := range racers {
		s, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wg.Go(func() {
			<-start
			k := storage.SigningKey{ID: fmt.Sprint("first-", i), Algorithm: "ES256", PrivateKey: []byte("sealed"),
				PublicKey: []byte(`{}`), CreatedAt: now, NotBefore: now}
			ok, err := s.CreateKeyIfNoSigner(t.Context(), k, now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d of %d racers stored a first key, want 1", created, racers)
	}
}
