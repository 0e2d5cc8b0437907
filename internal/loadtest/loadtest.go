package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// Config is one run of the load tool.
type Config struct {
	Duration    time.Duration // per scenario, for Gatehouse and again for the bare server
	Conns       int           // connections: each a closed loop, or with Rate the pool serving the schedule
	MaxRequests int           // per scenario and server; 0: bounded by time only
	// Rate, when above 0, drives each scenario in an open loop: Rate
	// requests per second over all connections on a fixed schedule, each
	// timed from when it was due (see drive). The bare server is driven at
	// the same rate. 0: closed loops.
	Rate      float64
	Transport string   // TransportH1, TransportH2 or TransportPlain
	DB        string   // DSN; empty: SQLite in the temporary data directory
	Scenarios []string // empty: all
	NoBare    bool     // skip the bare server

	// Instances is how many gatehouse serve processes share the database
	// (0 counts as 1). With more than one, or with Proxy, the load goes
	// through a round-robin reverse proxy per role in this process, which
	// terminates TLS; the instances serve plain HTTP behind it. More than one
	// needs a PostgreSQL or MySQL DB.
	Instances int
	Proxy     bool // the proxy even for one instance, to compare with several

	ListOwn   int // documents of the load client
	ListTotal int // documents in all, the rest other owners'
	// ListSort is the list scenario's sort parameter (Eve's sort, as
	// "due" or "-_updated"; its filter is always where={"done":false});
	// empty: "due".
	ListSort string

	// IDTokenAlg is the code-flow client's ID token algorithm
	// (--id-token-alg), which bounds the refresh and code-exchange
	// scenarios; empty: ES256, as the built-in web app is registered.
	IDTokenAlg string

	ExpiredTokens   int           // expired tokens for the history check (0 skips it)
	HistoryDuration time.Duration // each half of the history check

	GatehouseBin   string // a built gatehouse; empty: go build this module's
	Self           string // the executable that serves the bare server when started with bareEnv; empty: os.Executable()
	ServerLogLevel string // --log-level of the server (its default is info)
	KeepDir        bool   // keep the temporary directory (server log, database)
	// ProfileDir, when set, receives a CPU profile of the server for each
	// scenario (<scenario>.pprof, over the scenario's duration), taken
	// through the server's --debug-addr. One instance only.
	ProfileDir string

	Progress io.Writer // progress lines; nil discards them
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	if c.Duration <= 0 || c.Duration > time.Hour {
		return fmt.Errorf("duration %s: want more than 0 and at most 1h", c.Duration)
	}
	if c.Conns < 1 || c.Conns > 4096 {
		return fmt.Errorf("connections %d: want 1 to 4096", c.Conns)
	}
	if c.MaxRequests < 0 {
		return errors.New("max requests must not be negative")
	}
	if !(c.Rate >= 0 && c.Rate <= maxRate) { // NaN fails both
		return fmt.Errorf("rate %v: want 0 (closed loop) to %d requests per second", c.Rate, maxRate)
	}
	switch c.Transport {
	case TransportH1, TransportH2, TransportPlain:
	default:
		return fmt.Errorf("transport %q: want h1, h2 or plain", c.Transport)
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return fmt.Errorf("unknown scenario %q (known: %s)", s, strings.Join(Scenarios, ", "))
		}
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = slices.Clone(Scenarios)
	}
	if c.ListOwn < listPageSize*2 || c.ListTotal < c.ListOwn {
		return fmt.Errorf("documents: want at least %d of the load client's and a total no smaller (got %d of %d)", 2*listPageSize, c.ListOwn, c.ListTotal)
	}
	if c.ListSort == "" {
		c.ListSort = "due"
	}
	if !listSortRE.MatchString(c.ListSort) {
		return fmt.Errorf("list sort %q: want fields separated by commas, each with an optional leading -, as due or -_updated", c.ListSort)
	}
	if c.ExpiredTokens < 0 {
		return errors.New("expired tokens must not be negative")
	}
	if c.HistoryDuration <= 0 {
		c.HistoryDuration = c.Duration
	}
	if c.ServerLogLevel == "" {
		c.ServerLogLevel = "info"
	}
	if c.IDTokenAlg == "" {
		c.IDTokenAlg = "ES256"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Instances == 0 {
		c.Instances = 1
	}
	if c.Instances < 1 || c.Instances > maxInstances {
		return fmt.Errorf("instances %d: want 1 to %d", c.Instances, maxInstances)
	}
	if c.ProfileDir != "" && c.Instances > 1 {
		return errors.New("CPU profiles are taken of one instance: not with more than one")
	}
	if c.Instances > 1 {
		if name := dbName(c.dsn()); name != "PostgreSQL" && name != "MySQL" {
			return fmt.Errorf("%d instances need a shared PostgreSQL or MySQL database (-db postgres://… or mysql://…), not %s", c.Instances, name)
		}
		c.Proxy = true
	}
	return nil
}

