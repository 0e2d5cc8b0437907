package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestCrashSafety kills the server with SIGKILL during a stream of writes —
// documents created through the API and access tokens issued through the
// client credentials grant — restarts it, and checks that every write
// acknowledged with a 2xx is there and that no document is half written.
func TestCrashSafety(t *testing.T) {
	for _, b := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{"sqlite", func(testing.TB) string { return "" }},
		{"postgres", storagetest.Postgres},
	} {
		t.Run(b.name, func(t *testing.T) {
			in := newInstallation(t, b.dsn(t))
			p := in.start()
			robot := in.robot()
			w := startWriters(t, in, robot, 4, 2)
			// Let the writes flow, then pull the plug mid-stream.
			time.Sleep(1500 * time.Millisecond)
			p.Kill()
			w.wait()
			if len(w.docs) == 0 || len(w.tokens) == 0 {
				t.Fatalf("only %d documents and %d tokens acknowledged before the kill", len(w.docs), len(w.tokens))
			}
			in.start()
			found := w.verify(t, in, robot)
			t.Logf("SIGKILL during writes (%s): %d documents and %d tokens acknowledged, %d requests without an answer; after restart %d/%d documents and %d/%d tokens found, %d stored documents all valid",
				b.name, len(w.docs), len(w.tokens), w.unanswered, found.docs, len(w.docs), found.tokens, len(w.tokens), found.stored)
		})
	}
}

// robot registers a client-credentials client that may read and write
// todos; its documents belong to it.
func (in *installation) robot() flowtest.Client {
	in.t.Helper()
	c := flowtest.Client{ID: "robot"}
	c.Secret = in.addClient("--id", "robot", "--name", "Robot", "--grant-types", "client_credentials",
		"--scopes", "todos:read,todos:write")
	return c
}

// writers is a stream of acknowledged writes.
type writers struct {
	wg sync.WaitGroup
	mu sync.Mutex
	// What the server acknowledged with a 2xx.
	docs   map[string]string // _id → title
	tokens []string          // access tokens
	// unanswered counts requests that got no complete answer (the server
	// went away); they were never acknowledged.
	unanswered int
	answered   int
	// bad holds answers that were complete but wrong.
	bad []string
}

// startWriters starts docWriters goroutines creating documents and
// tokenWriters issuing tokens, each until its first request without an
// answer (the server is gone).
func startWriters(t *testing.T, in *installation, robot flowtest.Client, docWriters, tokenWriters int) *writers {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	tok, _, err := clientCredentials(ctx, in.client, in.authz, robot)
	if err != nil {
		t.Fatal(err)
	}
	w := &writers{docs: map[string]string{}}
	for i := range docWriters {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				title := fmt.Sprintf("write %d-%d", i, n)
				body := fmt.Sprintf(`{"title":%q,"tags":["crash","w%d"],"due":"2030-01-02T03:04:05Z"}`, title, i)
				r, err := flowtest.Send(ctx, in.client, http.MethodPost, in.api+"/api/todos", flowtest.Bearer(tok.AccessToken), []byte(body))
				if err != nil {
					w.note(func() { w.unanswered++ })
					return
				}
				var d struct {
					Status string `json:"_status"`
					ID     string `json:"_id"`
				}
				if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &d) != nil || d.Status != "OK" || d.ID == "" {
					w.note(func() { w.answered++; w.bad = append(w.bad, fmt.Sprintf("POST: %d %.200s", r.Status, r.Body)) })
					return
				}
				w.note(func() { w.answered++; w.docs[d.ID] = title })
			}
		}()
	}
	for range tokenWriters {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for ctx.Err() == nil {
				tk, r, err := clientCredentials(ctx, in.client, in.authz, robot)
				switch {
				case r.Status == 0:
					w.note(func() { w.unanswered++ })
					return
				case err != nil:
					w.note(func() { w.answered++; w.bad = append(w.bad, "token: "+err.Error()) })
					return
				}
				w.note(func() { w.answered++; w.tokens = append(w.tokens, tk.AccessToken) })
			}
		}()
	}
	return w
}

func (w *writers) note(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
}

// wait waits for every writer to stop.
func (w *writers) wait() { w.wg.Wait() }

// found is what verify found after a restart.
type found struct {
	docs, tokens, stored int
}

// verify checks on the restarted server that every acknowledged document
// is there with its title, that every acknowledged access token still
// introspects active, and that every stored document is whole: it parses
// and validates against the resource's schema.
func (w *writers) verify(t *testing.T, in *installation, robot flowtest.Client) found {
	t.Helper()
	for _, b := range w.bad {
		t.Errorf("complete but wrong answer before the stop: %s", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var f found
	tok, _, err := clientCredentials(ctx, in.client, in.authz, robot)
	if err != nil {
		t.Fatal(err)
	}
	for id, title := range w.docs {
		r, err := flowtest.Send(ctx, in.client, http.MethodGet, in.api+"/api/todos/"+id, flowtest.Bearer(tok.AccessToken), nil)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Title string `json:"title"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &d) != nil || d.Title != title {
			t.Errorf("acknowledged document %s (%q) after restart: %d %.200s", id, title, r.Status, r.Body)
			continue
		}
		f.docs++
	}
	apiClient := in.builtInClient("gatehouse-api")
	for _, tk := range w.tokens {
		active, err := introspect(ctx, in.client, in.authz, apiClient, tk)
		if err != nil {
			t.Fatal(err)
		}
		if !active {
			t.Errorf("acknowledged access token %.12s… is not active after restart", tk)
			continue
		}
		f.tokens++
	}
	f.stored = in.checkStoredDocuments(ctx)
	if f.stored < f.docs {
		t.Errorf("%d documents stored, fewer than the %d found", f.stored, f.docs)
	}
	return f
}

// builtInClient reads a built-in client's secret from the data directory,
// where seed wrote it.
func (in *installation) builtInClient(id string) flowtest.Client {
	in.t.Helper()
	b, err := os.ReadFile(filepath.Join(in.dataDir, "clients", id+".secret"))
	if err != nil {
		in.t.Fatal(err)
	}
	return flowtest.Client{ID: id, Secret: strings.TrimSpace(string(b))}
}

// checkStoredDocuments reads every stored todo straight from the database
// and validates it against the resource's schema; it returns the count.
func (in *installation) checkStoredDocuments(ctx context.Context) int {
	t := in.t
	t.Helper()
	res, err := resource.Default()
	if err != nil {
		t.Fatal(err)
	}
	r, ok := res.ByURL("todos")
	if !ok {
		t.Fatal("no todos resource")
	}
	st, err := sqlstore.Open(ctx, in.db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.DB().QueryContext(ctx, "SELECT id, data FROM doc_"+r.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Errorf("stored document %s is not JSON: %v: %.200s", id, err, data)
			continue
		}
		if err := r.Schema.Validate(v); err != nil {
			t.Errorf("stored document %s does not validate: %v", id, err)
			continue
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
