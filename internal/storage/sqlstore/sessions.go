package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

const loginSessionColumns = "id, user_id, auth_time, amr, user_agent, created_at, expires_at"

// maxUserAgent is the longest LoginSession.UserAgent, in bytes.
const maxUserAgent = 255

func scanLoginSession(l *storage.LoginSession) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&l.ID, &l.UserID, ts(&l.AuthTime), list(&l.AMR), &l.UserAgent, ts(&l.CreatedAt), ts(&l.ExpiresAt))
	}
}

// CreateLoginSession stores a login session. The User-Agent is stored as
// bytes, so one cut inside a character round-trips. One longer than
// maxUserAgent is refused on every dialect, not only by MySQL's column.
func (s *Store) CreateLoginSession(ctx context.Context, l storage.LoginSession) error {
	if len(l.UserAgent) > maxUserAgent {
		return fmt.Errorf("sqlstore: login session user agent of %d bytes, more than %d", len(l.UserAgent), maxUserAgent)
	}
	_, err := s.write(ctx, "INSERT INTO login_sessions ("+loginSessionColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		l.ID, l.UserID, nullMicros(l.AuthTime), encodeList(l.AMR), nonNil([]byte(l.UserAgent)), micros(l.CreatedAt),
		micros(l.ExpiresAt))
	return err
}

// GetLoginSession returns storage.ErrNotFound for an unknown or expired session.
func (s *Store) GetLoginSession(ctx context.Context, id string, now time.Time) (storage.LoginSession, error) {
	var l storage.LoginSession
	err := s.queryRow(ctx, s.rdb, scanLoginSession(&l),
		"SELECT "+loginSessionColumns+" FROM login_sessions WHERE id = ? AND expires_at > ?", id, micros(now))
	return l, err
}

// DeleteLoginSession removes a session; removing an unknown one is not an error.
func (s *Store) DeleteLoginSession(ctx context.Context, id string) error {
	_, err := s.write(ctx, "DELETE FROM login_sessions WHERE id = ?", id)
	return err
}

// DeleteUserLoginSessions removes every session of a user.
func (s *Store) DeleteUserLoginSessions(ctx context.Context, userID string) error {
	_, err := s.write(ctx, "DELETE FROM login_sessions WHERE user_id = ?", userID)
	return err
}

// ListUserLoginSessions returns the user's unexpired sessions, newest
// first (the ID orders sessions created at the same instant).
func (s *Store) ListUserLoginSessions(ctx context.Context, userID string, now time.Time) ([]storage.LoginSession, error) {
	var sessions []storage.LoginSession
	var l storage.LoginSession
	err := s.queryRows(ctx, s.rdb, func(r scanner) error {
		if err := scanLoginSession(&l)(r); err != nil {
			return err
		}
		sessions = append(sessions, l)
		return nil
	}, "SELECT "+loginSessionColumns+" FROM login_sessions WHERE user_id = ? AND expires_at > ? "+
		"ORDER BY created_at DESC, id", userID, micros(now))
	return sessions, err
}

// DeleteOtherLoginSessions removes every session of the user but keep.
func (s *Store) DeleteOtherLoginSessions(ctx context.Context, userID, keep string) error {
	_, err := s.write(ctx, "DELETE FROM login_sessions WHERE user_id = ? AND id <> ?", userID, keep)
	return err
}

const consentColumns = "user_id, client_id, scopes, created_at, expires_at"

// PutConsent creates or replaces the consent for (UserID, ClientID). A zero
// ExpiresAt never expires.
func (s *Store) PutConsent(ctx context.Context, c storage.Consent) error {
	_, err := s.write(ctx, "INSERT INTO consents ("+consentColumns+") VALUES (?, ?, ?, ?, ?)"+
		s.d.Upsert("user_id, client_id",
			"scopes = "+s.d.Excluded("scopes"),
			"created_at = "+s.d.Excluded("created_at"),
			"expires_at = "+s.d.Excluded("expires_at")),
		c.UserID, c.ClientID, encodeList(c.Scopes), micros(c.CreatedAt), nullMicros(c.ExpiresAt))
	return err
}

func scanConsent(c *storage.Consent) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&c.UserID, &c.ClientID, list(&c.Scopes), ts(&c.CreatedAt), ts(&c.ExpiresAt))
	}
}

