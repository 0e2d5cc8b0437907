package cluster

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// keyReload is how often the instances' authorization servers reload
// signing keys from the database (--key-reload, one minute by default;
// short here so the rotation check does not wait a minute twice). The
// rotation check waits at most this plus a margin.
const keyReload = 2 * time.Second

// apiRefetchFloor is the least time between two JWKS fetches of an API
// instance's token verifier (bearer.JWTVerifier's default
// MinRefetchInterval).
const apiRefetchFloor = 30 * time.Second

// TestCluster runs three instances on one shared database and Redis behind
// a round-robin proxy per role, on PostgreSQL and on MariaDB/MySQL.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers per database; not in -short")
	}
	for _, b := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{"postgres", storagetest.Postgres},
		{"mysql", storagetest.MySQL},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // most of the time is spent waiting for servers and the database
			c := newCluster(t, b.dsn(t))
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			// Order matters: key rotation needs all three instances, the
			// last part kills one.
			t.Run("sign-in flow across instances", func(t *testing.T) { c.signInFlow(ctx, t) })
			t.Run("refresh reuse detected across instances", func(t *testing.T) { c.refreshReuse(ctx, t) })
			t.Run("lockout counted across instances", func(t *testing.T) { c.lockout(ctx, t) })
			t.Run("key rotated on 1 verified on 3", func(t *testing.T) { c.keyRotation(ctx, t) })
			t.Run("SIGKILL during writes", func(t *testing.T) { c.killDuringWrites(ctx, t) })
			t.Logf("requests served per instance: authz %v, api %v, webapp %v", c.authz.Counts(), c.api.Counts(), c.webapp.Counts())
		})
	}
}

// signInFlow signs in to the web app with every browser step on a
// different instance than the step before, and ends on the signed-in page
// with the demo user's todos (the web app called the API through its proxy).
func (c *cluster) signInFlow(ctx context.Context, t *testing.T) {
	b := c.newBrowser(0)
	_, r, err := b.walk(ctx, c.webapp.url()+"/login", "", "demo", demoPassword)
	for _, s := range b.steps {
		t.Log(s)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `action="/logout"`) {
		code := regexp.MustCompile(`data-code="([^"]*)"`).FindSubmatch(r.Body)
		for _, in := range c.inst {
			t.Logf("instance %d web app log:\n%s", in.n, grepLog(in.logPath, `"role":"webapp"`, `"level":"WARN"`, `"level":"ERROR"`))
		}
		t.Fatalf("sign-in ended with %d (%q)", r.Status, code)
	}
	if len(b.steps) < 6 {
		t.Fatalf("only %d steps", len(b.steps))
	}
	roles := map[string]map[int]bool{}
	for i, s := range b.steps {
		if i > 0 && s.instance == b.steps[i-1].instance {
			t.Errorf("steps %d and %d both on instance %d", i, i+1, s.instance)
		}
		if roles[s.role] == nil {
			roles[s.role] = map[int]bool{}
		}
		roles[s.role][s.instance] = true
	}
	for _, role := range []string{"webapp", "authz"} {
		if len(roles[role]) < 2 {
			t.Errorf("the %s steps used only instances %v", role, roles[role])
		}
	}
	// The same browser, on each web app instance: still signed in.
	home, _ := url.Parse(c.webapp.url() + "/")
	for range instances {
		r, err := b.do(ctx, http.MethodGet, home, nil)
		if err != nil || r.Status != http.StatusOK || !strings.Contains(string(r.Body), `action="/logout"`) {
			t.Fatalf("GET / on instance %d: %d %v", r.instance, r.Status, err)
		}
	}
}

func (c *cluster) webappSecret(t *testing.T) string {
	raw, err := os.ReadFile(filepath.Join(c.shared, "clients", "gatehouse-webapp.secret"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// refreshReuse gets a refresh token on instance 1, rotates it on instance
// 2, presents the rotated-away one on instance 3 and expects invalid_grant
// and the whole family revoked (RFC 9700 §4.14.2): the newest refresh
// token then fails on instance 1.
func (c *cluster) refreshReuse(ctx context.Context, t *testing.T) {
	const id = "gatehouse-webapp"
	secret, redirect := c.webappSecret(t), c.webapp.url()+"/callback"
	start, state, verifier := c.authorizeURL(id, redirect, "openid offline_access todos:read")
	b := c.newBrowser(1)
	loc, r, err := b.walk(ctx, start, redirect, "demo", demoPassword)
	if err != nil || loc == nil {
		t.Fatalf("authorization: %v (%d %.200s)", err, r.Status, r.Body)
	}
	if loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		t.Fatalf("authorization response %s: wrong state or no code", loc)
	}
	tr, r, err := c.token(ctx, id, secret, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}, 1)
	if err != nil || tr.RefreshToken == "" {
		t.Fatalf("code exchange on instance 1: %v %d %.200s", err, r.Status, r.Body)
	}
	rt1 := tr.RefreshToken
	tr, r, err = c.token(ctx, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, 2)
	if err != nil || tr.RefreshToken == "" || tr.RefreshToken == rt1 {
		t.Fatalf("refresh on instance 2: %v %d %.200s", err, r.Status, r.Body)
	}
	rt2 := tr.RefreshToken
	tr, r, err = c.token(ctx, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, 3)
	if err != nil || r.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Fatalf("reuse of the rotated token on instance 3 = %d %q (%v), want 400 invalid_grant", r.Status, tr.Error, err)
	}
	tr, r, err = c.token(ctx, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, 1)
	if err != nil || r.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Fatalf("after reuse, the newest refresh token on instance 1 = %d %q (%v), want 400 invalid_grant (family revoked)", r.Status, tr.Error, err)
	}
	t.Log("code exchanged on 1, refreshed on 2, reuse refused on 3, family revoked as seen on 1")
}

