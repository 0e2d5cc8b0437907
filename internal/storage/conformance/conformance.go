package conformance

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Racers is how many goroutines the concurrency tests start at once.
const Racers = 16

// RunTests runs the whole suite. newStore must return a new, empty store
// for each call; the suite closes it when the test ends.
func RunTests(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Store)
	}{
		{"Ping", testPing},
		{"Times", testTimes},
		{"Users", testUsers},
		{"DeleteUserRevokesGrants", testDeleteUserRevokesGrants},
		{"Clients", testClients},
		{"DeleteClientRevokesGrants", testDeleteClientRevokesGrants},
		{"ResourceServers", testResourceServers},
		{"AuthRequests", testAuthRequests},
		{"RedeemAuthCode", testRedeemAuthCode},
		{"RedeemAuthCodeRace", testRedeemAuthCodeRace},
		{"RedeemAuthCodeFailure", testRedeemAuthCodeFailure},
		{"DeleteExpiredAuthRequests", testDeleteExpiredAuthRequests},
		{"Grants", testGrants},
		{"RevokeUserGrants", testRevokeUserGrants},
		{"RevokeEndsCodes", testRevokeEndsCodes},
		{"RevokeUserClientGrants", testRevokeUserClientGrants},
		{"RevokeRedeemRace", testRevokeRedeemRace},
		{"ListUserGrants", testListUserGrants},
		{"GrantScopes", testGrantScopes},
		{"RefreshTokens", testRefreshTokens},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RotateRefreshTokenRace", testRotateRefreshTokenRace},
		{"RevokeGrantRotateRace", testRevokeGrantRotateRace},
		{"RevokedAccessTokens", testRevokedAccessTokens},
		{"AccessTokenState", testAccessTokenState},
		{"DeleteExpiredTokens", testDeleteExpiredTokens},
		{"LoginSessions", testLoginSessions},
		{"LoginSessionUserAgent", testLoginSessionUserAgent},
		{"ListUserLoginSessions", testListUserLoginSessions},
		{"DeleteOtherLoginSessions", testDeleteOtherLoginSessions},
		{"Consent", testConsent},
		{"ListUserConsents", testListUserConsents},
		{"LoginAttempts", testLoginAttempts},
		{"LoginAttemptsRace", testLoginAttemptsRace},
		{"ReleaseLoginAttempt", testReleaseLoginAttempt},
		{"ReleaseLoginAttemptRace", testReleaseLoginAttemptRace},
		{"DeleteExpiredSessions", testDeleteExpiredSessions},
		{"Keys", testKeys},
		{"CreateKeyIfNoSigner", testCreateKeyIfNoSigner},
		{"CreateKeyIfNoSignerRace", testCreateKeyIfNoSignerRace},
		{"Replays", testReplays},
		{"ReplaysRace", testReplaysRace},
		{"DeleteExpiredReplays", testDeleteExpiredReplays},
		{"Passkeys", testPasskeys},
		{"UsePasskey", testUsePasskey},
		{"UsePasskeyRace", testUsePasskeyRace},
		{"TOTP", testTOTP},
		{"UseTOTPStepRace", testUseTOTPStepRace},
		{"EnrolTOTP", testEnrolTOTP},
		{"EnrolTOTPRace", testEnrolTOTPRace},
		{"RecoveryCodes", testRecoveryCodes},
		{"UseRecoveryCodeRace", testUseRecoveryCodeRace},
		{"ResetUserFactors", testResetUserFactors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, s)
		})
	}
}

// base is the suite's "now": far enough from the present that nothing
// depends on the clock, with nanoseconds a microsecond-precision backend
// drops.
var base = time.Date(2031, time.March, 4, 5, 6, 7, 123456789, time.UTC)

// at returns base moved by d.
func at(d time.Duration) time.Time { return base.Add(d) }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// must fails the test on a non-nil error.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr checks that err matches target with errors.Is.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// checkEqual compares a record read back with the one stored: times must be
// in UTC and equal to the stored instant, to the microsecond at least; a nil
// list equals an empty one.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	var diffs []string
	compare(&diffs, "", reflect.ValueOf(got), reflect.ValueOf(want))
	for _, d := range diffs {
		t.Errorf("%s: %s", what, d)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func compare(diffs *[]string, path string, got, want reflect.Value) {
	if got.Type() == timeType {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(w) && !g.Equal(w.Truncate(time.Microsecond)) {
			*diffs = append(*diffs, fmt.Sprintf("%s = %v, want %v", path, g, w))
		}
		if g.Location() != time.UTC {
			*diffs = append(*diffs, fmt.Sprintf("%s = %v is not in UTC", path, g))
		}
		return
	}
	switch got.Kind() {
	case reflect.Struct:
		for i := range got.NumField() {
			compare(diffs, path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i))
		}
	case reflect.Slice:
		if got.Len() != want.Len() {
			*diffs = append(*diffs, fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface()))
			return
		}
		for i := range got.Len() {
			compare(diffs, fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i))
		}
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				*diffs = append(*diffs, fmt.Sprintf("%s = %v, want %v", path, got.Interface(), want.Interface()))
			}
			return
		}
		compare(diffs, "*"+path, got.Elem(), want.Elem())
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*diffs = append(*diffs, fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface()))
		}
	}
}

// race runs fn in n goroutines released at the same moment and returns
// their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

func testPing(t *testing.T, s storage.Store) {
	must(t, s.Ping(ctxFor(t)), "Ping")
}

// testTimes checks that instants survive the round trip whatever zone they
// were handed in, and come back in UTC.
func testTimes(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	zones := []*time.Location{time.UTC, time.FixedZone("UTC+5:30", 5*3600+1800), time.FixedZone("UTC-8", -8*3600)}
	for i, loc := range zones {
		when := time.Date(2031, time.December, 31, 23, 59, 59, 999999000, loc)
		u := storage.User{ID: fmt.Sprint("u", i), Username: fmt.Sprint("user", i), CreatedAt: when, UpdatedAt: when.Add(time.Microsecond)}
		must(t, s.CreateUser(ctx, u), "CreateUser")
		got, err := s.GetUser(ctx, u.ID)
		must(t, err, "GetUser")
		checkEqual(t, "user handed in "+loc.String(), got, u)
	}
}
