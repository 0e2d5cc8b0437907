package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/rrproxy"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

const (
	demoPassword   = "cluster-demo-pw-7781"
	pinHeader      = "X-Cluster-Pin"
	instanceHeader = "X-Cluster-Instance"
	instances      = 3
)

// gatehouse builds the gatehouse binary once per test process.
var gatehouse gatehouseproc.Builder

// TestMain removes the binary gatehouse built.
func TestMain(m *testing.M) { os.Exit(gatehouse.Run(m)) }

// proxy is the round-robin reverse proxy in front of one role's instances,
// on a loopback port: it passes over an instance that refused a connection
// for ten seconds, honours pinHeader and names the serving instance in
// instanceHeader.
type proxy struct {
	*rrproxy.Proxy
	role string
	srv  *httptest.Server
}

func newProxy(t *testing.T, role string) *proxy {
	rp := rrproxy.New(instances, rrproxy.Options{
		IdleConns: 16, SkipDown: 10 * time.Second, PinHeader: pinHeader, InstanceHeader: instanceHeader,
	})
	p := &proxy{Proxy: rp, role: role, srv: httptest.NewServer(rp)}
	t.Cleanup(rp.Close)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *proxy) url() string { return p.srv.URL }

// setBackends points the proxy at the instances' listen addresses.
func (p *proxy) setBackends(t *testing.T, addrs []string) {
	t.Helper()
	bases := make([]string, len(addrs))
	for i, a := range addrs {
		bases[i] = "http://" + a
	}
	if err := p.SetBackends(bases); err != nil {
		t.Fatal(err)
	}
}

// instance is one gatehouse serve process.
type instance struct {
	n                           int // 1-based
	authzAddr, apiAddr, webAddr string
	dataDir, logPath            string
	p                           *gatehouseproc.Process
}

// cluster is three instances on one database and one Redis database, with a
// proxy per role.
type cluster struct {
	t      *testing.T
	bin    string
	dsn    string
	env    []string
	shared string // data directory of the admin commands (client secrets)
	redis  string // redis://…/N
	authz  *proxy
	api    *proxy
	webapp *proxy
	inst   []*instance
	http   *http.Client
}

// redisDB claims an empty Redis database number for the test and flushes it
// at the end. It skips (or fails with GATEHOUSE_REQUIRE_DBS=1) without Redis.
func redisDB(t *testing.T) string {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_REDIS")
	if base == "" {
		base = "redis://127.0.0.1:6379"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS: %v", err)
	}
	claim := "gatehouse-cluster-test-" + rand.Text()
	// Databases 8…15 are tried from a random start; one that is empty is
	// claimed with a marker key (SET NX), so parallel tests get different ones.
	var start [1]byte
	_, _ = rand.Read(start[:])
	for k := range 8 {
		n := 8 + (int(start[0])+k)%8
		u.Path = "/" + strconv.Itoa(n)
		c, err := redis.DialURL(u.String(), redis.DialConnectTimeout(2*time.Second))
		if err != nil {
			msg := fmt.Sprintf("redis is not reachable at %s (%v): set GATEHOUSE_TEST_REDIS", base, err)
			if storagetest.Required() {
				t.Fatalf("%s; GATEHOUSE_REQUIRE_DBS=1 makes this a failure", msg)
			}
			t.Skip(msg)
		}
		size, err := redis.Int(c.Do("DBSIZE"))
		if err == nil && size == 0 {
			if ok, _ := redis.String(c.Do("SET", "gatehouse-cluster-claim", claim, "NX", "EX", 900)); ok == "OK" {
				c.Close()
				dsn := u.String()
				t.Cleanup(func() {
					if c, err := redis.DialURL(dsn); err == nil {
						_, _ = c.Do("FLUSHDB")
						c.Close()
					}
				})
				return dsn
			}
		}
		c.Close()
	}
	t.Skip("no empty Redis database among 8…15")
	return ""
}