// lockout sends wrong passwords for one username, each to the next
// instance: no instance sees more than a third of them, yet the limit (10
// per username, authz.Lockout.UserLimit) locks the username everywhere.
func (c *cluster) lockout(ctx context.Context, t *testing.T) {
	const limit = 10
	start, _, _ := c.authorizeURL("gatehouse-webapp", c.webapp.url()+"/callback", "openid")
	b := c.newBrowser(0)
	_, page, err := b.walk(ctx, start, "", "", "")
	if err != nil || !strings.Contains(string(page.Body), `name="password"`) {
		t.Fatalf("no login page: %v %d", err, page.Status)
	}
	loginURL := b.lastURL()
	perInstance := map[int]int{}
	for i := 1; i <= limit+1; i++ {
		action, fields, err := flowtest.FindForm(string(page.Body), "/login")
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		fields.Set("username", "victim")
		fields.Set("password", fmt.Sprint("guess-", i))
		u, _ := loginURL.Parse(action)
		page, err = b.do(ctx, http.MethodPost, u, fields)
		if err != nil {
			t.Fatal(err)
		}
		want := http.StatusUnauthorized
		if i > limit {
			want = http.StatusTooManyRequests
		}
		if page.Status != want {
			t.Fatalf("attempt %d on instance %d = %d, want %d", i, page.instance, page.Status, want)
		}
		perInstance[page.instance]++
	}
	t.Logf("%d failures spread over instances %v; attempt %d refused with 429", limit, perInstance, limit+1)
}

// lastURL is the URL of the browser's last request.
func (b *browser) lastURL() *url.URL {
	s := b.steps[len(b.steps)-1]
	var base string
	switch s.role {
	case "authz":
		base = b.c.authz.url()
	case "api":
		base = b.c.api.url()
	default:
		base = b.c.webapp.url()
	}
	u, _ := url.Parse(base + s.path)
	return u
}

// robot registers a client-credentials client and returns its secret.
func (c *cluster) robot(t *testing.T, id string) string {
	out := c.admin("client", "add", "--json", "--id", id, "--name", "Robot "+id,
		"--grant-types", "client_credentials", "--scopes", "todos:read,todos:write")
	var r struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Secret == "" {
		t.Fatalf("client add printed %q", out)
	}
	return r.Secret
}

var kidsRE = regexp.MustCompile(`new signing keys \[?([^\s\]]+)\]? published`)

