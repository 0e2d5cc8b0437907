package reliability

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// demoPassword is the demo user's password, chosen through
// GATEHOUSE_DEMO_PASSWORD before the first start.
const demoPassword = "reliability-demo-pw-4417"

// gatehouse builds the gatehouse binary once per test process.
var gatehouse gatehouseproc.Builder

// TestMain removes the binary gatehouse built.
func TestMain(m *testing.M) { os.Exit(gatehouse.Run(m)) }

// installation is one gatehouse installation: a data directory, a database,
// the addresses its roles listen on (fixed for its lifetime, so a restart
// keeps the registered redirect URIs valid) and the flags serve gets.
type installation struct {
	t       *testing.T
	bin     string
	dataDir string
	db      string // DSN
	env     []string
	serve   []string // extra serve flags

	authzAddr, apiAddr, webappAddr, metricsAddr string
	authz, api, webapp                          string // base URLs
	client                                      *http.Client
	logPath                                     string
}

// newInstallation prepares an installation on db (a DSN; "" for SQLite in
// the data directory). extra are serve flags, e.g. short lifetimes.
func newInstallation(t *testing.T, db string, extra ...string) *installation {
	t.Helper()
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	if db == "" {
		db = "sqlite:" + filepath.Join(dataDir, "gatehouse.db")
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	in := &installation{
		t:       t,
		bin:     gatehouse.MustBin(t),
		dataDir: dataDir,
		db:      db,
		env: []string{
			"GATEHOUSE_SECRET=" + base64.StdEncoding.EncodeToString(key),
			"GATEHOUSE_DEMO_PASSWORD=" + demoPassword,
		},
		serve:   extra,
		logPath: filepath.Join(root, "server.log"),
	}
	for _, a := range []*string{&in.authzAddr, &in.apiAddr, &in.webappAddr, &in.metricsAddr} {
		*a = gatehouseproc.MustFreeAddr(t)
	}
	in.authz, in.api, in.webapp = "https://"+in.authzAddr, "https://"+in.apiAddr, "https://"+in.webappAddr

	// The local CA serve would create on first start, created first so the
	// test's client trusts it from the start.
	files, _, err := tlsconf.EnsureLocal(filepath.Join(dataDir, "tls"), time.Now())
	if err != nil {
		t.Fatalf("local certificates: %v", err)
	}
	if in.client, err = tlsconf.HTTPClient(30*time.Second, files.CACert); err != nil {
		t.Fatal(err)
	}
	if err := gatehouseproc.WriteResources(filepath.Join(root, "resources.yaml")); err != nil {
		t.Fatal(err)
	}
	in.serve = append([]string{"--resources", filepath.Join(root, "resources.yaml")}, in.serve...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log (%s), last lines:\n%s", in.logPath, gatehouseproc.Tail(in.logPath, 40))
		}
	})
	return in
}

func (in *installation) storageFlags() []string {
	return []string{"--data-dir", in.dataDir, "--db", in.db}
}

func (in *installation) commands() gatehouseproc.Admin {
	return gatehouseproc.Admin{Bin: in.bin, Env: in.env, Flags: in.storageFlags()}
}

// addClient registers a confidential client and returns its secret.
func (in *installation) addClient(args ...string) string {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	secret, err := in.commands().AddClient(ctx, args...)
	if err != nil {
		in.t.Fatal(err)
	}
	return secret
}

// start runs gatehouse serve and waits until every role's /readyz answers
// 200. The process is killed when the test ends, if it still runs.
//
// The installation keeps its addresses across restarts (its URLs are in
// the tokens), and another listener may meanwhile hold a port picked free
// for a moment: a start that fails only because an address is in use is
// tried again, a few times.
func (in *installation) start() *gatehouseproc.Process {
	in.t.Helper()
	args := append([]string{"serve"}, in.storageFlags()...)
	args = append(args,
		"--authz-addr", in.authzAddr, "--api-addr", in.apiAddr, "--webapp-addr", in.webappAddr,
		"--metrics-addr", in.metricsAddr, "--log-format", "json")
	args = append(args, in.serve...)
	for attempt := 1; ; attempt++ {
		p, err := gatehouseproc.Start(gatehouseproc.Spec{Bin: in.bin, Args: args, Env: in.env, Log: in.logPath})
		if err != nil {
			in.t.Fatal(err)
		}
		in.t.Cleanup(p.Kill)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = gatehouseproc.WaitReady(ctx, in.client, p, 20*time.Millisecond,
			in.authz+"/readyz", in.api+"/readyz", in.webapp+"/readyz")
		cancel()
		if err == nil {
			return p
		}
		if attempt < 5 && strings.Contains(gatehouseproc.Tail(in.logPath, 3), "address already in use") {
			in.t.Logf("start %d: an address was in use; trying again", attempt)
			p.Kill()
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
			continue
		}
		in.t.Fatalf("gatehouse: %v", err)
	}
}

// metric reads one unlabelled gauge (e.g. go_goroutines) from /metrics.
func (in *installation) metric(name string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := flowtest.Send(ctx, http.DefaultClient, http.MethodGet, "http://"+in.metricsAddr+"/metrics", nil, nil)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(r.Body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}
