package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestParseInstances(t *testing.T) {
	tests := []struct {
		args      []string
		instances int
		proxy     bool
	}{
		{nil, 1, false},
		{[]string{"-instances", "1"}, 1, true}, // given: through the proxy, to compare with N
		{[]string{"-instances", "3", "-db", "postgres://x"}, 3, true},
	}
	for _, tt := range tests {
		c, _, err := parse(tt.args, io.Discard)
		if err != nil || c.Instances != tt.instances || c.Proxy != tt.proxy {
			t.Errorf("%q: %v, %d instances, proxy %v; want %d, %v", tt.args, err, c.Instances, c.Proxy, tt.instances, tt.proxy)
		}
	}
}

func TestRunRefusesInstancesOnSQLite(t *testing.T) {
	for _, args := range [][]string{{"-instances", "3"}, {"-instances", "2", "-db", "sqlite:/tmp/x.db"}} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "PostgreSQL or MySQL") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v, want a one-line refusal", args, err)
		}
	}
}
