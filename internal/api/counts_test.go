package api

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestCountCache checks what the HTTP tests cannot time: a total counted
// while the owner's documents were written is not kept, and starting over
// when full never lets a total from before validate.
func TestCountCache(t *testing.T) {
	now := time.Date(2024, 4, 2, 9, 0, 0, 0, time.UTC)
	k := countKey{resource: "todos", owner: "alice", where: `{"done":false}`}
	tests := []struct {
		name string
		run  func(c *countCache) // ends with k's entry kept or not
		kept bool
	}{
		{"kept", func(c *countCache) {
			_, _, gen := c.get(k, now)
			c.put(k, 7, gen, now)
		}, true},
		{"written while counting", func(c *countCache) {
			_, _, gen := c.get(k, now)
			c.written("todos", "alice")
			c.put(k, 7, gen, now)
		}, false},
		{"written after counting", func(c *countCache) {
			_, _, gen := c.get(k, now)
			c.put(k, 7, gen, now)
			c.written("todos", "alice")
		}, false},
		{"another owner written", func(c *countCache) {
			_, _, gen := c.get(k, now)
			c.written("todos", "bob")
			c.put(k, 7, gen, now)
		}, true},
		{"another resource written", func(c *countCache) {
			_, _, gen := c.get(k, now)
			c.written("notes", "alice")
			c.put(k, 7, gen, now)
		}, true},
		{"expired", func(c *countCache) {
			_, _, gen := c.get(k, now.Add(-countTTL))
			c.put(k, 7, gen, now.Add(-countTTL))
		}, false},
		{"from the future", func(c *countCache) {
			_, _, gen := c.get(k, now.Add(time.Minute))
			c.put(k, 7, gen, now.Add(time.Minute))
		}, false},
		{"the owners start over while counting", func(c *countCache) {
			_, _, gen := c.get(k, now) // a read of the documents before the write below
			c.written("todos", "alice")
			for i := range countMaxEntries { // other owners' writes fill the map
				c.written("todos", fmt.Sprint("o", i))
			}
			c.put(k, 7, gen, now)
		}, false},
		{"the totals start over while counting", func(c *countCache) {
			_, _, gen := c.get(k, now)
			c.written("todos", "alice")
			for i := range countMaxEntries {
				c.put(countKey{resource: "todos", owner: "bob", where: fmt.Sprint(i)}, 1, c.floor, now)
			}
			c.put(k, 7, gen, now)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCountCache()
			tc.run(c)
			total, ok, _ := c.get(k, now)
			if ok != tc.kept || (ok && total != 7) {
				t.Errorf("get = %d, %v; want kept %v", total, ok, tc.kept)
			}
		})
	}
}

