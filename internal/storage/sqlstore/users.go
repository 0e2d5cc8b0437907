package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

const userColumns = "id, username, email, name, password_hash, disabled, created_at, updated_at"

func scanUser(u *storage.User) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &u.Disabled, ts(&u.CreatedAt),
			ts(&u.UpdatedAt))
	}
}

// CreateUser fails with storage.ErrAlreadyExists if the ID or username is taken.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	_, err := s.write(ctx, "INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		u.ID, u.Username, u.Email, u.Name, u.PasswordHash, u.Disabled, micros(u.CreatedAt), micros(u.UpdatedAt))
	return err
}

// GetUser returns the user with the given ID.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	var u storage.User
	err := s.queryRow(ctx, s.rdb, scanUser(&u), "SELECT "+userColumns+" FROM users WHERE id = ?", id)
	return u, err
}

// GetUserByUsername returns the user with the given username.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	var u storage.User
	err := s.queryRow(ctx, s.rdb, scanUser(&u), "SELECT "+userColumns+" FROM users WHERE username = ?", username)
	if err == nil && u.Username != username { // MySQL's PAD SPACE collations ignore trailing spaces
		return storage.User{}, storage.ErrNotFound
	}
	return u, err
}

// ListUsers returns every user ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	var users []storage.User
	var u storage.User
	err := s.queryRows(ctx, s.rdb, func(r scanner) error {
		if err := scanUser(&u)(r); err != nil {
			return err
		}
		users = append(users, u)
		return nil
	}, "SELECT "+userColumns+" FROM users ORDER BY username")
	return users, err
}

// SetUserPassword replaces the password hash.
func (s *Store) SetUserPassword(ctx context.Context, id, passwordHash string, now time.Time) error {
	return s.writeOne(ctx, "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
		passwordHash, micros(now), id)
}

// RehashUserPassword replaces the password hash if it is still oldHash.
func (s *Store) RehashUserPassword(ctx context.Context, id, oldHash, newHash string, now time.Time) (bool, error) {
	res, err := s.write(ctx, "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?",
		newHash, micros(now), id, oldHash)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.d.mapErr(err)
	}
	return n == 1, nil
}

// SetUserDisabled disables or enables the user. Setting the value it has
// is not an error: execOne counts matched rows (MySQL is opened with
// clientFoundRows), not changed ones.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) error {
	return s.writeOne(ctx, "UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?", disabled, micros(now), id)
}

// DeleteUser removes the user, and with it the user's login sessions,
// consent and factors (passkeys, TOTP authenticator, recovery codes),
// marks the codes of the user's authorization requests used, and revokes
// the user's grants and their refresh tokens, so nothing issued to the
// user outlives the account.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.execOne(ctx, tx, "DELETE FROM users WHERE id = ?", id); err != nil {
			return err
		}
		for _, stmt := range []string{
			"DELETE FROM login_sessions WHERE user_id = ?",
			"DELETE FROM consents WHERE user_id = ?",
		} {
			if _, err := s.exec(ctx, tx, stmt, id); err != nil {
				return err
			}
		}
		if _, err := s.deleteFactors(ctx, tx, id); err != nil {
			return err
		}
		_, err := s.revokeGrantsIn(ctx, tx, userScope(id))
		return err
	})
}
