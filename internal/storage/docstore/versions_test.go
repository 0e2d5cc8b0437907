package docstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

var notes = docstore.Collection{
	Name:       "notes",
	Fields:     []docquery.Field{{Name: "title", Type: docquery.String, Indexed: true}, {Name: "tags", Type: docquery.Array}},
	Unique:     []string{"title"},
	SoftDelete: true,
	Versioning: true,
}

func TestSoftDeleteAndVersions(t *testing.T) {
	for _, b := range storagetest.Backends() {
		for _, runner := range []bool{false, true} {
			name := b.Name
			if runner {
				name += "/tx-runner"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				testSoftDeleteAndVersions(t, b, runner)
			})
		}
	}
}

func testSoftDeleteAndVersions(t *testing.T, b storagetest.Backend, runner bool) {
	ctx := context.Background()
	s, ss := openStores(t, b, runner)
	for range 2 { // idempotent
		if err := s.Ensure(ctx, notes); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := doc("alice", "a", `{"title":"x","tags":["t"]}`, at)
	if err := s.Insert(ctx, "notes", []docstore.Document{a}); err != nil {
		t.Fatal(err)
	}
	count := func(withDeleted bool) int {
		t.Helper()
		n, err := s.Count(ctx, "notes", "alice", nil)
		if withDeleted {
			n, err = s.CountWithDeleted(ctx, "notes", "alice", nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Soft delete: a Replace with Deleted.
	del := a
	del.Deleted, del.ETag, del.Updated = true, "e-a2", at.Add(time.Second)
	if err := s.Replace(ctx, "notes", del, a.ETag); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "notes", "alice", "a")
	if err != nil || !got.Deleted || got.Version != 2 || got.ETag != "e-a2" {
		t.Fatalf("Get of a deleted document = %+v, %v; want it deleted at version 2", got, err)
	}
	found, _ := s.Find(ctx, "notes", "alice", docquery.Query{})
	all, _ := s.FindWithDeleted(ctx, "notes", "alice", docquery.Query{})
	tagged, _ := s.Find(ctx, "notes", "alice", docquery.Query{Filter: &docquery.Cond{Field: "tags", Op: docquery.Eq, Value: "t"}})
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"Find", len(found), 0},
		{"FindWithDeleted", len(all), 1},
		{"Find on an array field", len(tagged), 0},
		{"Count", count(false), 0},
		{"CountWithDeleted", count(true), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d documents, want %d", c.name, c.got, c.want)
		}
	}
	// A deleted document's unique value is free; restoring it then clashes.
	bdoc := doc("alice", "b", `{"title":"x"}`, at)
	if err := s.Insert(ctx, "notes", []docstore.Document{bdoc}); err != nil {
		t.Fatalf("Insert of a deleted document's unique value: %v", err)
	}
	restore := del
	restore.Deleted, restore.ETag = false, "e-a3"
	if err := s.Replace(ctx, "notes", restore, "e-a2"); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("restoring onto a taken unique value: %v, want ErrAlreadyExists", err)
	}
	restore.Data = []byte(`{"title":"y"}`)
	if err := s.Replace(ctx, "notes", restore, "e-a2"); err != nil {
		t.Fatal(err)
	}
	// Versions: 1 inserted, 2 deleted, 3 restored; owner isolation.
	vs, err := s.FindVersions(ctx, "notes", "alice", "a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || vs[0].Version != 1 || vs[1].Version != 2 || !vs[1].Deleted || vs[2].Deleted || string(vs[2].Data) != `{"title":"y"}` {
		t.Fatalf("versions = %+v", vs)
	}
	if page, _ := s.FindVersions(ctx, "notes", "alice", "a", 1, 1); len(page) != 1 || page[0].Version != 2 {
		t.Errorf("second page of one version = %+v", page)
	}
	for _, c := range []struct {
		owner   string
		version int
		want    error
	}{
		{"alice", 1, nil},
		{"alice", 4, storage.ErrNotFound},
		{"bob", 1, storage.ErrNotFound},
	} {
		if _, err := s.GetVersion(ctx, "notes", c.owner, "a", c.version); !errors.Is(err, c.want) {
			t.Errorf("GetVersion(%s, %d) = %v, want %v", c.owner, c.version, err, c.want)
		}
	}
	if n, _ := s.CountVersions(ctx, "notes", "bob", "a"); n != 0 {
		t.Errorf("bob sees %d versions of alice's document", n)
	}
	// A failure halfway: the version insert fails, the document is unchanged.
	if _, err := ss.DB().ExecContext(ctx, "INSERT INTO docver_notes (id, version, owner, created, updated, etag, deleted, data) VALUES ('a', 4, 'alice', 0, 0, 'x', 0, '{}')"); err != nil {
		t.Fatal(err)
	}
	broken := restore
	broken.ETag, broken.Data = "e-a4", []byte(`{"title":"z"}`)
	if err := s.Replace(ctx, "notes", broken, "e-a3"); err == nil {
		t.Fatal("Replace succeeded over a taken version")
	}
	if got, _ := s.Get(ctx, "notes", "alice", "a"); got.ETag != "e-a3" || got.Version != 3 || string(got.Data) == `{"title":"z"}` {
		t.Fatalf("after a failed version insert the document is %+v", got)
	}
	// A hard delete removes the versions.
	if err := s.Delete(ctx, "notes", "alice", "b", bdoc.ETag); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountVersions(ctx, "notes", "alice", "b"); n != 0 {
		t.Errorf("%d versions left after a hard delete", n)
	}

	// Versioning turned on for documents written before it.
	late := docstore.Collection{Name: "late", Fields: []docquery.Field{{Name: "title", Type: docquery.String}}}
	if err := s.Ensure(ctx, late); err != nil {
		t.Fatal(err)
	}
	old := doc("alice", "c", `{"title":"old"}`, at)
	if err := s.Insert(ctx, "late", []docstore.Document{old}); err != nil {
		t.Fatal(err)
	}
	late.Versioning = true
	if err := s.Ensure(ctx, late); err != nil {
		t.Fatal(err)
	}
	next := old
	next.ETag, next.Data = "e-c2", []byte(`{"title":"new"}`)
	if err := s.Replace(ctx, "late", next, old.ETag); err != nil {
		t.Fatal(err)
	}
	vs, _ = s.FindVersions(ctx, "late", "alice", "c", 0, 0)
	if len(vs) != 2 || compact(vs[0].Data) != `{"title":"old"}` || vs[1].Version != 2 {
		t.Fatalf("late versions = %+v", vs)
	}
}

// compact is JSON text without spaces (PostgreSQL's jsonb adds some).
func compact(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
