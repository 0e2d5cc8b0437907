package gatehouseproc

import (
	"net"
	"os"
	"strconv"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	got, err := ParseVmRSS([]byte("Name:\tgatehouse\nVmHWM:\t  9000 kB\nVmRSS:\t   28700 kB\nThreads: 9\n"))
	if err != nil || got != 28700*1024 {
		t.Fatalf("got %d, %v", got, err)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := ParseVmRSS([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if v, err := RSS(os.Getpid()); err != nil || v <= 0 {
		t.Fatalf("own RSS: %d, %v", v, err)
	}
}

// fakeTB records a failure instead of ending the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Fatal(args ...any) { f.failed = true }

// TestMustFreeAddr: the address is on loopback and free (it can be listened
// on at once), two calls give two addresses, and no failure is reported.
func TestMustFreeAddr(t *testing.T) {
	tb := &fakeTB{TB: t}
	a, b := MustFreeAddr(tb), MustFreeAddr(tb)
	if tb.failed {
		t.Fatal("MustFreeAddr failed")
	}
	if a == b {
		t.Errorf("two calls gave %s twice", a)
	}
	for _, addr := range []string{a, b} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("%q is not a loopback address (%v)", addr, err)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		l.Close()
	}
}

// TestFreeAddrBelowEphemeralRange: the ports FreeAddr picks lie below the
// system's ephemeral range, where no outgoing connection takes them, and
// can be listened on.
func TestFreeAddrBelowEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low <= minPickedPort {
		t.Skipf("no ephemeral range above %d here (%d)", minPickedPort, low)
	}
	for range 20 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, portText, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil || port < minPickedPort || port >= low {
			t.Fatalf("FreeAddr() = %s, want a port in [%d, %d)", addr, minPickedPort, low)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening on %s: %v", addr, err)
		}
		l.Close()
	}
}
