package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// A passkey's row is keyed by id_hash, the SHA-256 of its credential ID:
// an ID of up to 1,023 bytes is too long for a MySQL key (see the
// migration 00008_accounts.sql). credential_id keeps the ID itself.

const passkeyColumns = "credential_id, user_id, name, public_key, attestation_type, aaguid, transports, " +
	"sign_count, backup_eligible, backup_state, created_at, last_used_at"

// maxCredentialID is the longest credential ID WebAuthn allows, in bytes.
const maxCredentialID = 1023

// passkeyKey is the key of the passkey with credential ID id.
func passkeyKey(id []byte) []byte {
	sum := sha256.Sum256(id)
	return sum[:]
}

func scanPasskey(p *storage.Passkey) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&p.ID, &p.UserID, &p.Name, &p.PublicKey, &p.AttestationType, &p.AAGUID, list(&p.Transports),
			&p.SignCount, &p.BackupEligible, &p.BackupState, ts(&p.CreatedAt), ts(&p.LastUsedAt))
	}
}

// AddPasskey stores a passkey; storage.ErrAlreadyExists if its credential
// ID is taken. An ID that is empty or longer than maxCredentialID is
// refused.
func (s *Store) AddPasskey(ctx context.Context, p storage.Passkey) error {
	if len(p.ID) == 0 || len(p.ID) > maxCredentialID {
		return fmt.Errorf("sqlstore: passkey credential ID of %d bytes, want 1 to %d", len(p.ID), maxCredentialID)
	}
	_, err := s.write(ctx, "INSERT INTO passkeys (id_hash, "+passkeyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		passkeyKey(p.ID), p.ID, p.UserID, p.Name, nonNil(p.PublicKey), p.AttestationType, nonNil(p.AAGUID),
		encodeList(p.Transports), int64(p.SignCount), p.BackupEligible, p.BackupState, micros(p.CreatedAt),
		nullMicros(p.LastUsedAt))
	return err
}

// GetPasskey returns the passkey with credential ID id, of any user.
func (s *Store) GetPasskey(ctx context.Context, id []byte) (storage.Passkey, error) {
	var p storage.Passkey
	err := s.queryRow(ctx, s.rdb, scanPasskey(&p), "SELECT "+passkeyColumns+" FROM passkeys WHERE id_hash = ?", passkeyKey(id))
	return p, err
}

// ListPasskeys returns the user's passkeys, oldest first (the key orders
// passkeys created at the same instant).
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error) {
	var passkeys []storage.Passkey
	var p storage.Passkey
	err := s.queryRows(ctx, s.rdb, func(r scanner) error {
		if err := scanPasskey(&p)(r); err != nil {
			return err
		}
		passkeys = append(passkeys, p)
		return nil
	}, "SELECT "+passkeyColumns+" FROM passkeys WHERE user_id = ? ORDER BY created_at, id_hash", userID)
	return passkeys, err
}

// UsePasskey records a sign-in with the passkey by one conditional UPDATE,
// which matches the row only while its counter is oldCount. The database
// serialises UPDATEs of one row, and a later one matches against the row
// the earlier one left: of concurrent calls the first moves the counter
// and the others match nothing. An authenticator without a counter
// reports 0 every time (newCount == oldCount), which tells no sign-in
// from another: then the UPDATE also requires LastUsedAt to be before now,
// and the first sets it to now. Either way the winner changes the row, so
// it is seen whether the database counts matched rows or changed ones.
func (s *Store) UsePasskey(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, now time.Time) (bool, error) {
	update := "UPDATE passkeys SET sign_count = ?, backup_state = ?, last_used_at = ? WHERE id_hash = ? AND sign_count = ?"
	key := passkeyKey(id)
	args := []any{int64(newCount), backupState, micros(now), key, int64(oldCount)}
	if newCount == oldCount {
		update += " AND (last_used_at IS NULL OR last_used_at < ?)"
		args = append(args, micros(now))
	}
	return s.compareAndSet(ctx, update, args, "SELECT 1 FROM passkeys WHERE id_hash = ?", key)
}

// DeletePasskey removes the user's passkey; storage.ErrNotFound if the
// user has no passkey with this credential ID.
func (s *Store) DeletePasskey(ctx context.Context, userID string, id []byte) error {
	return s.writeOne(ctx, "DELETE FROM passkeys WHERE id_hash = ? AND user_id = ?", passkeyKey(id), userID)
}

// insertTOTP inserts a TOTP authenticator; its arguments are totpArgs.
const insertTOTP = "INSERT INTO totp_authenticators (user_id, secret, last_step, created_at) VALUES (?, ?, ?, ?)"

// totpArgs returns the arguments of insertTOTP for t.
func totpArgs(t storage.TOTP) []any {
	return []any{t.UserID, nonNil(t.Secret), t.LastStep, micros(t.CreatedAt)}
}

// SetTOTP creates or replaces the user's TOTP authenticator.
func (s *Store) SetTOTP(ctx context.Context, t storage.TOTP) error {
	_, err := s.write(ctx, insertTOTP+
		s.d.Upsert("user_id",
			"secret = "+s.d.Excluded("secret"),
			"last_step = "+s.d.Excluded("last_step"),
			"created_at = "+s.d.Excluded("created_at")),
		totpArgs(t)...)
	return err
}

