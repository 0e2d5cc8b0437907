package gatehouseproc

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Spec is a process to start.
type Spec struct {
	Bin  string
	Args []string
	Env  []string // added to this process's environment
	Log  string   // file the output is appended to; "" for this process's standard error
}

// Process is a started process.
type Process struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	// Started is when the process was started.
	Started time.Time
}

// Start starts s. The process runs until it exits or is stopped (Kill,
// Term): ending it is the caller's task.
func Start(s Spec) (*Process, error) {
	out := os.Stderr
	if s.Log != "" {
		f, err := os.OpenFile(s.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		out = f
	}
	closeLog := func() {
		if out != os.Stderr {
			out.Close()
		}
	}
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	p := &Process{cmd: cmd, exited: make(chan struct{}), Started: time.Now()}
	if err := cmd.Start(); err != nil {
		closeLog()
		return nil, fmt.Errorf("starting %s: %w", s.Bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		closeLog()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended (exec.Cmd.Wait's error), once Exited is
// closed.
func (p *Process) Err() error { return p.waitErr }

// Kill sends SIGKILL and waits until the process is gone; it does nothing
// when the process has exited.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Term sends SIGTERM and waits up to within for the exit, killing the
// process after that; it returns the exit code (-1 when killed by a
// signal) and how long the exit took.
func (p *Process) Term(within time.Duration) (int, time.Duration, error) {
	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-p.exited:
			return p.cmd.ProcessState.ExitCode(), 0, nil
		default:
		}
		return 0, 0, fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		p.Kill()
		return -1, time.Since(t0), fmt.Errorf("still running %s after SIGTERM", within)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(t0), nil
}

// attempt bounds one readiness request.
const attempt = 5 * time.Second

// WaitReady polls each of urls (one after the other, every apart) until it
// answers 200. It fails when p exits first or ctx ends.
func WaitReady(ctx context.Context, hc *http.Client, p *Process, every time.Duration, urls ...string) error {
	for _, u := range urls {
		for {
			select {
			case <-p.exited:
				return fmt.Errorf("exited before it was ready: %v", p.waitErr)
			default:
			}
			status, err := get(ctx, hc, u)
			if err == nil && status == http.StatusOK {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not 200 (last: %d %v): %w", u, status, err, ctx.Err())
			case <-time.After(every):
			}
		}
	}
	return nil
}

func get(ctx context.Context, hc *http.Client, u string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}
