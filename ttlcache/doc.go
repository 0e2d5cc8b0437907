// Package ttlcache is a bounded in-memory map whose entries each hold
// until a time of their own: what the token checkers remember of tokens
// they have verified. When full it drops the expired entries, then all of
// them (the next look-ups simply do the work again). A reset forgets every
// entry and makes puts of answers computed before it no-ops.
package ttlcache
