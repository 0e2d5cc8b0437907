package conformance

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// newPasskey returns a passkey of user with credential ID id, created at
// base+created, never used.
func newPasskey(id, user string, created time.Duration) storage.Passkey {
	return storage.Passkey{
		ID: []byte(id), UserID: user, Name: "Key of " + user,
		PublicKey:       []byte("\xa5\x01\x02\x03\x26 COSE key of " + id),
		AttestationType: "none", AAGUID: bytes.Repeat([]byte{0xad}, 16),
		Transports: []string{"internal", "hybrid"}, SignCount: 5,
		BackupEligible: true, BackupState: true, CreatedAt: at(created),
	}
}

// testPasskeys: passkeys round-trip whole, are found by their credential
// ID compared as bytes, listed by user oldest first, and deleted only by
// their user.
func testPasskeys(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	full := newPasskey("cred-full", "u-alice", 0)
	full.LastUsedAt = at(time.Minute)
	bare := storage.Passkey{ID: []byte{0}, UserID: "u-alice", CreatedAt: at(-time.Hour)}
	longest := newPasskey(string(bytes.Repeat([]byte{0xfe}, 1023)), "u-bob", 0)
	// IDs that differ from full's only where a collation or padding would
	// not tell them apart.
	padded := newPasskey("cred-full ", "u-bob", time.Second)
	nul := newPasskey("cred-full\x00", "u-bob", 2*time.Second)
	upper := newPasskey("CRED-FULL", "u-bob", 3*time.Second)
	for _, p := range []storage.Passkey{full, bare, longest, padded, nul, upper} {
		must(t, s.AddPasskey(ctx, p), fmt.Sprintf("AddPasskey %q", p.ID))
		got, err := s.GetPasskey(ctx, p.ID)
		must(t, err, "GetPasskey")
		checkEqual(t, fmt.Sprintf("GetPasskey %q", p.ID), got, p)
	}

	taken := newPasskey("cred-full", "u-bob", time.Hour)
	wantErr(t, s.AddPasskey(ctx, taken), storage.ErrAlreadyExists, "AddPasskey with another user's credential ID")
	for _, id := range [][]byte{nil, bytes.Repeat([]byte{0xfe}, 1024)} {
		if err := s.AddPasskey(ctx, newPasskey(string(id), "u-alice", 0)); err == nil {
			t.Errorf("AddPasskey with a credential ID of %d bytes succeeded, want an error", len(id))
		}
	}
	for _, id := range []string{"cred-nobody", "cred-ful", ""} {
		_, err := s.GetPasskey(ctx, []byte(id))
		wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("GetPasskey(%q)", id))
	}

	for _, tc := range []struct {
		user string
		want []storage.Passkey
	}{
		{"u-alice", []storage.Passkey{bare, full}},
		{"u-bob", []storage.Passkey{longest, padded, nul, upper}},
		{"u-nobody", nil},
	} {
		got, err := s.ListPasskeys(ctx, tc.user)
		must(t, err, "ListPasskeys")
		checkEqual(t, "ListPasskeys of "+tc.user, got, tc.want)
	}

	wantErr(t, s.DeletePasskey(ctx, "u-bob", full.ID), storage.ErrNotFound, "DeletePasskey of another user's passkey")
	wantErr(t, s.DeletePasskey(ctx, "u-alice", []byte("cred-nobody")), storage.ErrNotFound, "DeletePasskey unknown")
	must(t, s.DeletePasskey(ctx, "u-alice", full.ID), "DeletePasskey")
	wantErr(t, s.DeletePasskey(ctx, "u-alice", full.ID), storage.ErrNotFound, "DeletePasskey twice")
	_, err := s.GetPasskey(ctx, full.ID)
	wantErr(t, err, storage.ErrNotFound, "GetPasskey after DeletePasskey")
	for _, p := range []storage.Passkey{bare, padded, nul, upper} {
		_, err := s.GetPasskey(ctx, p.ID)
		must(t, err, fmt.Sprintf("GetPasskey %q after deleting another", p.ID))
	}
	// The credential ID is free again.
	must(t, s.AddPasskey(ctx, taken), "AddPasskey reusing a deleted passkey's credential ID")
}

