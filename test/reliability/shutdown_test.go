package reliability

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
)

// shutdownTimeout is the --shutdown-timeout TestGracefulShutdown gives.
const shutdownTimeout = 10 * time.Second

// TestGracefulShutdown sends SIGTERM during a steady stream of reads and
// writes: every request that got an answer got a complete one, every write
// acknowledged before the stop is there after a restart, and the process
// exits 0 within its shutdown timeout.
func TestGracefulShutdown(t *testing.T) {
	in := newInstallation(t, "", "--shutdown-timeout", shutdownTimeout.String())
	p := in.start()
	robot := in.robot()
	w := startWriters(t, in, robot, 3, 1)

	// Readers list documents; each complete answer must be a whole Eve
	// collection.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, _, err := clientCredentials(ctx, in.client, in.authz, robot)
	if err != nil {
		t.Fatal(err)
	}
	var (
		rmu               sync.Mutex
		reads, unanswered int
		rwg               sync.WaitGroup
	)
	for range 2 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for ctx.Err() == nil {
				r, err := flowtest.Send(ctx, in.client, http.MethodGet, in.api+"/api/todos?max_results=50", flowtest.Bearer(tok.AccessToken), nil)
				if err != nil {
					rmu.Lock()
					unanswered++
					rmu.Unlock()
					return
				}
				var list struct {
					Items []map[string]any `json:"_items"`
					Meta  struct {
						Total int `json:"total"`
					} `json:"_meta"`
				}
				if r.Status != http.StatusOK || json.Unmarshal(r.Body, &list) != nil || list.Items == nil {
					t.Errorf("read during shutdown: incomplete or wrong answer %d: %.200s", r.Status, r.Body)
					return
				}
				rmu.Lock()
				reads++
				rmu.Unlock()
			}
		}()
	}

	time.Sleep(1500 * time.Millisecond)
	code, took, err := p.Term(shutdownTimeout + 5*time.Second)
	w.wait()
	rwg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > shutdownTimeout {
		t.Errorf("exit took %s, more than the shutdown timeout %s", took, shutdownTimeout)
	}

	in.start()
	f := w.verify(t, in, robot)
	t.Logf("SIGTERM under load: exit %d after %s; %d reads and %d writes answered completely, %d requests refused after the listeners closed; after restart %d/%d documents and %d/%d tokens found",
		code, took.Round(time.Millisecond), reads, w.answered, unanswered+w.unanswered, f.docs, len(w.docs), f.tokens, len(w.tokens))
}
