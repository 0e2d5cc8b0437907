// Package testlog collects the log output of servers under test: a buffer
// the roles' loggers write to from many goroutines at once, read whole, a
// part at a time, or as the JSON lines of one audit event.
package testlog

import (
	"encoding/json"
	"strings"
	"sync"
)

// Buffer collects log output written concurrently.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything logged so far (or since the last Take).
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Take returns what was logged since the last call and forgets it.
func (l *Buffer) Take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// Events returns the JSON log lines whose "event" is name (the audit
// events), in order.
func (l *Buffer) Events(name string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}
