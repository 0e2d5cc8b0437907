package logbuf_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logbuf"
)

// sink records each write it receives.
type sink struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	s.writes = append(s.writes, string(p))
	return len(p), nil
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		lines []string
		want  []string // writes out, after Close
	}{
		{"lines go out together", 64, []string{"a\n", "b\n", "c\n"}, []string{"a\nb\nc\n"}},
		{"a full buffer goes out first", 4, []string{"aa\n", "bb\n"}, []string{"aa\n", "bb\n"}},
		{"a line larger than the buffer goes through", 4, []string{"a\n", "long line\n"}, []string{"a\n", "long line\n"}},
		{"nothing written, nothing out", 64, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{}
			w := logbuf.New(s, time.Hour, tt.size)
			for _, l := range tt.lines {
				if n, err := w.Write([]byte(l)); err != nil || n != len(l) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := s.got(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("writes out %q, want %q", got, tt.want)
			}
		})
	}
}

// Buffered lines go out within the interval, without Close.
func TestWriterInterval(t *testing.T) {
	s := &sink{}
	w := logbuf.New(s, 10*time.Millisecond, 0)
	defer w.Close()
	if _, err := w.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not written out within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriterAfterClose(t *testing.T) {
	s := &sink{}
	w := logbuf.New(s, time.Hour, 0)
	if _, err := w.Write([]byte("before\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	if got := s.got(); fmt.Sprint(got) != fmt.Sprint([]string{"before\n", "after\n"}) {
		t.Errorf("writes out %q", got)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriterError(t *testing.T) {
	s := &sink{err: errors.New("disk full")}
	w := logbuf.New(s, time.Hour, 8)
	if _, err := w.Write([]byte("12345\n")); err != nil {
		t.Fatalf("buffered write: %v", err)
	}
	if _, err := w.Write([]byte("67890\n")); err == nil {
		t.Error("write needing a flush to a failing writer: no error")
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v", err)
	}
}

// Concurrent writers: every line arrives whole.
func TestWriterConcurrent(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := logbuf.New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), time.Millisecond, 100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(w, "writer %d line %03d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		var g, i int
		if n, err := fmt.Sscanf(l, "writer %d line %d", &g, &i); n != 2 || err != nil {
			t.Fatalf("broken line %q", l)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