// testUsePasskey: a sign-in records the counter, the backup state and the
// time only if the counter is still the one the caller read. An
// authenticator without a counter (0 each time) is told apart by the
// time: a sign-in at the time of the last one, or before it, is refused.
func testUsePasskey(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	counted := newPasskey("cred-counted", "u-alice", 0)
	uncounted := newPasskey("cred-uncounted", "u-alice", time.Second)
	uncounted.SignCount = 0
	other := newPasskey("cred-other", "u-alice", 2*time.Second)
	for _, p := range []storage.Passkey{counted, uncounted, other} {
		must(t, s.AddPasskey(ctx, p), "AddPasskey")
	}
	for i, tc := range []struct {
		name            string
		p               *storage.Passkey
		oldCount, count uint32
		backup          bool
		now             time.Time
		want            bool
		wantCount       uint32 // the state after the call
		wantBackup      bool
		wantLastUsed    time.Time
	}{
		{"counter moves", &counted, 5, 6, false, at(time.Minute), true, 6, false, at(time.Minute)},
		{"stale counter", &counted, 5, 7, true, at(2 * time.Minute), false, 6, false, at(time.Minute)},
		{"counter moves again", &counted, 6, 9, true, at(3 * time.Minute), true, 9, true, at(3 * time.Minute)},
		{"counter moves, at the time of the last", &counted, 9, 10, true, at(3 * time.Minute), true, 10, true, at(3 * time.Minute)},
		{"never used, no counter", &uncounted, 0, 0, true, at(time.Minute), true, 0, true, at(time.Minute)},
		{"no counter, at the time of the last", &uncounted, 0, 0, false, at(time.Minute), false, 0, true, at(time.Minute)},
		{"no counter, before the last", &uncounted, 0, 0, false, at(30 * time.Second), false, 0, true, at(time.Minute)},
		{"no counter, later", &uncounted, 0, 0, false, at(2 * time.Minute), true, 0, false, at(2 * time.Minute)},
		{"a counter starts", &uncounted, 0, 1, false, at(2 * time.Minute), true, 1, false, at(2 * time.Minute)},
		{"stale zero", &uncounted, 0, 0, false, at(3 * time.Minute), false, 1, false, at(2 * time.Minute)},
	} {
		what := fmt.Sprintf("%d: UsePasskey(%d → %d) of %s: %s", i, tc.oldCount, tc.count, tc.p.ID, tc.name)
		ok, err := s.UsePasskey(ctx, tc.p.ID, tc.oldCount, tc.count, tc.backup, tc.now)
		must(t, err, what)
		if ok != tc.want {
			t.Errorf("%s = %v, want %v", what, ok, tc.want)
		}
		tc.p.SignCount, tc.p.BackupState, tc.p.LastUsedAt = tc.wantCount, tc.wantBackup, tc.wantLastUsed
		got, err := s.GetPasskey(ctx, tc.p.ID)
		must(t, err, "GetPasskey")
		checkEqual(t, "after "+what, got, *tc.p)
	}
	got, err := s.GetPasskey(ctx, other.ID)
	must(t, err, "GetPasskey")
	checkEqual(t, "a passkey not used", got, other)
	_, err = s.UsePasskey(ctx, []byte("cred-nobody"), 0, 1, false, base)
	wantErr(t, err, storage.ErrNotFound, "UsePasskey unknown")
}