// EnrolTOTP stores the user's first TOTP authenticator and replaces their
// recovery codes by these hashes, in one transaction. The authenticator
// goes in by a plain INSERT, which the primary key on user_id refuses when
// the user has one (storage.ErrAlreadyExists, and the transaction rolls
// back). Of concurrent calls for one user the database lets the first
// INSERT through and holds the others until it commits; they then conflict
// with its row.
func (s *Store) EnrolTOTP(ctx context.Context, t storage.TOTP, recoveryHashes []string, now time.Time) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, insertTOTP, totpArgs(t)...); err != nil {
			return err
		}
		return s.replaceRecoveryCodes(ctx, tx, t.UserID, recoveryHashes, now)
	})
}

// GetTOTP returns the user's TOTP authenticator; storage.ErrNotFound if the
// user has none.
func (s *Store) GetTOTP(ctx context.Context, userID string) (storage.TOTP, error) {
	var t storage.TOTP
	err := s.queryRow(ctx, s.rdb, func(r scanner) error {
		return r.Scan(&t.UserID, &t.Secret, &t.LastStep, ts(&t.CreatedAt))
	}, "SELECT user_id, secret, last_step, created_at FROM totp_authenticators WHERE user_id = ?", userID)
	return t, err
}

// UseTOTPStep moves the user's last step up to step by one conditional
// UPDATE, which matches the row only while its step is lower: of
// concurrent calls with one step the first moves it, and the others then
// match nothing (see UsePasskey).
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	return s.compareAndSet(ctx, "UPDATE totp_authenticators SET last_step = ? WHERE user_id = ? AND last_step < ?",
		[]any{step, userID, step}, "SELECT 1 FROM totp_authenticators WHERE user_id = ?", userID)
}

// DeleteTOTP removes the user's TOTP authenticator and recovery codes, in
// one transaction.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, stmt := range []string{
			"DELETE FROM totp_authenticators WHERE user_id = ?",
			"DELETE FROM recovery_codes WHERE user_id = ?",
		} {
			if _, err := s.exec(ctx, tx, stmt, userID); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetRecoveryCodes replaces the user's recovery codes, used or not, by
// these hashes, in one transaction. A hash given twice is
// storage.ErrAlreadyExists, and the codes stay as they were.
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.replaceRecoveryCodes(ctx, tx, userID, hashes, now)
	})
}

// replaceRecoveryCodes replaces, on tx, the user's recovery codes by these
// hashes. A hash given twice is storage.ErrAlreadyExists, and the caller
// must then roll tx back: the old codes are gone by then.
func (s *Store) replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID string, hashes []string, now time.Time) error {
	if _, err := s.exec(ctx, tx, "DELETE FROM recovery_codes WHERE user_id = ?", userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := s.exec(ctx, tx, "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
			userID, h, micros(now)); err != nil {
			return err
		}
	}
	return nil
}

// UseRecoveryCode spends the user's unused code with this hash by one
// conditional UPDATE, which matches the row only while used_at is NULL: of
// concurrent calls the first sets it, and the others then match nothing
// (see UsePasskey).
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) (bool, error) {
	res, err := s.write(ctx, "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
		micros(now), userID, hash)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.d.mapErr(err)
	}
	return n == 1, nil
}

// CountRecoveryCodes returns how many of the user's codes are unused.
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.queryRow(ctx, s.rdb, func(r scanner) error { return r.Scan(&n) },
		"SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL", userID)
	return n, err
}

// ResetUserFactors removes every passkey, the TOTP authenticator and the
// recovery codes of the user, in one transaction, and returns how many
// passkeys and TOTP authenticators it removed.
func (s *Store) ResetUserFactors(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		n, err = s.deleteFactors(ctx, tx, userID)
		return err
	})
	return n, err
}

// deleteFactors removes, on tx, the user's passkeys, TOTP authenticator
// and recovery codes, and returns how many passkeys and TOTP
// authenticators it removed.
func (s *Store) deleteFactors(ctx context.Context, tx *sql.Tx, userID string) (int, error) {
	removed := 0
	for _, del := range []struct {
		stmt   string
		counts bool // a factor, which the count includes
	}{
		{"DELETE FROM passkeys WHERE user_id = ?", true},
		{"DELETE FROM totp_authenticators WHERE user_id = ?", true},
		{"DELETE FROM recovery_codes WHERE user_id = ?", false},
	} {
		res, err := s.exec(ctx, tx, del.stmt, userID)
		if err != nil {
			return 0, err
		}
		if !del.counts {
			continue
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, s.d.mapErr(err)
		}
		removed += int(n)
	}
	return removed, nil
}

// compareAndSet runs update, a conditional UPDATE of at most one row, and
// reports whether it matched the row. When it did not, it runs exists, a
// query of that row with args key, and returns storage.ErrNotFound if that
// finds none.
func (s *Store) compareAndSet(ctx context.Context, update string, args []any, exists string, key ...any) (bool, error) {
	res, err := s.write(ctx, update, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.d.mapErr(err)
	}
	if n == 1 {
		return true, nil
	}
	var one int
	err = s.queryRow(ctx, s.rdb, func(r scanner) error { return r.Scan(&one) }, exists, key...)
	return false, err
}
