package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// buildGatehouse builds the gatehouse binary of this module into dir.
func buildGatehouse(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building gatehouse: %w\n%s", err, out.String())
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// instance is a running gatehouse serve process.
type instance struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	log     *os.File
	// Where the three roles listen.
	authz, api, webapp string // base URLs
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

// admin runs one admin command and returns its standard output.
func (g *gatehouse) admin(ctx context.Context, stdin string, args ...string) (string, error) {
	args = append(args, g.storageFlags(g.dataDir)...)
	cmd := exec.CommandContext(ctx, g.bin, args...)
	cmd.Env = append(os.Environ(), g.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gatehouse %s: %w: %s", strings.Join(args[:min(2, len(args))], " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
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
		a, err := freeAddr()
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
	args = append(args, s.extra...)
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(g.bin, args...)
	cmd.Env = append(os.Environ(), g.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	in := &instance{cmd: cmd, exited: make(chan struct{}), log: logf,
		authz: scheme + "://" + addrs[0], api: scheme + "://" + addrs[1], webapp: scheme + "://" + addrs[2]}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting gatehouse: %w", err)
	}
	go func() { in.waitErr = cmd.Wait(); close(in.exited) }()
	if err := in.waitReady(ctx, g.ready, t0); err != nil {
		in.stop()
		return nil, fmt.Errorf("%w (server log: %s)", err, logf.Name())
	}
	return in, nil
}

func (in *instance) pid() int { return in.cmd.Process.Pid }

// waitReady polls each role's /readyz (1 ms apart) until all answer 200.
func (in *instance) waitReady(ctx context.Context, c *http.Client, t0 time.Time) error {
	deadline := time.Now().Add(90 * time.Second)
	for _, base := range []string{in.authz, in.api, in.webapp} {
		for {
			select {
			case <-in.exited:
				return fmt.Errorf("gatehouse exited before it was ready: %v", in.waitErr)
			default:
			}
			if time.Now().After(deadline) {
				return errors.New("gatehouse was not ready within 90 s")
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			r, err := send(rctx, c, http.MethodGet, base+"/readyz", nil, nil)
			cancel()
			if err == nil && r.status == http.StatusOK {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond)
		}
	}
	in.ready = time.Since(t0)
	return nil
}

// stop asks the server to shut down (SIGTERM) and waits for it, killing it
// after 20 s.
func (in *instance) stop() {
	if in == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(20 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
	if in.log != nil {
		in.log.Close()
	}
}