// testUsePasskeyRace: of sign-ins racing with one counter, one succeeds and
// its counter is stored; so for an authenticator without a counter, of
// sign-ins racing at one time.
func testUsePasskeyRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, tc := range []struct {
		name     string
		oldCount uint32
		count    func(i int) uint32
	}{
		{"counter", 5, func(i int) uint32 { return uint32(6 + i) }},
		{"no counter", 0, func(int) uint32 { return 0 }},
	} {
		p := newPasskey("cred-"+tc.name, "u-alice", 0)
		p.SignCount = tc.oldCount
		must(t, s.AddPasskey(ctx, p), "AddPasskey")
		won := make([]bool, Racers)
		errs := race(Racers, func(i int) error {
			var err error
			won[i], err = s.UsePasskey(ctx, p.ID, tc.oldCount, tc.count(i), i%2 == 0, at(time.Minute))
			return err
		})
		winner := onlyWinner(t, "UsePasskey with "+tc.name, won, errs)
		if winner < 0 {
			continue
		}
		p.SignCount, p.BackupState, p.LastUsedAt = tc.count(winner), winner%2 == 0, at(time.Minute)
		got, err := s.GetPasskey(ctx, p.ID)
		must(t, err, "GetPasskey")
		checkEqual(t, "the passkey after racing UsePasskey with "+tc.name, got, p)
	}
}

// onlyWinner checks that exactly one racer won and none failed, and
// returns the winner (-1 if none or several).
func onlyWinner(t *testing.T, what string, won []bool, errs []error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		must(t, err, fmt.Sprintf("%s: racer %d", what, i))
		if won[i] {
			winner, wins = i, wins+1
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d of %d racers won, want 1", what, wins, len(won))
		return -1
	}
	return winner
}

// testTOTP: the authenticator round-trips and is replaced whole; a time
// step is accepted only above the last one; deleting it removes the
// recovery codes too.
func testTOTP(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	_, err := s.GetTOTP(ctx, "u-alice")
	wantErr(t, err, storage.ErrNotFound, "GetTOTP of a user without one")
	alice := storage.TOTP{UserID: "u-alice", Secret: []byte("\x00sealed secret\xff"), LastStep: 0, CreatedAt: base}
	bob := storage.TOTP{UserID: "u-bob", Secret: []byte("bob's"), LastStep: 100, CreatedAt: base}
	for _, tt := range []storage.TOTP{alice, bob} {
		must(t, s.SetTOTP(ctx, tt), "SetTOTP")
		got, err := s.GetTOTP(ctx, tt.UserID)
		must(t, err, "GetTOTP")
		checkEqual(t, "GetTOTP", got, tt)
	}

	for _, tc := range []struct {
		step int64
		want bool
	}{
		{59_000_000, true},
		{59_000_000, false}, // the same code again
		{58_999_999, false},
		{59_000_002, true},
		{59_000_001, false},
	} {
		ok, err := s.UseTOTPStep(ctx, "u-alice", tc.step)
		must(t, err, "UseTOTPStep")
		if ok != tc.want {
			t.Errorf("UseTOTPStep(%d) = %v, want %v", tc.step, ok, tc.want)
		}
	}
	alice.LastStep = 59_000_002
	got, err := s.GetTOTP(ctx, "u-alice")
	must(t, err, "GetTOTP")
	checkEqual(t, "after UseTOTPStep", got, alice)
	_, err = s.UseTOTPStep(ctx, "u-nobody", 1)
	wantErr(t, err, storage.ErrNotFound, "UseTOTPStep of a user without one")

	// Replacing starts again from the new authenticator's step.
	replaced := storage.TOTP{UserID: "u-alice", Secret: []byte("new secret"), CreatedAt: at(time.Hour)}
	must(t, s.SetTOTP(ctx, replaced), "SetTOTP again")
	got, err = s.GetTOTP(ctx, "u-alice")
	must(t, err, "GetTOTP")
	checkEqual(t, "after replacing", got, replaced)
	if ok, err := s.UseTOTPStep(ctx, "u-alice", 1); err != nil || !ok {
		t.Errorf("UseTOTPStep(1) of the replaced authenticator = %v, %v; want true", ok, err)
	}
	got, err = s.GetTOTP(ctx, "u-bob")
	must(t, err, "GetTOTP")
	checkEqual(t, "another user's authenticator", got, bob)

	must(t, s.SetRecoveryCodes(ctx, "u-alice", []string{"h1", "h2"}, base), "SetRecoveryCodes")
	must(t, s.SetRecoveryCodes(ctx, "u-bob", []string{"h1"}, base), "SetRecoveryCodes")
	must(t, s.DeleteTOTP(ctx, "u-alice"), "DeleteTOTP")
	_, err = s.GetTOTP(ctx, "u-alice")
	wantErr(t, err, storage.ErrNotFound, "GetTOTP after DeleteTOTP")
	checkRecoveryCodes(t, s, "u-alice", 0, "after DeleteTOTP")
	_, err = s.GetTOTP(ctx, "u-bob")
	must(t, err, "another user's authenticator after DeleteTOTP")
	checkRecoveryCodes(t, s, "u-bob", 1, "another user's after DeleteTOTP")
	must(t, s.DeleteTOTP(ctx, "u-alice"), "DeleteTOTP twice (not an error)")
}

