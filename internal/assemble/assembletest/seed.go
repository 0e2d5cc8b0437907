package assembletest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// Person is a user to register, with the password they sign in with.
type Person struct {
	storage.User
	Password string
}

// Client is a client to register, with its secret in plain ("" for a
// public client).
type Client struct {
	storage.Client
	Secret string
}

// Cheap is password hashing that keeps the tests fast; the parameters do
// not change what is checked.
var Cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Register stores people and clients, each created now. A confidential
// client's secret is also written where serve reads a client secret from
// (config.ClientSecretPath of dataDir), as `gatehouse seed` does, so that
// the web app and the API find theirs.
func Register(ctx context.Context, st *sqlstore.Store, dataDir string, people []Person, clients []Client) error {
	now := time.Now().UTC()
	for _, p := range people {
		hash, err := password.HashWithParams(p.Password, Cheap)
		if err != nil {
			return err
		}
		u := p.User
		u.PasswordHash, u.CreatedAt, u.UpdatedAt = hash, now, now
		if err := st.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("user %s: %w", u.Username, err)
		}
	}
	for _, c := range clients {
		reg := c.Client
		reg.CreatedAt, reg.UpdatedAt = now, now
		if c.Secret != "" {
			reg.SecretHash = secret.HashToken(c.Secret)
			path := config.ClientSecretPath(dataDir, reg.ID)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(c.Secret+"\n"), 0o600); err != nil {
				return err
			}
		}
		if err := st.CreateClient(ctx, reg); err != nil {
			return fmt.Errorf("client %s: %w", reg.ID, err)
		}
	}
	return nil
}
