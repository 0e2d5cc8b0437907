package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// OneTimeStore records one-time values (*sqlstore.Store implements it):
// UseOnce fails with an error wrapping storage.ErrAlreadyUsed for a key
// recorded and unexpired.
type OneTimeStore interface {
	UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error
}

// Replays is a dpop.Replays kept in the database, so that the instances of
// the API sharing it accept a DPoP proof once between them.
type Replays struct{ Store OneTimeStore }

var _ dpop.Replays = Replays{}

// replayPrefix keeps the API's proofs apart from the other one-time values
// of the store (the authorization server's proofs and client assertions).
const replayPrefix = "dpop-api\x00"

// UseOnce implements dpop.Replays.
func (r Replays) UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error {
	err := r.Store.UseOnce(ctx, replayPrefix+key, expiresAt, now)
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		return dpop.ErrReplayed
	case err != nil:
		return fmt.Errorf("api: recording a DPoP proof: %w", err)
	}
	return nil
}
