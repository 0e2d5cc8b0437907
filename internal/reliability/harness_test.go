package reliability

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// demoPassword is the demo user's password, chosen through
// GATEHOUSE_DEMO_PASSWORD before the first start.
const demoPassword = "reliability-demo-pw-4417"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// gatehouseBin builds the gatehouse binary of this module once per test
// process and returns its path.
func gatehouseBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatehouse-reliability-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gatehouse")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building gatehouse: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// TestMain removes the binary built by gatehouseBin.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

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
		bin:     gatehouseBin(t),
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
		*a = freeAddr(t)
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
	if err := writeResources(filepath.Join(root, "resources.yaml")); err != nil {
		t.Fatal(err)
	}
	in.serve = append([]string{"--resources", filepath.Join(root, "resources.yaml")}, in.serve...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log (%s), last lines:\n%s", in.logPath, tail(in.logPath, 40))
		}
	})
	return in
}

// writeResources writes the built-in resource file without its per-token
// rate limits: these tests send more than a person would.
func writeResources(path string) error {
	var doc map[string]any
	if err := yaml.Unmarshal(resource.DefaultYAML(), &doc); err != nil {
		return err
	}
	delete(doc, "rate_limit")
	b, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (in *installation) storageFlags() []string {
	return []string{"--data-dir", in.dataDir, "--db", in.db}
}

// admin runs an admin command and returns its standard output.
func (in *installation) admin(stdin string, args ...string) string {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, append(args, in.storageFlags()...)...)
	cmd.Env = append(os.Environ(), in.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		in.t.Fatalf("gatehouse %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// addClient registers a confidential client and returns its secret.
func (in *installation) addClient(args ...string) string {
	in.t.Helper()
	out := in.admin("", append([]string{"client", "add", "--json"}, args...)...)
	var r struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Secret == "" {
		in.t.Fatalf("client add printed %q, want its secret as JSON", out)
	}
	return r.Secret
}

// process is a running gatehouse serve.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	started time.Time
}

// start runs gatehouse serve and waits until every role's /readyz answers
// 200. The process is killed when the test ends, if it still runs.
func (in *installation) start() *process {
	in.t.Helper()
	args := append([]string{"serve"}, in.storageFlags()...)
	args = append(args,
		"--authz-addr", in.authzAddr, "--api-addr", in.apiAddr, "--webapp-addr", in.webappAddr,
		"--metrics-addr", in.metricsAddr, "--log-format", "json")
	args = append(args, in.serve...)
	logf, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		in.t.Fatal(err)
	}
	cmd := exec.Command(in.bin, args...)
	cmd.Env = append(os.Environ(), in.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &process{cmd: cmd, exited: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		logf.Close()
		in.t.Fatalf("starting gatehouse: %v", err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	in.t.Cleanup(func() { p.kill() })
	if err := in.waitReady(p, 60*time.Second); err != nil {
		in.t.Fatal(err)
	}
	return p
}

// waitReady polls every role's /readyz until all answer 200.
func (in *installation) waitReady(p *process, within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, base := range []string{in.authz, in.api, in.webapp} {
		for {
			select {
			case <-p.exited:
				return fmt.Errorf("gatehouse exited before it was ready: %v", p.waitErr)
			default:
			}
			r, err := in.get(base + "/readyz")
			if err == nil && r.status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s/readyz not 200 within %s (last: %d %v)", base, within, r.status, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// term sends SIGTERM and waits up to within for the exit; it returns the
// exit code (-1 when killed by a signal) and how long the exit took.
func (p *process) term(within time.Duration) (int, time.Duration, error) {
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, 0, err
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		p.kill()
		return -1, time.Since(t0), fmt.Errorf("still running %s after SIGTERM", within)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(t0), nil
}

// reply is a complete answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func send(ctx context.Context, c *http.Client, method, target string, h http.Header, body []byte) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return reply{}, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		// An answer cut short is no answer: status 0.
		return reply{}, fmt.Errorf("reading the answer: %w", err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: b}, nil
}

func (in *installation) get(target string) (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return send(ctx, in.client, http.MethodGet, target, nil, nil)
}

// form is the header of a form-encoded request, with client_secret_basic
// credentials when id is set.
func form(id, secret string) http.Header {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if id != "" {
		raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(raw)))
	}
	return h
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
}

// rss is the resident set size of pid in KiB, from /proc/PID/status.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS line")
}

// metric reads one unlabelled gauge (e.g. go_goroutines) from /metrics.
func (in *installation) metric(name string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := send(ctx, http.DefaultClient, http.MethodGet, "http://"+in.metricsAddr+"/metrics", nil, nil)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", name)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