// keyRotation rotates the signing keys with `gatehouse keys rotate` from
// outside, waits until every instance publishes the new keys in its JWKS,
// then lets the new keys start signing (in the database, standing in for
// the ten minutes a new key waits: authz keyLead), waits until instance 1
// signs with the new access-token key and has the API on instance 3 accept
// that token (its verifier fetches the JWKS anew, from any instance).
func (c *cluster) keyRotation(ctx context.Context, t *testing.T) {
	secret := c.robot(t, "robot-keys")
	out := c.admin("keys", "rotate")
	m := kidsRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate printed %q, want the new kids", out)
	}
	kids := strings.FieldsFunc(m[1], func(r rune) bool { return r == ',' || r == ' ' })
	t0 := time.Now()

	// Published by every instance, within one reload period.
	deadline := t0.Add(keyReload + 15*time.Second)
	for _, in := range c.inst {
		for {
			r, err := send(ctx, c.http, http.MethodGet, "http://"+in.authzAddr+"/jwks", nil, nil, 0)
			if err == nil && r.Status == http.StatusOK && containsAll(string(r.Body), kids) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %d does not publish %v %s after the rotation (%v)", in.n, kids, time.Since(t0).Round(time.Second), err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("new keys %v published by all %d instances %s after the rotation", kids, instances, time.Since(t0).Round(time.Second))

	// Skip the lead time: the new keys may sign from now on.
	c.setNotBefore(t, kids, time.Now().Add(-time.Second))
	t1 := time.Now()
	deadline = t1.Add(keyReload + 15*time.Second)
	var tok string
	for {
		tr, r, err := c.token(ctx, "robot-keys", secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}, 1)
		if err != nil || tr.AccessToken == "" {
			t.Fatalf("client credentials on instance 1: %v %d %.200s", err, r.Status, r.Body)
		}
		if slices.Contains(kids, jwtKid(tr.AccessToken)) {
			tok = tr.AccessToken
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance 1 still signs with %s %s after the new keys became due", jwtKid(tr.AccessToken), time.Since(t1).Round(time.Second))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("instance 1 signs with new key %s %s after it became due", jwtKid(tok), time.Since(t1).Round(time.Second))

	// The API on instance 3, then on the others (the next test writes
	// through all of them), accepts the token. Each API instance fetches
	// the JWKS anew on an unknown kid, but at most once per refetch floor:
	// in production the new key was published ten minutes before it signs,
	// so a verifier's last fetch already holds it; here the lead time was
	// skipped, and an instance that fetched just before the rotation waits
	// out the floor.
	t2 := time.Now()
	deadline = t2.Add(apiRefetchFloor + 15*time.Second)
	for _, n := range []int{3, 1, 2} {
		for {
			r, err := send(ctx, c.http, http.MethodGet, c.api.url()+"/api/todos", flowtest.Bearer(tok), nil, n)
			if err == nil && r.Status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("API on instance %d with a token signed by new key %s, %s after it first signed: %d %v %.200s",
					n, jwtKid(tok), time.Since(t2).Round(time.Second), r.Status, err, r.Body)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("the API on every instance accepts it %s later", time.Since(t2).Round(time.Second))
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, `"`+x+`"`) {
			return false
		}
	}
	return true
}

// jwtKid returns the kid of a JWS compact serialization's header.
func jwtKid(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var v struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Kid
}

// setNotBefore moves the keys' signing start in the shared database.
func (c *cluster) setNotBefore(t *testing.T, kids []string, at time.Time) {
	st, err := sqlstore.Open(t.Context(), c.dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := "UPDATE signing_keys SET not_before = ? WHERE id = ?"
	if st.Dialect() == "postgres" {
		q = "UPDATE signing_keys SET not_before = $1 WHERE id = $2"
	}
	for _, kid := range kids {
		var res sql.Result
		if res, err = st.DB().ExecContext(t.Context(), q, at.UnixMicro(), kid); err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("key %s: %d rows updated", kid, n)
		}
	}
}

// killDuringWrites streams document creations through the API proxy,
// kills instance 2 with SIGKILL in the middle, keeps writing through the
// two others, and then finds every acknowledged document.
func (c *cluster) killDuringWrites(ctx context.Context, t *testing.T) {
	secret := c.robot(t, "robot-writes")
	tr, r, err := c.token(ctx, "robot-writes", secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read todos:write"}}, 1)
	if err != nil || tr.AccessToken == "" {
		t.Fatalf("client credentials: %v %d", err, r.Status)
	}
	var (
		mu                         sync.Mutex
		acked                      = map[string]string{} // _id → title
		ackedAfterKill, unanswered int
		killed                     bool
		servedAfterKill            = map[int]int{}
		wg                         sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				title := fmt.Sprintf("cluster write %d-%d", w, n)
				// Only a request sent once the victim is dead must not
				// reach it: one in flight at the kill may have been
				// answered just before.
				mu.Lock()
				sentAfterKill := killed
				mu.Unlock()
				r, err := send(ctx, c.http, http.MethodPost, c.api.url()+"/api/todos", flowtest.Bearer(tr.AccessToken),
					[]byte(fmt.Sprintf(`{"title":%q}`, title)), 0)
				var d struct {
					Status string `json:"_status"`
					ID     string `json:"_id"`
				}
				mu.Lock()
				if err == nil && r.Status == http.StatusCreated && json.Unmarshal(r.Body, &d) == nil && d.Status == "OK" && d.ID != "" {
					acked[d.ID] = title
					if sentAfterKill {
						ackedAfterKill++
						servedAfterKill[r.instance]++
					}
				} else {
					unanswered++ // not acknowledged: 502 from the proxy, or cut short
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	victim := c.inst[1]
	victim.kill()
	mu.Lock()
	killed, before := true, len(acked)
	mu.Unlock()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if before == 0 || ackedAfterKill == 0 {
		t.Fatalf("%d writes acknowledged before the kill, %d after", before, ackedAfterKill)
	}
	if servedAfterKill[victim.n] != 0 {
		t.Fatalf("instance %d acknowledged writes after its SIGKILL: %v", victim.n, servedAfterKill)
	}
	missing := 0
	for id, title := range acked {
		var (
			r   reply
			err error
		)
		// A 502 is the proxy finding the dead instance again: a load
		// balancer retries such a request elsewhere, and so does this.
		for range instances {
			if r, err = send(ctx, c.http, http.MethodGet, c.api.url()+"/api/todos/"+id, flowtest.Bearer(tr.AccessToken), nil, 0); err != nil || r.Status != http.StatusBadGateway {
				break
			}
		}
		var d struct {
			Title string `json:"title"`
		}
		if err != nil || r.Status != http.StatusOK || json.Unmarshal(r.Body, &d) != nil || d.Title != title {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged document %s (%q): %d %v %.100s", id, title, r.Status, err, r.Body)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged documents missing", missing, len(acked))
	}
	t.Logf("SIGKILL of instance %d: %d writes acknowledged before, %d after (by instances %v), %d not acknowledged; all %d found afterwards",
		victim.n, before, ackedAfterKill, servedAfterKill, unanswered, len(acked))
}
