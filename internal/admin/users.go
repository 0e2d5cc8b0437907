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

// UserStore is what the commands that secure an account need of the store:
// the users, and the login sessions and grants they end.
type UserStore interface {
	storage.Users
	DeleteUserLoginSessions(ctx context.Context, userID string) error
	RevokeUserGrants(ctx context.Context, userID string) (int, error)
}

// SessionPolicy says whether a command that secures an account ends what the
// account has signed in to.
type SessionPolicy int

const (
	// EndSessions deletes the user's login sessions and revokes the user's
	// grants: whoever held them must sign in again.
	EndSessions SessionPolicy = iota
	// KeepSessions leaves the login sessions and grants as they are.
	KeepSessions
)

// Ended says what a command ended for a user.
type Ended struct {
	// Sessions is set when the user's login sessions at the authorization
	// server were deleted (the store does not count them).
	Sessions bool
	// Grants is how many of the user's grants were revoked: their refresh
	// tokens no longer work, and access tokens issued from them no longer
	// introspect as active.
	Grants int
}

// SetPassword replaces a user's password. With EndSessions it then deletes
// the user's login sessions and revokes the user's grants, so that a
// password reset after a compromise also ends what the intruder signed in
// to; the new hash is stored first, so no new sign-in with the old password
// can follow the revocation.
func SetPassword(ctx context.Context, users UserStore, username, pw string, policy SessionPolicy, now time.Time) (Ended, error) {
	u, err := lookupUser(ctx, users, username)
	if err != nil {
		return Ended{}, err
	}
	if err := password.Validate(pw); err != nil {
		return Ended{}, fmt.Errorf("password: %w", err)
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return Ended{}, fmt.Errorf("hashing password: %w", err)
	}
	if err := users.SetUserPassword(ctx, u.ID, hash, now.UTC()); err != nil {
		return Ended{}, fmt.Errorf("setting the password of %q: %w", username, err)
	}
	if policy == KeepSessions {
		return Ended{}, nil
	}
	ended, err := endSessions(ctx, users, u)
	if err != nil {
		return ended, fmt.Errorf("the password of %q is set, but %w (run the command again)", username, err)
	}
	return ended, nil
}

// DisableUser disables a user, who can then no longer sign in, and ends the
// user's login sessions and grants. Disabling a disabled user is not an
// error (and ends whatever is left).
func DisableUser(ctx context.Context, users UserStore, username string, now time.Time) (Ended, error) {
	u, err := lookupUser(ctx, users, username)
	if err != nil {
		return Ended{}, err
	}
	if err := users.SetUserDisabled(ctx, u.ID, true, now.UTC()); err != nil {
		return Ended{}, fmt.Errorf("disabling user %q: %w", username, err)
	}
	ended, err := endSessions(ctx, users, u)
	if err != nil {
		return ended, fmt.Errorf("user %q is disabled, but %w (run the command again)", username, err)
	}
	return ended, nil
}

// EnableUser lets a disabled user sign in again. Enabling an enabled user is
// not an error.
func EnableUser(ctx context.Context, users storage.Users, username string, now time.Time) error {
	u, err := lookupUser(ctx, users, username)
	if err != nil {
		return err
	}
	if err := users.SetUserDisabled(ctx, u.ID, false, now.UTC()); err != nil {
		return fmt.Errorf("enabling user %q: %w", username, err)
	}
	return nil
}

// endSessions deletes u's login sessions, so no new authorization can be
// given without signing in, and then revokes u's grants.
func endSessions(ctx context.Context, users UserStore, u storage.User) (Ended, error) {
	var ended Ended
	if err := users.DeleteUserLoginSessions(ctx, u.ID); err != nil {
		return ended, fmt.Errorf("ending the login sessions failed: %w", err)
	}
	ended.Sessions = true
	n, err := users.RevokeUserGrants(ctx, u.ID)
	if err != nil {
		return ended, fmt.Errorf("revoking the grants failed: %w", err)
	}
	ended.Grants = n
	return ended, nil
}

// FactorStore is what resetting a person's second factors needs of the
// store.
type FactorStore interface {
	UserStore
	ResetUserFactors(ctx context.Context, userID string) (int, error)
}

// ResetFactors removes every passkey, the authenticator app and the
// recovery codes of a user who lost them, so they can sign in with their
// password and enrol again. With EndSessions it then deletes the user's
// login sessions and revokes the user's grants, as a lost device may be in
// someone else's hands. It returns how many factors it removed.
func ResetFactors(ctx context.Context, users FactorStore, username string, policy SessionPolicy) (int, Ended, error) {
	u, err := lookupUser(ctx, users, username)
	if err != nil {
		return 0, Ended{}, err
	}
	n, err := users.ResetUserFactors(ctx, u.ID)
	if err != nil {
		return 0, Ended{}, fmt.Errorf("resetting the second factors of %q: %w", username, err)
	}
	if policy == KeepSessions {
		return n, Ended{}, nil
	}
	ended, err := endSessions(ctx, users, u)
	if err != nil {
		return n, ended, fmt.Errorf("the second factors of %q are reset, but %w (run the command again)", username, err)
	}
	return n, ended, nil
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
