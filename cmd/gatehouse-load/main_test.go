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

func TestParseRate(t *testing.T) {
	tests := []struct {
		args []string
		rate float64
	}{
		{nil, 0}, // closed loops
		{[]string{"-rate", "2000"}, 2000},
		{[]string{"-rate", "0.5", "-connections", "1"}, 0.5},
	}
	for _, tt := range tests {
		c, _, err := parse(tt.args, io.Discard)
		if err != nil || c.Rate != tt.rate {
			t.Errorf("%q: %v, rate %v; want %v", tt.args, err, c.Rate, tt.rate)
		}
	}
	if _, _, err := parse([]string{"-rate", "fast"}, io.Discard); err == nil {
		t.Error("-rate fast: no error")
	}
}

func TestRunRefusesBadRate(t *testing.T) {
	for _, rate := range []string{"-1", "2000000", "NaN"} {
		err := run(context.Background(), []string{"-rate", rate}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("-rate %s: got %v, want a refusal", rate, err)
		}
	}
}

func TestParseListSort(t *testing.T) {
	tests := []struct {
		args []string
		sort string
	}{
		{nil, "due"}, // the load tool's list, where={"done":false}&sort=due
		{[]string{"-list-sort", "-_updated"}, "-_updated"},
	}
	for _, tt := range tests {
		c, _, err := parse(tt.args, io.Discard)
		if err != nil || c.ListSort != tt.sort {
			t.Errorf("%q: %v, list sort %q; want %q", tt.args, err, c.ListSort, tt.sort)
		}
	}
}

func TestRunRefusesBadListSort(t *testing.T) {
	err := run(context.Background(), []string{"-list-sort", "due;drop"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "list sort") {
		t.Errorf("-list-sort due;drop: got %v, want a refusal", err)
	}
}