// testUseTOTPStepRace: of codes of one step racing, one is accepted.
func testUseTOTPStepRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	must(t, s.SetTOTP(ctx, storage.TOTP{UserID: "u-alice", Secret: []byte("s"), LastStep: 100, CreatedAt: base}), "SetTOTP")
	for _, step := range []int64{101, 102} {
		won := make([]bool, Racers)
		errs := race(Racers, func(i int) error {
			var err error
			won[i], err = s.UseTOTPStep(ctx, "u-alice", step)
			return err
		})
		onlyWinner(t, fmt.Sprint("UseTOTPStep ", step), won, errs)
		got, err := s.GetTOTP(ctx, "u-alice")
		must(t, err, "GetTOTP")
		if got.LastStep != step {
			t.Errorf("LastStep after racing UseTOTPStep(%d) = %d", step, got.LastStep)
		}
	}
}

// checkTOTP checks that the user's TOTP authenticator is want.
func checkTOTP(t *testing.T, s storage.Store, want storage.TOTP, what string) {
	t.Helper()
	got, err := s.GetTOTP(ctxFor(t), want.UserID)
	must(t, err, what+": GetTOTP")
	checkEqual(t, what+": GetTOTP", got, want)
}

// checkUseRecoveryCode checks whether the user has an unused code with
// this hash, by spending it.
func checkUseRecoveryCode(t *testing.T, s storage.Store, user, hash string, want bool, what string) {
	t.Helper()
	ok, err := s.UseRecoveryCode(ctxFor(t), user, hash, at(time.Minute))
	must(t, err, what+": UseRecoveryCode")
	if ok != want {
		t.Errorf("%s: UseRecoveryCode(%q, %q) = %v, want %v", what, user, hash, ok, want)
	}
}

