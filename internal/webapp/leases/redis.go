package leases

import (
	"context"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Redis keeps leases as Redis keys named Prefix + name. The context bounds
// getting a connection; each command is bounded by the pool's dial options
// (read and write timeouts).
type Redis struct {
	Pool   *redis.Pool
	Prefix string // e.g. "gatehouse:lease:"
}

// releaseScript deletes the key only if it still holds the caller's owner
// token: a lease that expired and was taken by someone else stays theirs.
var releaseScript = redis.NewScript(1, `
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Acquire implements webapp.Leases with SET NX PX.
func (r *Redis) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	conn, err := r.Pool.GetContext(ctx)
	if err != nil {
		return false, fmt.Errorf("leases: redis: %w", err)
	}
	defer conn.Close()
	reply, err := redis.String(conn.Do("SET", r.Prefix+name, owner, "NX", "PX", ttl.Milliseconds()))
	if err == redis.ErrNil {
		return false, nil // held by another owner
	}
	if err != nil {
		return false, fmt.Errorf("leases: redis SET: %w", err)
	}
	return reply == "OK", nil
}

// Release implements webapp.Leases.
func (r *Redis) Release(ctx context.Context, name, owner string) error {
	conn, err := r.Pool.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("leases: redis: %w", err)
	}
	defer conn.Close()
	if _, err := releaseScript.Do(conn, r.Prefix+name, owner); err != nil {
		return fmt.Errorf("leases: redis release: %w", err)
	}
	return nil
}