// TestCountCacheCountsOnce checks that requests missing a total while it
// is being counted wait for that count rather than count again, unless
// the owner's documents were written meanwhile or the count started too
// long ago (then one of them counts, the others wait for it), or it failed
// (then each counts); and that a waiter gives up with its context.
func TestCountCacheCountsOnce(t *testing.T) {
	now := time.Date(2024, 4, 2, 9, 0, 0, 0, time.UTC)
	k := countKey{resource: "todos", owner: "alice", where: `{"done":false}`}
	const others = 8
	tests := []struct {
		name string
		// between runs while the first count is in progress, before the
		// others ask; it returns the time they ask at.
		between func(c *countCache) time.Time
		join    bool // the others wait for the first count
		fail    bool // the first count fails
		ctxDone bool // the others' contexts are done
		counts  int  // counts run in all
		want    int  // the others' total; -1: context.Canceled
	}{
		{"waits", func(*countCache) time.Time { return now.Add(countTTL - time.Millisecond) }, true, false, false, 1, 7},
		{"written meanwhile", func(c *countCache) time.Time {
			c.written("todos", "alice")
			return now
		}, false, false, false, 2, 8},
		{"another owner written", func(c *countCache) time.Time {
			c.written("todos", "bob")
			return now
		}, true, false, false, 1, 7},
		{"count too old", func(*countCache) time.Time { return now.Add(countTTL) }, false, false, false, 2, 8},
		{"count fails", func(*countCache) time.Time { return now }, true, true, false, 1 + others, 8},
		{"waiters give up", func(*countCache) time.Time { return now }, true, false, true, 1, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCountCache()
			var mu sync.Mutex
			counts := 0
			started, release := make(chan struct{}), make(chan struct{})
			first := make(chan error, 1)
			go func() {
				total, err := c.total(context.Background(), k, now, func() (int, error) {
					mu.Lock()
					counts++
					mu.Unlock()
					close(started)
					<-release
					if tc.fail {
						return 0, errors.New("gone")
					}
					return 7, nil
				})
				if err == nil && total != 7 {
					err = fmt.Errorf("total %d, want 7", total)
				}
				first <- err
			}()
			<-started
			at := tc.between(c)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.ctxDone {
				cancel()
			}
			type result struct {
				total int
				err   error
			}
			results := make(chan result, others)
			for range others {
				go func() {
					total, err := c.total(ctx, k, at, func() (int, error) {
						mu.Lock()
						counts++
						mu.Unlock()
						return 8, nil
					})
					results <- result{total, err}
				}()
			}
			var got []result
			if tc.join && !tc.ctxDone {
				// All wait for the first count before it ends.
				for joined := 0; joined < others; runtime.Gosched() {
					c.mu.Lock()
					joined = 0
					for _, f := range c.flights {
						joined += f.waiters
					}
					c.mu.Unlock()
				}
			} else {
				for range others {
					got = append(got, <-results)
				}
			}
			close(release)
			if err := <-first; (err != nil) != tc.fail {
				t.Errorf("first count: %v, want failure %v", err, tc.fail)
			}
			for len(got) < others {
				got = append(got, <-results)
			}
			for _, r := range got {
				switch {
				case tc.want < 0 && !errors.Is(r.err, context.Canceled):
					t.Errorf("waiter: %d, %v; want context.Canceled", r.total, r.err)
				case tc.want >= 0 && (r.err != nil || r.total != tc.want):
					t.Errorf("waiter: %d, %v; want %d", r.total, r.err, tc.want)
				}
			}
			if counts != tc.counts {
				t.Errorf("%d counts, want %d", counts, tc.counts)
			}
			if len(c.flights) != 0 {
				t.Errorf("%d counts still in progress", len(c.flights))
			}
		})
	}
}

// TestCountCachePanickedCount checks that the requests waiting for a count
// that panics count on their own rather than take a total of 0.
func TestCountCachePanickedCount(t *testing.T) {
	now := time.Date(2024, 4, 2, 9, 0, 0, 0, time.UTC)
	k := countKey{resource: "todos", owner: "alice", where: `{"done":false}`}
	c := newCountCache()
	started, release, first := make(chan struct{}), make(chan struct{}), make(chan any, 1)
	go func() {
		defer func() { first <- recover() }()
		_, _ = c.total(context.Background(), k, now, func() (int, error) {
			close(started)
			<-release
			panic("count")
		})
	}()
	<-started
	type result struct {
		total int
		err   error
	}
	waiter := make(chan result, 1)
	go func() {
		total, err := c.total(context.Background(), k, now, func() (int, error) { return 8, nil })
		waiter <- result{total, err}
	}()
	for joined := 0; joined == 0; runtime.Gosched() {
		c.mu.Lock()
		for _, f := range c.flights {
			joined = f.waiters
		}
		c.mu.Unlock()
	}
	close(release)
	if p := <-first; p != "count" {
		t.Errorf("first count: recovered %v, want its panic", p)
	}
	if r := <-waiter; r.err != nil || r.total != 8 {
		t.Errorf("waiter: %d, %v; want 8 counted on its own", r.total, r.err)
	}
}