// testEnrolTOTP: the first enrolment stores the authenticator and replaces
// the codes left; a later one, while the user has an authenticator, is
// ErrAlreadyExists and changes neither; one that fails half-way leaves
// nothing.
func testEnrolTOTP(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	first := storage.TOTP{UserID: "u-alice", Secret: []byte("\x00first\xff"), LastStep: 7, CreatedAt: base}
	must(t, s.SetRecoveryCodes(ctx, "u-alice", []string{"h-left"}, base), "SetRecoveryCodes")
	must(t, s.EnrolTOTP(ctx, first, []string{"h1", "h2", "h3"}, at(time.Second)), "EnrolTOTP")
	checkTOTP(t, s, first, "after EnrolTOTP")
	checkRecoveryCodes(t, s, "u-alice", 3, "after EnrolTOTP")
	checkUseRecoveryCode(t, s, "u-alice", "h-left", false, "a code left before EnrolTOTP")

	second := storage.TOTP{UserID: "u-alice", Secret: []byte("second"), CreatedAt: at(time.Hour)}
	err := s.EnrolTOTP(ctx, second, []string{"h4", "h5"}, at(time.Hour))
	wantErr(t, err, storage.ErrAlreadyExists, "EnrolTOTP again")
	checkTOTP(t, s, first, "after EnrolTOTP again")
	checkRecoveryCodes(t, s, "u-alice", 3, "after EnrolTOTP again")
	checkUseRecoveryCode(t, s, "u-alice", "h4", false, "a code of the refused enrolment")
	checkUseRecoveryCode(t, s, "u-alice", "h1", true, "a code of the first enrolment")

	// An authenticator stored by SetTOTP counts as one.
	bob := storage.TOTP{UserID: "u-bob", Secret: []byte("bob's"), CreatedAt: base}
	must(t, s.SetTOTP(ctx, bob), "SetTOTP")
	err = s.EnrolTOTP(ctx, storage.TOTP{UserID: "u-bob", Secret: []byte("x"), CreatedAt: base}, []string{"hb"}, base)
	wantErr(t, err, storage.ErrAlreadyExists, "EnrolTOTP over SetTOTP")
	checkTOTP(t, s, bob, "after EnrolTOTP over SetTOTP")
	checkRecoveryCodes(t, s, "u-bob", 0, "after EnrolTOTP over SetTOTP")

	// Deleting the authenticator makes room for a new enrolment.
	must(t, s.DeleteTOTP(ctx, "u-alice"), "DeleteTOTP")
	must(t, s.EnrolTOTP(ctx, second, []string{"h4", "h5"}, at(time.Hour)), "EnrolTOTP after DeleteTOTP")
	checkTOTP(t, s, second, "after EnrolTOTP after DeleteTOTP")
	checkRecoveryCodes(t, s, "u-alice", 2, "after EnrolTOTP after DeleteTOTP")
	checkUseRecoveryCode(t, s, "u-alice", "h2", false, "a code of the deleted enrolment")
	checkUseRecoveryCode(t, s, "u-alice", "h4", true, "a code of the new enrolment")
	checkTOTP(t, s, bob, "another user's authenticator")

	// A hash given twice fails the recovery codes after the authenticator
	// went in: the whole enrolment rolls back, the codes left included.
	carol := storage.TOTP{UserID: "u-carol", Secret: []byte("carol's"), CreatedAt: base}
	must(t, s.SetRecoveryCodes(ctx, "u-carol", []string{"h-left"}, base), "SetRecoveryCodes")
	if err := s.EnrolTOTP(ctx, carol, []string{"h1", "h2", "h1"}, base); err == nil {
		t.Errorf("EnrolTOTP with a hash twice succeeded, want an error")
	}
	_, err = s.GetTOTP(ctx, "u-carol")
	wantErr(t, err, storage.ErrNotFound, "GetTOTP after a failed EnrolTOTP")
	checkRecoveryCodes(t, s, "u-carol", 1, "after a failed EnrolTOTP")
	checkUseRecoveryCode(t, s, "u-carol", "h2", false, "a code of the failed enrolment")
	must(t, s.EnrolTOTP(ctx, carol, []string{"h1", "h2"}, base), "EnrolTOTP after a failed one")
	checkTOTP(t, s, carol, "after EnrolTOTP after a failed one")
	checkRecoveryCodes(t, s, "u-carol", 2, "after EnrolTOTP after a failed one")
}

