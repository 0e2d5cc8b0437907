package api

import (
	"fmt"
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