// newCluster seeds the database (seed migrates it) and starts the three
// instances.
func newCluster(t *testing.T, dsn string, extra ...string) *cluster {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	root := t.TempDir()
	c := &cluster{
		t: t, bin: gatehouse.MustBin(t), dsn: dsn,
		env: []string{
			"GATEHOUSE_SECRET=" + base64.StdEncoding.EncodeToString(key),
			"GATEHOUSE_DEMO_PASSWORD=" + demoPassword,
		},
		shared: filepath.Join(root, "admin"),
		redis:  redisDB(t),
		authz:  newProxy(t, "authz"),
		api:    newProxy(t, "api"),
		webapp: newProxy(t, "webapp"),
		http:   &http.Client{Timeout: 30 * time.Second},
	}
	resources := filepath.Join(root, "resources.yaml")
	if err := gatehouseproc.WriteResources(resources); err != nil {
		t.Fatal(err)
	}
	c.admin("seed", "--webapp-url", c.webapp.url(), "--insecure-http", "--resources", resources)

	var authzAddrs, apiAddrs, webAddrs []string
	for n := 1; n <= instances; n++ {
		in := &instance{
			n: n, authzAddr: gatehouseproc.MustFreeAddr(t), apiAddr: gatehouseproc.MustFreeAddr(t), webAddr: gatehouseproc.MustFreeAddr(t),
			dataDir: filepath.Join(root, fmt.Sprint("instance", n)),
			logPath: filepath.Join(root, fmt.Sprintf("instance%d.log", n)),
		}
		c.inst = append(c.inst, in)
		authzAddrs, apiAddrs, webAddrs = append(authzAddrs, in.authzAddr), append(apiAddrs, in.apiAddr), append(webAddrs, in.webAddr)
	}
	c.authz.setBackends(t, authzAddrs)
	c.api.setBackends(t, apiAddrs)
	c.webapp.setBackends(t, webAddrs)
	// Instance 1 starts first and creates the first signing keys; 2 and 3
	// then start together. Starting all three on an empty key table lets
	// each create a first key of its own that signs at once and that the
	// others publish only after their next key reload (--key-reload), so
	// tokens it signs would fail verification at the other instances until
	// then.
	c.start(c.inst[0], resources, extra)
	if err := c.waitReady(c.inst[0], 90*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, in := range c.inst[1:] {
		c.start(in, resources, extra)
	}
	for _, in := range c.inst[1:] {
		if err := c.waitReady(in, 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Every instance publishes the same key set.
	var first string
	for _, in := range c.inst {
		r, err := send(t.Context(), c.http, http.MethodGet, "http://"+in.authzAddr+"/jwks", nil, nil, 0)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("instance %d /jwks: %d %v", in.n, r.Status, err)
		}
		if in.n == 1 {
			first = string(r.Body)
		} else if string(r.Body) != first {
			t.Fatalf("instance %d publishes other keys than instance 1:\n%s\n%s", in.n, r.Body, first)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, in := range c.inst {
				t.Logf("instance %d log, last lines:\n%s", in.n, gatehouseproc.Tail(in.logPath, 25))
			}
		}
	})
	return c
}

// admin runs an admin command against the shared database.
func (c *cluster) admin(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := gatehouseproc.Admin{Bin: c.bin, Env: c.env, Flags: []string{"--db", c.dsn, "--data-dir", c.shared}}.Run(ctx, "", args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) start(in *instance, resources string, extra []string) {
	c.t.Helper()
	args := []string{"serve",
		"--db", c.dsn, "--data-dir", in.dataDir,
		"--insecure-http", "--trusted-proxies", "127.0.0.1,::1",
		"--issuer", c.authz.url(), "--api-url", c.api.url(), "--webapp-url", c.webapp.url(),
		"--authz-addr", in.authzAddr, "--api-addr", in.apiAddr, "--webapp-addr", in.webAddr,
		"--session-store", c.redis,
		"--webapp-client-secret-file", filepath.Join(c.shared, "clients", "gatehouse-webapp.secret"),
		"--resources", resources,
		"--db-max-open-conns", "8",
		"--key-reload", keyReload.String(),
		"--log-format", "json",
	}
	args = append(args, extra...)
	p, err := gatehouseproc.Start(gatehouseproc.Spec{Bin: c.bin, Args: args, Env: c.env, Log: in.logPath})
	if err != nil {
		c.t.Fatalf("instance %d: %v", in.n, err)
	}
	in.p = p
	c.t.Cleanup(in.kill)
}

func (c *cluster) waitReady(in *instance, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	err := gatehouseproc.WaitReady(ctx, c.http, in.p, 50*time.Millisecond,
		"http://"+in.authzAddr+"/readyz", "http://"+in.apiAddr+"/readyz", "http://"+in.webAddr+"/readyz")
	if err != nil {
		return fmt.Errorf("instance %d: %w\n%s", in.n, err, gatehouseproc.Tail(in.logPath, 20))
	}
	return nil
}

// kill sends SIGKILL and waits until the process is gone.
func (in *instance) kill() {
	if in.p != nil {
		in.p.Kill()
	}
}

// reply is a complete answer, with the instance that served it.
type reply struct {
	flowtest.Reply
	instance int
}

// send makes one request; pin > 0 sends it to that instance.
func send(ctx context.Context, hc *http.Client, method, target string, h http.Header, body []byte, pin int) (reply, error) {
	if pin > 0 {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set(pinHeader, strconv.Itoa(pin))
	}
	r, err := flowtest.Send(ctx, hc, method, target, h, body)
	if err != nil {
		return reply{}, err
	}
	n, _ := strconv.Atoi(r.Header.Get(instanceHeader))
	return reply{Reply: r, instance: n}, nil
}

// token posts to the token endpoint (through the authz proxy, pinned).
func (c *cluster) token(ctx context.Context, id, secret string, params url.Values, pin int) (flowtest.Tokens, reply, error) {
	r, err := send(ctx, c.http, http.MethodPost, c.authz.url()+"/token", flowtest.FormHeader(id, secret), []byte(params.Encode()), pin)
	if err != nil {
		return flowtest.Tokens{}, r, err
	}
	var tr flowtest.Tokens
	if err := json.Unmarshal(r.Body, &tr); err != nil {
		return tr, r, fmt.Errorf("token endpoint answered %d: %.200s", r.Status, r.Body)
	}
	return tr, r, nil
}

// grepLog returns the log lines that contain want and any of levels.
func grepLog(path, want string, levels ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.Contains(line, want) {
			continue
		}
		for _, l := range levels {
			if strings.Contains(line, l) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
