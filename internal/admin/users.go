package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// NewUser is what an operator gives to add a user.
type NewUser struct {
	Username string
	Email    string
	Name     string
	Password string
}

// AddUser validates u, hashes its password with argon2id and stores it.
// A taken username is storage.ErrAlreadyExists, wrapped with the name.
func AddUser(ctx context.Context, users storage.Users, u NewUser, now time.Time) (storage.User, error) {
	if err := validateUsername(u.Username); err != nil {
		return storage.User{}, err
	}
	if err := validateEmail(u.Email); err != nil {
		return storage.User{}, err
	}
	if err := validateName("name", u.Name, 200); err != nil {
		return storage.User{}, err
	}
	if err := password.Validate(u.Password); err != nil {
		return storage.User{}, fmt.Errorf("password: %w", err)
	}
	hash, err := password.Hash(u.Password)
	if err != nil {
		return storage.User{}, fmt.Errorf("hashing password: %w", err)
	}
	id, err := newID()
	if err != nil {
		return storage.User{}, err
	}
	rec := storage.User{
		ID: id, Username: u.Username, Email: u.Email, Name: u.Name,
		PasswordHash: hash, CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
	}
	if err := users.CreateUser(ctx, rec); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.User{}, fmt.Errorf("user %q already exists: %w", u.Username, err)
		}
		return storage.User{}, fmt.Errorf("adding user %q: %w", u.Username, err)
	}
	return rec, nil
}

// SetPassword replaces a user's password.
func SetPassword(ctx context.Context, users storage.Users, username, pw string, now time.Time) error {
	u, err := lookupUser(ctx, users, username)
	if err != nil {
		return err
	}
	if err := password.Validate(pw); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return fmt.Errorf("hashing password: %w", err)
	}
	if err := users.SetUserPassword(ctx, u.ID, hash, now.UTC()); err != nil {
		return fmt.Errorf("setting the password of %q: %w", username, err)
	}
	return nil
}

// RemoveUser deletes a user by username.
func RemoveUser(ctx context.Context, users storage.Users, username string) error {
	u, err := lookupUser(ctx, users, username)
	if err != nil {
		return err
	}
	if err := users.DeleteUser(ctx, u.ID); err != nil {
		return fmt.Errorf("removing user %q: %w", username, err)
	}
	return nil
}

func lookupUser(ctx context.Context, users storage.Users, username string) (storage.User, error) {
	u, err := users.GetUserByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, fmt.Errorf("no user %q: %w", username, err)
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("looking up user %q: %w", username, err)
	}
	return u, nil
}

// newID returns a random 128-bit identifier in hex.
func newID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating an ID: %w", err)
	}
	return hex.EncodeToString(b), nil
}
