package gatehouseproc

import (
	"os"
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
