package gatehouseproc

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

// FreeAddr returns a loopback address with a port free right now, below
// the system's ephemeral range where it can: a port from that range may
// become the local end of some process's outgoing connection (a database
// pool's, held for minutes) before the caller listens on it, while a port
// below it is only ever taken by another listener.
func FreeAddr() (string, error) {
	low := ephemeralLow()
	for i := 0; i < 100 && low > minPickedPort; i++ {
		port := minPickedPort + rand.IntN(low-minPickedPort)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			addr := l.Addr().String()
			l.Close()
			return addr, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// minPickedPort is the lowest port FreeAddr picks: above the well-known
// and most registered services' ports.
const minPickedPort = 20000

// ephemeralLow is the first port of the system's ephemeral range (Linux's
// ip_local_port_range), or 0 where it cannot be read: FreeAddr then lets
// the system choose.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return low
}

// MustFreeAddr is FreeAddr for a test: it fails t when no port is free.
// Another listener may take the port before the caller listens on it;
// with ports picked at random below the ephemeral range, that is rare
// enough for tests.
func MustFreeAddr(t TB) string {
	t.Helper()
	a, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// WriteResources writes the built-in resource file without its rate limits
// (absent means unlimited) and with query limits that let one client use
// as much of the read pool as the API allows any (half of it), queueing up
// to the request deadline: load and tests send far more than a person
// would, from one client.
func WriteResources(path string) error {
	var doc map[string]any
	if err := yaml.Unmarshal(resource.DefaultYAML(), &doc); err != nil {
		return fmt.Errorf("built-in resources: %w", err)
	}
	delete(doc, "rate_limit")
	doc["query_limits"] = map[string]any{"concurrency": 1000, "wait": "10s"}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("resources: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

// Tail returns the last n lines of the file at path (the error's text when
// it cannot be read): for a failure's message.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// RSS returns the resident set size of process pid, in bytes, from
// /proc/PID/status.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return ParseVmRSS(b)
}

// ParseVmRSS reads the VmRSS line of a /proc/PID/status file, in bytes.
func ParseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) != 2 || string(f[1]) != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS line")
}
