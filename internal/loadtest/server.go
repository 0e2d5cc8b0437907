package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
)

// instance is a running gatehouse serve process.
type instance struct {
	p *gatehouseproc.Process
	// Where the three roles listen.
	authz, api, webapp string // base URLs
	debug              string // base URL of the profiler (--debug-addr); empty without gatehouse.profile
	// ready is how long the process took from exec to every role's /readyz
	// answering 200.
	ready time.Duration
}

// gatehouse knows how to run one installation: the binary, its data
// directory and the flags every command of it gets.
type gatehouse struct {
	bin       string
	dataDir   string
	db        string // DSN; empty for the embedded SQLite
	env       []string
	scheme    string // https or http
	logLevel  string
	ready     *http.Client // trusts the local CA
	resources string
	profile   bool // serve the profiler (--debug-addr) for CPU profiles of the scenarios
}

// storageFlags are the flags every command gets; dataDir is the command's
// --data-dir.
func (g *gatehouse) storageFlags(dataDir string) []string {
	f := []string{"--data-dir", dataDir, "--log-level", g.logLevel}
	if g.db != "" {
		f = append(f, "--db", g.db)
	}
	return f
}

// dsn is the database the installation uses.
func (g *gatehouse) dsn() string {
	if g.db != "" {
		return g.db
	}
	return "sqlite:" + filepath.Join(g.dataDir, "gatehouse.db")
}

// admin runs the installation's admin commands.
func (g *gatehouse) admin() gatehouseproc.Admin {
	return gatehouseproc.Admin{Bin: g.bin, Env: g.env, Flags: g.storageFlags(g.dataDir)}
}

// serveSpec is what differs between the serve processes of one
// installation.
type serveSpec struct {
	dataDir string   // --data-dir
	log     string   // file the process's output is appended to
	plain   bool     // --insecure-http: plain HTTP (-insecure-http, or behind the proxy)
	extra   []string // more flags
}

// start runs gatehouse serve with every role on fresh loopback ports and
// waits until each role is ready.
func (g *gatehouse) start(ctx context.Context, s serveSpec) (*instance, error) {
	var addrs [3]string
	for i := range addrs {
		a, err := gatehouseproc.FreeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	args := append([]string{"serve"}, g.storageFlags(s.dataDir)...)
	if !strings.HasPrefix(g.dsn(), "sqlite:") {
		// The installation's secret, for every instance: on one database
		// they must share it.
		args = append(args, "--secret-file", filepath.Join(g.dataDir, "secret"))
	}
	args = append(args, "--authz-addr", addrs[0], "--api-addr", addrs[1], "--webapp-addr", addrs[2],
		"--resources", g.resources, "--shutdown-timeout", "5s")
	scheme := "https"
	if s.plain {
		args = append(args, "--insecure-http")
		scheme = "http"
	}
	var debug string
	if g.profile {
		a, err := gatehouseproc.FreeAddr()
		if err != nil {
			return nil, err
		}
		args = append(args, "--debug-addr", a)
		debug = "http://" + a
	}
	args = append(args, s.extra...)
	p, err := gatehouseproc.Start(gatehouseproc.Spec{Bin: g.bin, Args: args, Env: g.env, Log: s.log})
	if err != nil {
		return nil, err
	}
	in := &instance{p: p, authz: scheme + "://" + addrs[0], api: scheme + "://" + addrs[1], webapp: scheme + "://" + addrs[2], debug: debug}
	// Polled 1 ms apart: the time to ready is a figure of the report.
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := gatehouseproc.WaitReady(rctx, g.ready, p, time.Millisecond,
		in.authz+"/readyz", in.api+"/readyz", in.webapp+"/readyz"); err != nil {
		in.stop()
		return nil, fmt.Errorf("gatehouse: %w (server log: %s)", err, s.log)
	}
	in.ready = time.Since(p.Started)
	return in, nil
}

func (in *instance) pid() int { return in.p.Pid() }

// cpuProfile fetches a CPU profile of the instance over d (whole seconds,
// at least one) and writes it to path.
func (in *instance) cpuProfile(ctx context.Context, d time.Duration, path string) error {
	secs := max(1, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", in.debug, secs), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: status %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	return f.Close()
}

// stop asks the server to shut down (SIGTERM) and waits for it, killing it
// after 20 s.
func (in *instance) stop() {
	if in == nil {
		return
	}
	_, _, _ = in.p.Term(20 * time.Second)
}
