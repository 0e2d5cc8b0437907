package reliability

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

var (
	soakFor  = flag.Duration("soak", 45*time.Second, "how long TestSoak drives traffic (e.g. -soak=10m)")
	soakRate = flag.Int("soak-rate", 20, "operations per second TestSoak starts")
)

// soakTables are the tables whose sizes TestSoak reports.
var soakTables = []string{"auth_requests", "grants", "refresh_tokens", "revoked_tokens", "login_sessions", "consents", "sessions", "doc_todos"}

// TestSoak drives mixed traffic at a steady bounded rate for -soak: sign-ins
// through the login and consent pages with the code exchanged at /token,
// refreshes, API reads and writes, and the web app (sign-in, pages, adding
// and deleting todos, sign-out). Every operation must succeed; memory,
// goroutines, errors and table sizes are reported at the start and the end.
//
// A grant lives until its refresh family's absolute lifetime
// (soakRefreshTTL) plus soakAccessTTL, and the janitor sweeps every
// soakJanitor, so the grants table must stay bounded by what such a window
// starts, not grow with the run; authorization requests live longer (15
// minutes) and come down in longer runs.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the soak test in -short mode")
	}
	in := newInstallation(t, "", "--access-token-ttl", soakAccessTTL.String(), "--janitor-interval", soakJanitor.String(),
		"--refresh-idle-ttl", soakRefreshTTL.String(), "--refresh-absolute-ttl", soakRefreshTTL.String())
	p := in.start()
	redirect := "http://127.0.0.1:9/callback" // never contacted: the flow stops at the redirect
	third := flowtest.Client{ID: "soak-app", RedirectURI: redirect}
	third.Secret = in.addClient("--id", "soak-app", "--name", "Soak App", "--redirect-uri", redirect,
		"--scopes", "openid,offline_access,todos:read,todos:write")
	ctx, cancel := context.WithTimeout(context.Background(), *soakFor+2*time.Minute)
	defer cancel()

	s := &soak{in: in, client: third, ops: map[string]int{}, errs: map[string]int{}}
	// Warm up: one of each, so the start figures include what every kind
	// of operation allocates once.
	for _, op := range s.kinds() {
		if err := op.run(ctx); err != nil {
			t.Fatalf("warm-up %s: %v", op.name, err)
		}
	}
	start := s.snapshot(t, p)

	// A steady rate: an operation starts every tick, at most `workers` at
	// a time; a tick with every worker busy is counted as skipped.
	const workers = 8
	kinds := s.kinds()
	mix := []int{0, 1, 1, 2, 2, 2, 3, 3, 4, 5} // indices into kinds, one tick each
	tick := time.NewTicker(time.Second / time.Duration(*soakRate))
	defer tick.Stop()
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	skipped := 0
	t0 := time.Now()
	for i := 0; time.Since(t0) < *soakFor; i++ {
		<-tick.C
		op := kinds[mix[i%len(mix)]]
		select {
		case sem <- struct{}{}:
		default:
			skipped++
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := op.run(ctx)
			s.count(op.name, err)
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	end := s.snapshot(t, p)

	var total, failed int
	var lines []string
	names := make([]string, 0, len(s.ops))
	for n := range s.ops {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		total += s.ops[n]
		failed += s.errs[n]
		lines = append(lines, fmt.Sprintf("  %-22s %6d ops, %d errors", n, s.ops[n], s.errs[n]))
	}
	var tables []string
	for _, name := range soakTables {
		tables = append(tables, fmt.Sprintf("%s %d→%d", name, start.tables[name], end.tables[name]))
	}
	t.Logf("soak %s at %d ops/s: %d operations (%d skipped ticks), %d errors\n%s\n"+
		"  RSS %.1f→%.1f MiB, goroutines %.0f→%.0f\n  tables: %s",
		elapsed.Round(time.Second), *soakRate, total, skipped, failed, strings.Join(lines, "\n"),
		float64(start.rssKiB)/1024, float64(end.rssKiB)/1024, start.goroutines, end.goroutines,
		strings.Join(tables, ", "))
	for _, e := range s.firstErrors {
		t.Errorf("soak error: %s", e)
	}
	if skipped > total/100 {
		t.Errorf("%d of %d ticks skipped: the rate is more than this machine serves", skipped, total+skipped)
	}
	// Flat: goroutines back to where they started (idle connections and
	// timers may differ a little), memory within a bound that a leak of
	// one object per operation would pass quickly in long runs.
	if end.goroutines > start.goroutines+50 {
		t.Errorf("goroutines grew from %.0f to %.0f", start.goroutines, end.goroutines)
	}
	if end.rssKiB > start.rssKiB*2+64<<10 {
		t.Errorf("RSS grew from %d KiB to %d KiB", start.rssKiB, end.rssKiB)
	}
	// Bounded by the janitor: every grant started more than
	// soakRefreshTTL+soakAccessTTL+soakJanitor ago is gone, so in a run
	// several times that window the table holds well under half of what
	// was started.
	started := s.ops["login+consent+code"] + s.ops["webapp session"]
	if elapsed >= 3*(soakRefreshTTL+soakAccessTTL+soakJanitor) && end.tables["grants"] > start.tables["grants"]+started/2 {
		t.Errorf("grants grew from %d to %d with %d started: the janitor does not keep up",
			start.tables["grants"], end.tables["grants"], started)
	}
}

// The soak's lifetimes and janitor interval. A refresh-token family (and
// the web app's signed-in person, whose session rests on one) ends at its
// absolute lifetime, as it should; the soak retires a family soakRetire
// before that, so a run longer than soakRefreshTTL meets no expected
// refusal.
const (
	soakAccessTTL  = 10 * time.Second
	soakJanitor    = 5 * time.Second
	soakRefreshTTL = 2 * time.Minute
	soakRetire     = soakRefreshTTL - 20*time.Second
)

// family is a refresh token ready to be used once, and when its family
// began.
type family struct {
	token string
	born  time.Time
}

// soak holds the traffic's state and counts.
type soak struct {
	in     *installation
	client flowtest.Client

	mu          sync.Mutex
	ops, errs   map[string]int
	firstErrors []string
	refresh     []family // refresh tokens ready to be used, each once
	robot       *flowtest.Client
	api         string // an access token for API traffic
	apiAt       time.Time
	browser     *http.Client // a signed-in web app browser
	browserAt   time.Time    // when it signed in
}

type soakOp struct {
	name string
	run  func(ctx context.Context) error
}

func (s *soak) count(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[name]++
	if err != nil {
		s.errs[name]++
		if len(s.firstErrors) < 10 {
			s.firstErrors = append(s.firstErrors, name+": "+err.Error())
		}
	}
}

func (s *soak) kinds() []soakOp {
	return []soakOp{
		{"login+consent+code", s.signInAndExchange},
		{"refresh", s.refreshOne},
		{"api read", s.apiRead},
		{"api write+delete", s.apiWrite},
		{"webapp page", s.webappPage},
		{"webapp session", s.webappSession},
	}
}

// signInAndExchange signs a new browser in through the login and consent
// pages and exchanges the code (RFC 6749 §4.1.3 with PKCE).
func (s *soak) signInAndExchange(ctx context.Context) error {
	b := flowtest.Browser(s.in.client)
	g, err := authorize(ctx, b, s.in.authz, s.client, "openid offline_access todos:read todos:write")
	if err != nil {
		return err
	}
	tk, _, err := flowtest.Token(ctx, s.in.client, s.in.authz, s.client, g.Exchange(s.client.RedirectURI))
	if err != nil {
		return err
	}
	if tk.RefreshToken == "" || tk.IDToken == "" {
		return fmt.Errorf("code exchange: no refresh or ID token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refresh) < 50 {
		s.refresh = append(s.refresh, family{tk.RefreshToken, time.Now()})
	}
	return nil
}

// refreshOne uses a refresh token once and keeps its rotated successor.
func (s *soak) refreshOne(ctx context.Context) error {
	s.mu.Lock()
	for len(s.refresh) > 0 && time.Since(s.refresh[0].born) > soakRetire {
		s.refresh = s.refresh[1:] // left to expire: the janitor removes it
	}
	if len(s.refresh) == 0 {
		s.mu.Unlock()
		return s.signInAndExchange(ctx)
	}
	f := s.refresh[0]
	s.refresh = s.refresh[1:]
	s.mu.Unlock()
	rt := f.token
	tk, _, err := flowtest.Token(ctx, s.in.client, s.in.authz, s.client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if err != nil {
		return err
	}
	if tk.RefreshToken == "" || tk.RefreshToken == rt {
		return fmt.Errorf("refresh: the refresh token was not rotated")
	}
	s.mu.Lock()
	s.refresh = append(s.refresh, family{tk.RefreshToken, f.born})
	s.mu.Unlock()
	return nil
}

// apiToken returns a client-credentials access token, renewed at half
// its lifetime (soakAccessTTL), well before it expires.
func (s *soak) apiToken(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.robot == nil {
		c := s.in.robot()
		s.robot = &c
	}
	if s.api == "" || time.Since(s.apiAt) > soakAccessTTL/2 {
		tk, _, err := clientCredentials(ctx, s.in.client, s.in.authz, *s.robot)
		if err != nil {
			return "", err
		}
		s.api, s.apiAt = tk.AccessToken, time.Now()
	}
	return s.api, nil
}

func (s *soak) apiRead(ctx context.Context) error {
	tok, err := s.apiToken(ctx)
	if err != nil {
		return err
	}
	r, err := flowtest.Send(ctx, s.in.client, http.MethodGet, s.in.api+`/api/todos?where={"done":false}&max_results=10`, flowtest.Bearer(tok), nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("GET /api/todos: %d %.200s", r.Status, r.Body)
	}
	return nil
}

// apiWrite creates a document and deletes it with its ETag, so the
// collection stays the same size.
func (s *soak) apiWrite(ctx context.Context) error {
	tok, err := s.apiToken(ctx)
	if err != nil {
		return err
	}
	r, err := flowtest.Send(ctx, s.in.client, http.MethodPost, s.in.api+"/api/todos", flowtest.Bearer(tok), []byte(`{"title":"soak","tags":["soak"]}`))
	if err != nil {
		return err
	}
	var d struct {
		ID   string `json:"_id"`
		ETag string `json:"_etag"`
	}
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &d) != nil || d.ID == "" || d.ETag == "" {
		return fmt.Errorf("POST /api/todos: %d %.200s", r.Status, r.Body)
	}
	h := flowtest.Bearer(tok)
	h.Set("If-Match", d.ETag)
	r, err = flowtest.Send(ctx, s.in.client, http.MethodDelete, s.in.api+"/api/todos/"+d.ID, h, nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusNoContent {
		return fmt.Errorf("DELETE /api/todos/%s: %d %.200s", d.ID, r.Status, r.Body)
	}
	return nil
}

// webappPage loads the todo list as one long-lived signed-in person, whose
// tokens the web app refreshes silently.
func (s *soak) webappPage(ctx context.Context) error {
	s.mu.Lock()
	b := s.browser
	if b != nil && time.Since(s.browserAt) > soakRetire {
		b = nil // the person signs in again before the refresh token's absolute lifetime ends
	}
	s.mu.Unlock()
	if b == nil {
		var err error
		if b, err = webappSignIn(ctx, s.in.client, s.in.webapp); err != nil {
			return err
		}
		s.mu.Lock()
		s.browser, s.browserAt = b, time.Now()
		s.mu.Unlock()
	}
	r, err := flowtest.Send(ctx, b, http.MethodGet, s.in.webapp+"/", nil, nil)
	if err != nil {
		return err
	}
	if !signedIn(r) {
		return fmt.Errorf("web app page: %d %.200s", r.Status, r.Body)
	}
	return nil
}

// webappSession is a whole visit: sign in, add a todo, delete it, sign out.
func (s *soak) webappSession(ctx context.Context) error {
	b, page, err := webappSignInPage(ctx, s.in.client, s.in.webapp)
	if err != nil {
		return err
	}
	if page, err = submit(ctx, b, s.in.webapp, page, "/todos", url.Values{"title": {"soak visit"}}); err != nil {
		return fmt.Errorf("adding a todo: %w", err)
	}
	if !signedIn(page) || !strings.Contains(string(page.Body), "soak visit") {
		return fmt.Errorf("adding a todo: %d %.200s", page.Status, page.Body)
	}
	if page, err = submit(ctx, b, s.in.webapp, page, "/delete", nil); err != nil {
		return fmt.Errorf("deleting a todo: %w", err)
	}
	if !signedIn(page) {
		return fmt.Errorf("deleting a todo: %d %.200s", page.Status, page.Body)
	}
	if page, err = submit(ctx, b, s.in.webapp, page, "/logout", nil); err != nil {
		return fmt.Errorf("signing out: %w", err)
	}
	if page.Status != http.StatusOK || signedIn(page) {
		return fmt.Errorf("signing out: %d %.200s", page.Status, page.Body)
	}
	return nil
}

// figures are the server's vital signs at one moment.
type figures struct {
	rssKiB     int64
	goroutines float64
	tables     map[string]int
}

func (s *soak) snapshot(t *testing.T, p *gatehouseproc.Process) figures {
	t.Helper()
	var f figures
	rss, err := gatehouseproc.RSS(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	f.rssKiB = rss >> 10
	if f.goroutines, err = s.in.metric("go_goroutines"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sqlstore.Open(ctx, s.in.db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f.tables = map[string]int{}
	for _, name := range soakTables {
		var n int
		if err := st.ReadDB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name).Scan(&n); err != nil {
			t.Fatalf("counting %s: %v", name, err)
		}
		f.tables[name] = n
	}
	return f
}