// GetConsent returns storage.ErrNotFound for unknown or expired consent.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string, now time.Time) (storage.Consent, error) {
	var c storage.Consent
	err := s.queryRow(ctx, s.rdb, scanConsent(&c), "SELECT "+consentColumns+" FROM consents WHERE user_id = ? AND client_id = ? "+
		"AND (expires_at IS NULL OR expires_at > ?)", userID, clientID, micros(now))
	return c, err
}

// ListUserConsents returns the user's unexpired consent, ordered by client
// ID.
func (s *Store) ListUserConsents(ctx context.Context, userID string, now time.Time) ([]storage.Consent, error) {
	var consents []storage.Consent
	var c storage.Consent
	err := s.queryRows(ctx, s.rdb, func(r scanner) error {
		if err := scanConsent(&c)(r); err != nil {
			return err
		}
		consents = append(consents, c)
		return nil
	}, "SELECT "+consentColumns+" FROM consents WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?) "+
		"ORDER BY client_id", userID, micros(now))
	return consents, err
}

// DeleteConsent removes consent; removing unknown consent is not an error.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	_, err := s.write(ctx, "DELETE FROM consents WHERE user_id = ? AND client_id = ?", userID, clientID)
	return err
}

// AddLoginAttempt reserves one sign-in attempt for key and returns the
// count in the current window, this attempt included. One upsert does it,
// so concurrent attempts on any number of instances are all counted: a new
// key, or one whose window has ended, starts a window at now with a count
// of 1; otherwise the count grows. The upsert and the read of the count run
// in one transaction, which holds the row's lock from the upsert on, so
// each caller reads its own count. A window that is not positive is
// refused: it would start a window that has already ended.
//
// The counters are the rows of login_failures, the count in its column
// failures.
func (s *Store) AddLoginAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	if window <= 0 {
		return 0, fmt.Errorf("sqlstore: sign-in attempt window %v is not positive", window)
	}
	// Within the upsert, login_failures.col is the stored row and
	// excluded(col) the proposed one (window_start = now, expires_at = now +
	// window). The assignment to expires_at comes last because MySQL
	// evaluates them left to right and the ones above read it.
	ended := "login_failures.expires_at <= " + s.d.Excluded("window_start")
	upsert := "INSERT INTO login_failures (failure_key, failures, window_start, expires_at) VALUES (?, 1, ?, ?)" +
		s.d.Upsert("failure_key",
			"failures = CASE WHEN "+ended+" THEN 1 ELSE login_failures.failures + 1 END",
			"window_start = CASE WHEN "+ended+" THEN "+s.d.Excluded("window_start")+" ELSE login_failures.window_start END",
			"expires_at = CASE WHEN "+ended+" THEN "+s.d.Excluded("expires_at")+" ELSE login_failures.expires_at END")
	var count int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, upsert, key, micros(now), micros(now.Add(window))); err != nil {
			return err
		}
		return s.queryRow(ctx, tx, func(r scanner) error { return r.Scan(&count) },
			"SELECT failures FROM login_failures WHERE failure_key = ?", key)
	})
	return count, err
}

// ReleaseLoginAttempt gives back one attempt reserved in the window current
// at now (expires_at > now, as AddLoginAttempt decides). The UPDATE
// matches only a count above zero, so it never goes below; an unknown key
// or an ended window matches nothing, which is not an error.
func (s *Store) ReleaseLoginAttempt(ctx context.Context, key string, now time.Time) error {
	_, err := s.write(ctx, "UPDATE login_failures SET failures = failures - 1 "+
		"WHERE failure_key = ? AND expires_at > ? AND failures > 0", key, micros(now))
	return err
}

// ResetLoginAttempts forgets the attempts counted for key.
func (s *Store) ResetLoginAttempts(ctx context.Context, key string) error {
	_, err := s.write(ctx, "DELETE FROM login_failures WHERE failure_key = ?", key)
	return err
}

// DeleteExpiredSessions removes at most limit expired login sessions,
// consent records and attempt counters.
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.deleteBatches(ctx, before, limit,
		s.d.DeleteBatch("login_sessions", "id", "expires_at < ?"),
		s.d.DeleteBatch("consents", "(user_id, client_id)", "expires_at < ?"),
		s.d.DeleteBatch("login_failures", "failure_key", "expires_at < ?"),
	)
}