// testEnrolTOTPRace: of enrolments of one user racing, one succeeds, and
// its authenticator and codes are the ones stored.
func testEnrolTOTPRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	must(t, s.SetRecoveryCodes(ctx, "u-alice", []string{"h-left"}, base), "SetRecoveryCodes")
	// enrolment returns racer i's authenticator and recovery code hashes.
	enrolment := func(i int) (storage.TOTP, []string) {
		tt := storage.TOTP{UserID: "u-alice", Secret: fmt.Appendf(nil, "secret %d", i), LastStep: int64(i),
			CreatedAt: at(time.Duration(i) * time.Second)}
		return tt, []string{fmt.Sprint("h", i, "a"), fmt.Sprint("h", i, "b")}
	}
	errs := race(Racers, func(i int) error {
		tt, hashes := enrolment(i)
		return s.EnrolTOTP(ctx, tt, hashes, base)
	})
	winner, wins := -1, 0
	for i, err := range errs {
		if err == nil {
			winner, wins = i, wins+1
		} else {
			wantErr(t, err, storage.ErrAlreadyExists, fmt.Sprintf("racing EnrolTOTP: racer %d", i))
		}
	}
	if wins != 1 {
		t.Fatalf("racing EnrolTOTP: %d of %d racers succeeded, want 1", wins, Racers)
	}
	won, hashes := enrolment(winner)
	checkTOTP(t, s, won, "after racing EnrolTOTP")
	checkRecoveryCodes(t, s, "u-alice", 2, "after racing EnrolTOTP")
	checkUseRecoveryCode(t, s, "u-alice", "h-left", false, "a code left before racing EnrolTOTP")
	for i := range Racers {
		if i != winner {
			_, lost := enrolment(i)
			checkUseRecoveryCode(t, s, "u-alice", lost[0], false, fmt.Sprint("a code of losing racer ", i))
		}
	}
	checkUseRecoveryCode(t, s, "u-alice", hashes[0], true, "a code of the winner")
	checkRecoveryCodes(t, s, "u-alice", 1, "after using a code of the winner")
}

// checkRecoveryCodes checks how many of the user's recovery codes are
// unused.
func checkRecoveryCodes(t *testing.T, s storage.Store, user string, want int, what string) {
	t.Helper()
	n, err := s.CountRecoveryCodes(ctxFor(t), user)
	must(t, err, "CountRecoveryCodes")
	if n != want {
		t.Errorf("%s: CountRecoveryCodes(%q) = %d, want %d", what, user, n, want)
	}
}

// testRecoveryCodes: each code is spent once, by its user; setting codes
// replaces all of them, used or not, or none when it fails.
func testRecoveryCodes(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	checkRecoveryCodes(t, s, "u-alice", 0, "before SetRecoveryCodes")
	must(t, s.SetRecoveryCodes(ctx, "u-alice", []string{"h1", "h2", "h3"}, base), "SetRecoveryCodes")
	must(t, s.SetRecoveryCodes(ctx, "u-bob", []string{"h1", "hb"}, base), "SetRecoveryCodes")
	checkRecoveryCodes(t, s, "u-alice", 3, "after SetRecoveryCodes")

	use := func(user, hash string, want bool, left int) {
		t.Helper()
		ok, err := s.UseRecoveryCode(ctx, user, hash, at(time.Minute))
		must(t, err, "UseRecoveryCode")
		if ok != want {
			t.Errorf("UseRecoveryCode(%q, %q) = %v, want %v", user, hash, ok, want)
		}
		checkRecoveryCodes(t, s, user, left, fmt.Sprintf("after UseRecoveryCode(%q, %q)", user, hash))
	}
	use("u-alice", "h1", true, 2)
	use("u-alice", "h1", false, 2) // spent
	use("u-alice", "hb", false, 2) // another user's
	use("u-alice", "h", false, 2)
	use("u-alice", "h2 ", false, 2)
	use("u-nobody", "h2", false, 0)
	checkRecoveryCodes(t, s, "u-bob", 2, "another user's codes")
	use("u-bob", "h1", true, 1) // the same hash is another code of another user

	// New codes replace the old ones, spent or not.
	must(t, s.SetRecoveryCodes(ctx, "u-alice", []string{"h1", "h4"}, at(time.Hour)), "SetRecoveryCodes again")
	checkRecoveryCodes(t, s, "u-alice", 2, "after replacing")
	use("u-alice", "h2", false, 2)
	use("u-alice", "h1", true, 1)

	// A hash given twice stores nothing.
	err := s.SetRecoveryCodes(ctx, "u-alice", []string{"h5", "h6", "h5"}, at(2*time.Hour))
	wantErr(t, err, storage.ErrAlreadyExists, "SetRecoveryCodes with a hash twice")
	checkRecoveryCodes(t, s, "u-alice", 1, "after a failed SetRecoveryCodes")
	use("u-alice", "h5", false, 1)
	use("u-alice", "h4", true, 0)

	must(t, s.SetRecoveryCodes(ctx, "u-alice", nil, at(3*time.Hour)), "SetRecoveryCodes with none")
	checkRecoveryCodes(t, s, "u-alice", 0, "after SetRecoveryCodes with none")
	checkRecoveryCodes(t, s, "u-bob", 1, "another user's codes")
}

