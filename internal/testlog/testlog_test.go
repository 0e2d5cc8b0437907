package testlog_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testlog"
)

func TestBuffer(t *testing.T) {
	var b testlog.Buffer
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { fmt.Fprintf(&b, "{\"event\":\"e%d\",\"n\":%d}\n", i%2, i) })
	}
	wg.Wait()
	if got := len(b.Events("e0")); got != 25 {
		t.Errorf("Events(e0): %d lines, want 25", got)
	}
	if got := len(b.Take()); got == 0 || b.String() != "" {
		t.Errorf("Take: %d bytes, then String %q, want everything then nothing", got, b.String())
	}
	fmt.Fprint(&b, "not json\n{\"event\":\"e1\"}\n")
	if got := b.Events("e1"); len(got) != 1 {
		t.Errorf("Events(e1) after Take = %v, want the one line written since", got)
	}
}
