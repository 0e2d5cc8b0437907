package ttlcache_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ttlcache"
)

func TestCache(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		run    func(c *ttlcache.Cache[string, int])
		at     time.Time
		key    string
		want   int
		wantOK bool
	}{
		{"stored", func(c *ttlcache.Cache[string, int]) {
			_, g, _ := c.Get("a", t0)
			c.Put("a", 1, t0.Add(time.Minute), t0, g)
		}, t0.Add(59 * time.Second), "a", 1, true},
		{"expired at its time", func(c *ttlcache.Cache[string, int]) {
			_, g, _ := c.Get("a", t0)
			c.Put("a", 1, t0.Add(time.Minute), t0, g)
		}, t0.Add(time.Minute), "a", 0, false},
		{"already expired is not stored", func(c *ttlcache.Cache[string, int]) {
			_, g, _ := c.Get("a", t0)
			c.Put("a", 1, t0, t0, g)
		}, t0.Add(-time.Second), "a", 0, false},
		{"reset forgets", func(c *ttlcache.Cache[string, int]) {
			_, g, _ := c.Get("a", t0)
			c.Put("a", 1, t0.Add(time.Minute), t0, g)
			c.Reset()
		}, t0, "a", 0, false},
		{"a put from before a reset is dropped", func(c *ttlcache.Cache[string, int]) {
			_, g, _ := c.Get("a", t0)
			c.Reset() // e.g. the keys changed while the caller checked the token
			c.Put("a", 1, t0.Add(time.Minute), t0, g)
		}, t0, "a", 0, false},
		{"full: expired entries go first", func(c *ttlcache.Cache[string, int]) {
			_, g, _ := c.Get("x", t0)
			c.Put("old", 1, t0.Add(time.Second), t0, g)
			c.Put("b", 2, t0.Add(time.Hour), t0, g)
			c.Put("c", 3, t0.Add(time.Hour), t0, g)
			c.Put("d", 4, t0.Add(time.Hour), t0.Add(2*time.Second), g) // cache of 3: "old" goes
		}, t0.Add(3 * time.Second), "b", 2, true},
		{"replacing a key when full keeps the others", func(c *ttlcache.Cache[string, int]) {
			_, g, _ := c.Get("x", t0)
			for i := range 3 {
				c.Put(fmt.Sprint(i), i, t0.Add(time.Hour), t0, g)
			}
			c.Put("2", 20, t0.Add(time.Hour), t0, g)
		}, t0, "0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ttlcache.New[string, int](3)
			tt.run(c)
			got, _, ok := c.Get(tt.key, tt.at)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Get(%q) = %d, %v; want %d, %v", tt.key, got, ok, tt.want, tt.wantOK)
			}
			if c.Len() > 3 {
				t.Errorf("%d entries in a cache of 3", c.Len())
			}
		})
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := ttlcache.New[int, int](50)
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := (g*1000 + i) % 120
				if v, gen, ok := c.Get(k, now); ok && v != k {
					t.Errorf("Get(%d) = %d", k, v)
				} else if !ok {
					c.Put(k, k, now.Add(time.Minute), now, gen)
				}
				if i%250 == 0 {
					c.Reset()
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 50 {
		t.Errorf("%d entries in a cache of 50", c.Len())
	}
}

// TestCacheFullOfLiveEntries: a cache full of live entries makes room by
// dropping a quarter of them, not all, so a flood of new keys (tokens an
// attacker makes up, say) never empties it at once.
func TestCacheFullOfLiveEntries(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	c := ttlcache.New[int, int](100)
	_, g, _ := c.Get(0, t0)
	for i := range 100 {
		c.Put(i, i, t0.Add(time.Hour), t0, g)
	}
	c.Put(1000, 1000, t0.Add(time.Hour), t0, g)
	if got := c.Len(); got != 75 {
		t.Errorf("after one more entry the cache holds %d entries, want 75 (74 kept and the new one)", got)
	}
	if v, _, ok := c.Get(1000, t0); !ok || v != 1000 {
		t.Errorf("the new entry is missing: %d, %v", v, ok)
	}
	kept := 0
	for i := range 100 {
		if v, _, ok := c.Get(i, t0); ok {
			if v != i {
				t.Errorf("Get(%d) = %d", i, v)
			}
			kept++
		}
	}
	if kept != 74 {
		t.Errorf("%d of the 100 earlier entries kept, want 74", kept)
	}
}

// TestCacheExpiredMakeRoom: when forgetting the expired entries makes
// room, no live entry is dropped.
func TestCacheExpiredMakeRoom(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	c := ttlcache.New[int, int](100)
	_, g, _ := c.Get(0, t0)
	c.Put(-1, -1, t0.Add(time.Second), t0, g)
	for i := range 99 {
		c.Put(i, i, t0.Add(time.Hour), t0, g)
	}
	later := t0.Add(time.Minute) // entry -1 has expired
	c.Put(1000, 1000, t0.Add(time.Hour), later, g)
	for i := range 99 {
		if _, _, ok := c.Get(i, later); !ok {
			t.Fatalf("live entry %d dropped although the expired one made room", i)
		}
	}
	if got := c.Len(); got != 100 {
		t.Errorf("Len = %d, want 100", got)
	}
}