// testUseRecoveryCodeRace: of uses of one code racing, one succeeds.
func testUseRecoveryCodeRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	must(t, s.SetRecoveryCodes(ctx, "u-alice", []string{"h1", "h2"}, base), "SetRecoveryCodes")
	won := make([]bool, Racers)
	errs := race(Racers, func(i int) error {
		var err error
		won[i], err = s.UseRecoveryCode(ctx, "u-alice", "h1", at(time.Minute))
		return err
	})
	onlyWinner(t, "UseRecoveryCode", won, errs)
	checkRecoveryCodes(t, s, "u-alice", 1, "after racing UseRecoveryCode")
}

// addFactors gives the user two passkeys, a TOTP authenticator and two
// recovery codes.
func addFactors(t *testing.T, s storage.Store, user string) {
	t.Helper()
	ctx := ctxFor(t)
	for i := range 2 {
		must(t, s.AddPasskey(ctx, newPasskey(fmt.Sprint("cred-", user, i), user, 0)), "AddPasskey")
	}
	must(t, s.SetTOTP(ctx, storage.TOTP{UserID: user, Secret: []byte("s"), CreatedAt: base}), "SetTOTP")
	must(t, s.SetRecoveryCodes(ctx, user, []string{"h1", "h2"}, base), "SetRecoveryCodes")
}

// checkFactors checks that the user has the factors addFactors gives
// (has), or none.
func checkFactors(t *testing.T, s storage.Store, user string, has bool, what string) {
	t.Helper()
	ctx := ctxFor(t)
	wantPasskeys, wantCodes, wantTOTP := 0, 0, storage.ErrNotFound
	if has {
		wantPasskeys, wantCodes, wantTOTP = 2, 2, nil
	}
	passkeys, err := s.ListPasskeys(ctx, user)
	must(t, err, "ListPasskeys")
	if len(passkeys) != wantPasskeys {
		t.Errorf("%s: %s has %d passkeys, want %d", what, user, len(passkeys), wantPasskeys)
	}
	for i := range 2 {
		_, err := s.GetPasskey(ctx, []byte(fmt.Sprint("cred-", user, i)))
		if has {
			must(t, err, what+": GetPasskey")
		} else {
			wantErr(t, err, storage.ErrNotFound, what+": GetPasskey")
		}
	}
	_, err = s.GetTOTP(ctx, user)
	if wantTOTP == nil {
		must(t, err, what+": GetTOTP")
	} else {
		wantErr(t, err, wantTOTP, what+": GetTOTP")
	}
	checkRecoveryCodes(t, s, user, wantCodes, what)
}

// testResetUserFactors: every factor of the user goes, in one call that
// counts the passkeys and the TOTP authenticator; other users' stay.
func testResetUserFactors(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	addFactors(t, s, "u-alice")
	addFactors(t, s, "u-bob")
	must(t, s.SetRecoveryCodes(ctx, "u-carol", []string{"h1"}, base), "SetRecoveryCodes")
	for _, tc := range []struct {
		user string
		want int
	}{
		{"u-alice", 3},
		{"u-alice", 0},
		{"u-carol", 0}, // recovery codes are not factors of their own
		{"u-nobody", 0},
	} {
		n, err := s.ResetUserFactors(ctx, tc.user)
		must(t, err, "ResetUserFactors")
		if n != tc.want {
			t.Errorf("ResetUserFactors(%q) = %d, want %d", tc.user, n, tc.want)
		}
	}
	checkFactors(t, s, "u-alice", false, "after ResetUserFactors")
	checkRecoveryCodes(t, s, "u-carol", 0, "after ResetUserFactors")
	checkFactors(t, s, "u-bob", true, "another user's after ResetUserFactors")
}