// maxRate bounds Config.Rate: beyond it the schedule's spacing (1 µs)
// is below what timers and 2 cores can keep.
const maxRate = 1_000_000

// maxInstances bounds Config.Instances: each holds up to 20 database
// connections (--db-max-open-conns).
const maxInstances = 8

// dsn is the database the run uses; SQLite when DB is empty.
func (c *Config) dsn() string {
	if c.DB != "" {
		return c.DB
	}
	return "sqlite:"
}

// Run builds and starts Gatehouse and the bare server, runs every scenario
// and returns the report.
func Run(ctx context.Context, c Config) (*Report, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	say := func(format string, args ...any) { fmt.Fprintf(c.Progress, format+"\n", args...) }
	tmp, err := os.MkdirTemp("", "gatehouse-load-")
	if err != nil {
		return nil, err
	}
	if c.KeepDir {
		say("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	bin := c.GatehouseBin
	if bin == "" {
		say("building gatehouse")
		if bin, err = gatehouseproc.Build(ctx, tmp); err != nil {
			return nil, err
		}
	}
	self := c.Self
	if self == "" && !c.NoBare {
		if self, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	scheme := "https"
	if c.Transport == TransportPlain {
		scheme = "http"
	}
	g := &gatehouse{bin: bin, dataDir: filepath.Join(tmp, "data"), db: c.DB, scheme: scheme, logLevel: c.ServerLogLevel,
		resources: filepath.Join(tmp, "resources.yaml"), ready: &http.Client{Timeout: 5 * time.Second},
		env: []string{"GATEHOUSE_DEMO_PASSWORD=" + flowtest.RandomString()}, profile: c.ProfileDir != ""}
	if c.ProfileDir != "" {
		if err := os.MkdirAll(c.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := gatehouseproc.WriteResources(g.resources); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(g.dsn(), "sqlite:") {
		if _, _, err := secret.LoadOrCreate(filepath.Join(g.dataDir, "secret")); err != nil {
			return nil, err
		}
	}
	rep := &Report{Date: time.Now(), Machine: machine(), Transport: c.Transport, Database: dbName(g.dsn()),
		Conns: c.Conns, Rate: c.Rate, Duration: c.Duration, Instances: c.Instances, Proxied: c.Proxy}

	// Clients and a user through the admin CLI.
	say("preparing the installation in %s", g.dataDir)
	if _, err := g.admin().Run(ctx, "", "seed"); err != nil {
		return nil, err
	}
	t := &target{}
	ccSecret, err := g.admin().AddClient(ctx, "--id", "load-cc", "--name", "Load (client credentials)",
		"--grant-types", "client_credentials", "--scopes", "todos:read,todos:write")
	if err != nil {
		return nil, err
	}
	const redirect = "http://127.0.0.1:9/callback" // never fetched: the flow stops at the redirect
	webSecret, err := g.admin().AddClient(ctx, "--id", "load-web", "--name", "Load (web)", "--redirect-uri", redirect,
		"--grant-types", "authorization_code,refresh_token", "--scopes", "openid,profile,email,offline_access,todos:read,todos:write",
		"--id-token-alg", c.IDTokenAlg)
	if err != nil {
		return nil, err
	}
	// People to sign in as: each sign-in attempt is counted before its
	// password is checked, and one person may have only so many in flight
	// (10 per 15 minutes by default), so the sign-in scenario spreads its
	// connections over several people, as real traffic would.
	password := flowtest.RandomString()
	var logins []flowtest.Login
	for i := range signInUsers {
		name := fmt.Sprintf("load-%d", i)
		if _, err := g.admin().Run(ctx, password+"\n", "user", "add", "--username", name, "--name", "Load", "--password-stdin"); err != nil {
			return nil, err
		}
		logins = append(logins, flowtest.Login{Username: name, Password: password})
	}
	apiSecret, err := os.ReadFile(config.ClientSecretPath(g.dataDir, "gatehouse-api"))
	if err != nil {
		return nil, fmt.Errorf("the API client's secret: %w", err)
	}
	t.cc = flowtest.Client{ID: "load-cc", Secret: ccSecret}
	t.web = flowtest.Client{ID: "load-web", Secret: webSecret, RedirectURI: redirect}
	t.apiClient = flowtest.Client{ID: "gatehouse-api", Secret: strings.TrimSpace(string(apiSecret))}

	// Documents, straight into the store while no server runs.
	if slices.Contains(c.Scenarios, ScenarioAPIGet) || slices.Contains(c.Scenarios, ScenarioAPIList) {
		res, err := resource.LoadResources(g.resources)
		if err != nil {
			return nil, err
		}
		say("inserting %d documents (%d of the load client) through docstore", c.ListTotal, c.ListOwn)
		t0 := time.Now()
		t.docIDs, err = insertDocuments(ctx, g.dsn(), res, docSpec{collection: "todos", owner: bearer.ClientSubject(t.cc.ID), own: c.ListOwn, total: c.ListTotal}, 10000)
		if err != nil {
			return nil, fmt.Errorf("inserting documents: %w", err)
		}
		say("  done in %s", time.Since(t0).Round(time.Millisecond))
		// Half are not done; the list may page through up to 20 pages.
		t.listPages = min(20, c.ListOwn/2/listPageSize)
		t.listSort = c.ListSort
		if slices.Contains(c.Scenarios, ScenarioAPIList) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("api-list: GET /api/todos?where={\"done\":false}&sort=%s&max_results=%d, pages 1 to %d, over %d of the load client's documents among %d",
				c.ListSort, listPageSize, max(t.listPages, 1), c.ListOwn, c.ListTotal))
		}
	}

	// First start (creates the signing keys), then the measured start on
	// the existing data directory.
	var tlsFiles tlsconf.LocalFiles
	if scheme == "https" {
		if tlsFiles, _, err = tlsconf.EnsureLocal(filepath.Join(g.dataDir, "tls"), time.Now()); err != nil {
			return nil, err
		}
		cfg, err := tlsconf.ClientConfig(tlsFiles.CACert)
		if err != nil {
			return nil, err
		}
		g.ready.Transport = &http.Transport{TLSClientConfig: cfg}
		t.clients = clients{kind: c.Transport, tls: cfg}
	} else {
		t.clients = clients{kind: c.Transport}
	}
	fl, err := newFleet(g, c.Instances, c.Proxy, tmp, tlsFiles, c.Conns)
	if err != nil {
		return nil, err
	}
	defer func() { fl.close() }()
	if fl.proxied {
		say("starting %d gatehouse instance(s) behind a round-robin proxy per role", fl.n)
	} else {
		say("starting gatehouse")
	}
	// The first start creates the signing keys, on one instance alone: on
	// an empty key table every instance would create a first key of its own.
	if err := fl.start(ctx, 1); err != nil {
		return nil, err
	}
	fl.stop()
	if err := fl.start(ctx, fl.n); err != nil {
		return nil, err
	}
	rep.StartupToReady = fl.ready
	time.Sleep(2 * time.Second)
	if rep.IdleRSS, err = rssSum(fl.pids()); err != nil {
		return nil, err
	}
	say("ready in %s, idle RSS %s", fmtDur(rep.StartupToReady), fmtMB(rep.IdleRSS))
	t.authz, t.api = fl.authz, fl.api
	t.flow = &codeFlow{authz: fl.authz, client: t.web, scope: "openid offline_access todos:read todos:write", logins: logins}

	var bareURL string
	var barePID int
	if !c.NoBare {
		bs := bareSettings{}
		if scheme == "https" && !fl.proxied {
			bs.Cert, bs.Key = tlsFiles.Cert, tlsFiles.Key
		}
		bare, err := startBare(ctx, self, bs, g.ready)
		if err != nil {
			return nil, err
		}
		defer bare.stop()
		bareURL, barePID = bare.authz, bare.pid()
		if fl.proxied {
			fr, p, err := behindProxy(bare.authz, tlsFiles, c.Conns)
			if err != nil {
				return nil, err
			}
			defer p.Close()
			defer fr.close()
			bareURL = fr.url
		}
	}

	l := load{conns: c.Conns, duration: c.Duration, maxRequests: c.MaxRequests, rate: c.Rate, rssPIDs: fl.pids()}
	var history *History
	if c.ExpiredTokens > 0 {
		say("history: client-credentials issuance on a fresh store")
		sc, err := t.build(ctx, ScenarioClientCredentials, l)
		if err != nil {
			return nil, err
		}
		hl := l
		hl.duration = c.HistoryDuration
		st, err := drive(ctx, hl, func(i int) (op, error) { return sc.newOp(ctx, i) })
		if err != nil {
			return nil, err
		}
		history = &History{ExpiredTokens: c.ExpiredTokens, EmptyP50: st.P50, EmptyRPS: st.RPS}
	}

	for _, name := range c.Scenarios {
		say("scenario %s", name)
		sl := l
		if name == ScenarioCodeExchange {
			// The codes must still be valid at the end of the run.
			sl.duration = min(l.duration, codeTTL-25*time.Second)
		}
		sc, err := t.build(ctx, name, sl)
		if err != nil {
			return nil, err
		}
		row := Row{Scenario: name}
		if name == ScenarioSignIn {
			row.Note = "argon2id, bound by password hashing"
		}
		prof := make(chan error, 1)
		if c.ProfileDir != "" {
			go func() { prof <- fl.insts[0].cpuProfile(ctx, sl.duration, filepath.Join(c.ProfileDir, name+".pprof")) }()
		} else {
			prof <- nil
		}
		row.Gatehouse, err = drive(ctx, sl, func(i int) (op, error) { return sc.newOp(ctx, i) })
		if err := errors.Join(err, <-prof); err != nil {
			return nil, err
		}
		say("  %s req/s, p50 %s, p99 %s, %d errors%s", fmtRate(row.Gatehouse.RPS), fmtDur(row.Gatehouse.P50), fmtDur(row.Gatehouse.P99), row.Gatehouse.Errors, openLoopSummary(row.Gatehouse))
		if bareURL != "" && sc.bare && sc.shape.set {
			bl := l
			bl.rssPIDs = []int{barePID}
			bst, err := drive(ctx, bl, bareOp(t.clients, bareURL, sc.shape))
			if err != nil {
				return nil, err
			}
			row.Bare = &bst
			if bst.RPS > 0 {
				row.Ratio = row.Gatehouse.RPS / bst.RPS
			}
			say("  bare: %s req/s, p50 %s%s", fmtRate(bst.RPS), fmtDur(bst.P50), openLoopSummary(bst))
		}
		rep.Rows = append(rep.Rows, row)
	}

	if history != nil {
		say("history: stopping, inserting %d expired tokens, starting again", c.ExpiredTokens)
		fl.stop()
		t0 := time.Now()
		if err := insertExpiredTokens(ctx, g.dsn(), c.ExpiredTokens); err != nil {
			return nil, err
		}
		say("  inserted in %s", time.Since(t0).Round(time.Millisecond))
		if err := fl.start(ctx, fl.n); err != nil {
			return nil, err
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("start-up to ready with %d expired tokens and the run's records in the store: %s",
			c.ExpiredTokens, fmtDur(fl.ready)))
		t.authz = fl.authz
		sc, err := t.build(ctx, ScenarioClientCredentials, l)
		if err != nil {
			return nil, err
		}
		hl := l
		hl.duration, hl.rssPIDs = c.HistoryDuration, fl.pids()
		st, err := drive(ctx, hl, func(i int) (op, error) { return sc.newOp(ctx, i) })
		if err != nil {
			return nil, err
		}
		history.FullP50, history.FullRPS = st.P50, st.RPS
		rep.History = history
	}
	rep.PerInstance = fl.spread()
	return rep, nil
}

// bareOp sends the bare server requests of the scenario's shape.
func bareOp(cl clients, base string, s *shape) func(int) (op, error) {
	return func(int) (op, error) {
		c := cl.new()
		var body []byte
		var h http.Header
		if s.reqLen > 0 {
			body = make([]byte, s.reqLen)
			for i := range body {
				body[i] = 'a'
			}
			h = http.Header{"Content-Type": {formType}}
		}
		u := base + "/?n=" + strconv.Itoa(s.respLen)
		return func(ctx context.Context) error {
			r, err := flowtest.Send(ctx, c, s.method, u, h, body)
			if err != nil {
				return err
			}
			return checkBare(r.Status, r.Body, s.respLen)
		}, nil
	}
}

// machine describes this machine: CPUs and memory.
func machine() string {
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err == nil {
					mem = fmt.Sprintf(", %.1f GB memory", float64(kb)/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%d CPUs%s, %s/%s, %s", runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func dbName(dsn string) string {
	scheme, _, _ := strings.Cut(dsn, ":")
	switch scheme {
	case "sqlite":
		return "SQLite"
	case "postgres", "postgresql":
		return "PostgreSQL"
	case "mysql":
		return "MySQL"
	}
	return scheme
}
