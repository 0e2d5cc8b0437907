package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestRaces runs, on every backend, many goroutines against the API at
// once (run it with -race):
//   - concurrent PATCHes of one document with the same If-Match: exactly
//     one wins, every other gets 412 (Eve's optimistic concurrency,
//     RFC 9110 §13.1.1);
//   - concurrent DELETEs of one document with its ETag: exactly one 204,
//     the others 404 or 412;
//   - concurrent bulk inserts and deletes: the final count is the initial
//     count plus every acknowledged insert minus every acknowledged delete.
func TestRaces(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newHostileEnv(t, b.DSN(t))
			t.Run("PATCH same ETag", func(t *testing.T) { racePatch(t, e) })
			t.Run("DELETE same ETag", func(t *testing.T) { raceDelete(t, e) })
			t.Run("bulk inserts and deletes", func(t *testing.T) { raceInsertDelete(t, e) })
		})
	}
}

const racers = 16

func (e *hostileEnv) send(method, path, etag, body string) answer {
	req := httptest.NewRequest(method, "https://api.test"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if etag != "" {
		req.Header.Set("If-Match", `"`+etag+`"`)
	}
	return e.serve(req)
}

func racePatch(t *testing.T, e *hostileEnv) {
	for round := range 3 {
		d := e.insert(t, "alice", fmt.Sprintf("race %d", round))
		var wg sync.WaitGroup
		statuses := make([]int, racers)
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				statuses[i] = e.send("PATCH", "/api/todos/"+d.ID, d.ETag, fmt.Sprintf(`{"title":"writer %d"}`, i)).status
			})
		}
		close(start)
		wg.Wait()
		won, stale := 0, 0
		winner := -1
		for i, st := range statuses {
			switch st {
			case 200:
				won++
				winner = i
			case 412:
				stale++
			default:
				t.Fatalf("round %d: a PATCH answered %d", round, st)
			}
		}
		if won != 1 || stale != racers-1 {
			t.Fatalf("round %d: %d won and %d got 412 of %d, want exactly one winner", round, won, stale, racers)
		}
		got, err := e.docs.Get(context.Background(), "todos", "alice", d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var stored struct{ Title string }
		if err := json.Unmarshal(got.Data, &stored); err != nil || stored.Title != fmt.Sprintf("writer %d", winner) {
			t.Fatalf("round %d: stored %s, want the winner's (writer %d)", round, got.Data, winner)
		}
	}
}

func raceDelete(t *testing.T, e *hostileEnv) {
	d := e.insert(t, "alice", "delete me")
	var wg sync.WaitGroup
	statuses := make([]int, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			statuses[i] = e.send("DELETE", "/api/todos/"+d.ID, d.ETag, "").status
		})
	}
	close(start)
	wg.Wait()
	deleted := 0
	for _, st := range statuses {
		switch st {
		case 204:
			deleted++
		case 404, 412:
		default:
			t.Fatalf("a DELETE answered %d", st)
		}
	}
	if deleted != 1 {
		t.Fatalf("%d DELETEs succeeded, want exactly 1", deleted)
	}
}

func raceInsertDelete(t *testing.T, e *hostileEnv) {
	ctx := context.Background()
	count := func() int {
		n, err := e.docs.Count(ctx, "todos", "alice", nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Documents for the deleters, each wanted by two of them.
	const victims = 24
	var ids, etags []string
	for i := range victims {
		d := e.insert(t, "alice", fmt.Sprintf("victim %d", i))
		ids, etags = append(ids, d.ID), append(etags, d.ETag)
	}
	before := count()
	const perBulk = 5
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		inserted, delOK int
		failures        []string
		start           = make(chan struct{})
	)
	for i := range racers {
		wg.Go(func() {
			<-start
			var docs []string
			for j := range perBulk {
				docs = append(docs, fmt.Sprintf(`{"title":"bulk %d-%d"}`, i, j))
			}
			a := e.send("POST", "/api/todos", "", "["+strings.Join(docs, ",")+"]")
			mu.Lock()
			defer mu.Unlock()
			if a.status == 201 {
				inserted += perBulk
			} else {
				failures = append(failures, fmt.Sprintf("bulk POST: %d %s", a.status, a.raw))
			}
		})
	}
	for i := range 2 * victims {
		wg.Go(func() {
			<-start
			a := e.send("DELETE", "/api/todos/"+ids[i%victims], etags[i%victims], "")
			mu.Lock()
			defer mu.Unlock()
			switch a.status {
			case 204:
				delOK++
			case 404, 412:
			default:
				failures = append(failures, fmt.Sprintf("DELETE: %d %s", a.status, a.raw))
			}
		})
	}
	close(start)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed; first: %s", len(failures), failures[0])
	}
	if delOK != victims {
		t.Fatalf("%d deletes acknowledged, want %d (each document once)", delOK, victims)
	}
	if got, want := count(), before+inserted-delOK; got != want {
		t.Fatalf("%d documents after the race, want %d + %d inserted - %d deleted = %d", got, before, inserted, delOK, want)
	}
	// Every acknowledged insert is there, whole.
	docs, err := e.docs.Find(ctx, "todos", "alice", docquery.Query{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	bulk := 0
	for _, d := range docs {
		var v struct{ Title string }
		if json.Unmarshal(d.Data, &v) == nil && strings.HasPrefix(v.Title, "bulk ") {
			bulk++
		}
	}
	if bulk != inserted {
		t.Fatalf("%d bulk documents stored, %d acknowledged", bulk, inserted)
	}
	t.Logf("%d inserted in %d concurrent bulk POSTs, %d deleted by %d concurrent DELETEs", inserted, racers, delOK, 2*victims)
}
