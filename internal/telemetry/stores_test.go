package telemetry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestStoreOperationsMakeDBSpans: in a traced request, every operation of
// the real stores (sqlstore's queries and writes, docstore's reads and
// writes) is at least one "db …" span, child of the request's span, with
// the backend's db.system; outside a traced request they make none.
func TestStoreOperationsMakeDBSpans(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			st, err := sqlstore.Open(ctx, b.DSN(t), sqlstore.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			docs, err := docstore.New(st.DB(), st.ReadDB(), st.Dialect(), docstore.WithTxRunner(st))
			if err != nil {
				t.Fatal(err)
			}
			coll := docstore.Collection{Name: "notes", Fields: []docquery.Field{{Name: "title", Type: docquery.String}}}
			if err := docs.Ensure(ctx, coll); err != nil {
				t.Fatal(err)
			}
			sessions := st.WebSessions(time.Hour)
			defer sessions.StopCleanup()

			tp, exp := recording(t)
			system := map[string]string{"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql"}[b.Name]
			ops := []struct {
				name string
				run  func(ctx context.Context) error
			}{
				{"sqlstore GetClient", func(ctx context.Context) error {
					if _, err := st.GetClient(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
						return err
					}
					return nil
				}},
				{"sqlstore ListClients", func(ctx context.Context) error { _, err := st.ListClients(ctx); return err }},
				{"sqlstore session commit", func(ctx context.Context) error {
					return sessions.CommitCtx(ctx, "tok", []byte("data"), time.Now().Add(time.Hour))
				}},
				{"sqlstore session find", func(ctx context.Context) error { _, _, err := sessions.FindCtx(ctx, "tok"); return err }},
				{"docstore Insert", func(ctx context.Context) error {
					now := time.Now().UTC()
					return docs.Insert(ctx, "notes", []docstore.Document{{ID: docstore.NewID(), Owner: "o", Created: now, Updated: now, ETag: "e1", Data: []byte(`{"title":"a"}`)}})
				}},
				{"docstore Get", func(ctx context.Context) error {
					if _, err := docs.Get(ctx, "notes", "o", "none"); !errors.Is(err, storage.ErrNotFound) {
						return err
					}
					return nil
				}},
				{"docstore Find", func(ctx context.Context) error { _, err := docs.Find(ctx, "notes", "o", docquery.Query{}); return err }},
				{"docstore Count", func(ctx context.Context) error { _, err := docs.Count(ctx, "notes", "o", nil); return err }},
			}
			for _, op := range ops {
				exp.Reset()
				if err := op.run(ctx); err != nil {
					t.Fatalf("%s untraced: %v", op.name, err)
				}
				if n := len(exp.GetSpans()); n != 0 {
					t.Errorf("%s made %d spans outside a traced request", op.name, n)
				}
				rctx, req := tp.Tracer("test").Start(ctx, "request")
				if err := op.run(rctx); err != nil {
					t.Fatalf("%s: %v", op.name, err)
				}
				req.End()
				var db int
				for _, s := range exp.GetSpans() {
					if s.Name == "request" {
						continue
					}
					attrs := map[string]string{}
					for _, kv := range s.Attributes {
						attrs[string(kv.Key)] = kv.Value.String()
					}
					if len(s.Name) < 4 || s.Name[:3] != "db " || attrs["db.system"] != system || attrs["db.operation.name"] == "" {
						t.Errorf("%s: span %q %v", op.name, s.Name, attrs)
					}
					if s.Parent.SpanID() != req.SpanContext().SpanID() {
						t.Errorf("%s: span %q is not the request's child", op.name, s.Name)
					}
					if s.Status.Code.String() == "Error" {
						t.Errorf("%s: span %q failed: %s", op.name, s.Name, s.Status.Description)
					}
					db++
				}
				if db == 0 {
					t.Errorf("%s made no db span", op.name)
				}
			}
		})
	}
}
