package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func newAuthRequest(id string, expiresAt time.Time) storage.AuthRequest {
	return storage.AuthRequest{
		ID: id, ClientID: "webapp", RedirectURI: "https://127.0.0.1:5000/callback",
		State: "state-" + id, Nonce: "nonce-" + id, Scopes: []string{"openid", "profile"},
		ResponseType: "code", ResponseMode: "query",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		CreatedAt: base, ExpiresAt: expiresAt,
	}
}

func testAuthRequests(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	maxAge := 300 * time.Second
	full := newAuthRequest("ar-full", at(10*time.Minute))
	full.Prompt = []string{"login", "consent"}
	full.MaxAge = &maxAge
	full.LoginHint = "alice"
	bare := newAuthRequest("ar-bare", at(10*time.Minute))
	bare.Scopes = []string{}
	for _, r := range []storage.AuthRequest{full, bare} {
		must(t, s.CreateAuthRequest(ctx, r), "CreateAuthRequest "+r.ID)
		got, err := s.GetAuthRequest(ctx, r.ID)
		must(t, err, "GetAuthRequest "+r.ID)
		checkEqual(t, "GetAuthRequest "+r.ID, got, r)
	}
	wantErr(t, s.CreateAuthRequest(ctx, newAuthRequest(full.ID, base)), storage.ErrAlreadyExists, "CreateAuthRequest same ID")
	_, err := s.GetAuthRequest(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequest unknown")

	authTime := at(30 * time.Second)
	must(t, s.CompleteAuthRequest(ctx, full.ID, "u-alice", authTime, []string{"pwd"}), "CompleteAuthRequest")
	wantErr(t, s.CompleteAuthRequest(ctx, "nobody", "u-alice", authTime, nil), storage.ErrNotFound, "CompleteAuthRequest unknown")
	must(t, s.SetAuthCode(ctx, full.ID, "code-hash-1", at(time.Minute)), "SetAuthCode")
	wantErr(t, s.SetAuthCode(ctx, "nobody", "code-hash-x", at(time.Minute)), storage.ErrNotFound, "SetAuthCode unknown")
	wantErr(t, s.SetAuthCode(ctx, bare.ID, "code-hash-1", at(time.Minute)), storage.ErrAlreadyExists, "SetAuthCode with another request's code")

	want := full
	want.UserID, want.AuthTime, want.AMR, want.Done = "u-alice", authTime, []string{"pwd"}, true
	want.CodeHash, want.ExpiresAt = "code-hash-1", at(time.Minute)
	got, err := s.GetAuthRequest(ctx, full.ID)
	must(t, err, "GetAuthRequest after SetAuthCode")
	checkEqual(t, "GetAuthRequest after SetAuthCode", got, want)
	got, err = s.GetAuthRequestByCode(ctx, "code-hash-1")
	must(t, err, "GetAuthRequestByCode")
	checkEqual(t, "GetAuthRequestByCode", got, want)
	_, err = s.GetAuthRequestByCode(ctx, "code-hash-unknown")
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequestByCode unknown")
	_, err = s.GetAuthRequestByCode(ctx, "")
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequestByCode with no code")

	must(t, s.DeleteAuthRequest(ctx, full.ID), "DeleteAuthRequest")
	_, err = s.GetAuthRequest(ctx, full.ID)
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequest after DeleteAuthRequest")
	_, err = s.GetAuthRequestByCode(ctx, "code-hash-1")
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequestByCode after DeleteAuthRequest")
	must(t, s.DeleteAuthRequest(ctx, full.ID), "DeleteAuthRequest of a deleted request (not an error)")
}

// issueCode stores a completed request whose code expires at expiresAt.
func issueCode(t *testing.T, s storage.Store, id, codeHash string, expiresAt time.Time) {
	t.Helper()
	ctx := ctxFor(t)
	must(t, s.CreateAuthRequest(ctx, newAuthRequest(id, at(10*time.Minute))), "CreateAuthRequest")
	must(t, s.CompleteAuthRequest(ctx, id, "u-alice", base, []string{"pwd"}), "CompleteAuthRequest")
	must(t, s.SetAuthCode(ctx, id, codeHash, expiresAt), "SetAuthCode")
}

// testConsumeAuthCode: RFC 6749 §4.1.2, the client MUST NOT use the
// authorization code more than once; a second use is recognised (with the
// request, so the tokens issued from it can be revoked).
func testConsumeAuthCode(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	issueCode(t, s, "ar-1", "code-1", at(time.Minute))

	got, err := s.ConsumeAuthCode(ctx, "code-1", base)
	must(t, err, "ConsumeAuthCode")
	if got.ID != "ar-1" || !got.CodeUsed || got.UserID != "u-alice" {
		t.Errorf("ConsumeAuthCode returned %+v, want request ar-1, used, of u-alice", got)
	}
	for i, now := range []time.Time{base, at(time.Second), at(time.Hour)} {
		got, err = s.ConsumeAuthCode(ctx, "code-1", now)
		wantErr(t, err, storage.ErrAlreadyUsed, fmt.Sprintf("ConsumeAuthCode again (%d)", i))
		if got.ID != "ar-1" {
			t.Errorf("ConsumeAuthCode again returned request %q, want ar-1 with ErrAlreadyUsed", got.ID)
		}
	}
	stored, err := s.GetAuthRequest(ctx, "ar-1")
	must(t, err, "GetAuthRequest")
	if !stored.CodeUsed {
		t.Error("GetAuthRequest after ConsumeAuthCode: CodeUsed = false")
	}

	_, err = s.ConsumeAuthCode(ctx, "code-unknown", base)
	wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode unknown")
	_, err = s.ConsumeAuthCode(ctx, "", base)
	wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode empty")

	// A code is valid while now < ExpiresAt.
	issueCode(t, s, "ar-2", "code-2", at(time.Minute))
	_, err = s.ConsumeAuthCode(ctx, "code-2", at(time.Minute))
	wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode at expiry")
	_, err = s.ConsumeAuthCode(ctx, "code-2", at(time.Hour))
	wantErr(t, err, storage.ErrNotFound, "ConsumeAuthCode after expiry")
	_, err = s.ConsumeAuthCode(ctx, "code-2", at(time.Minute-time.Microsecond))
	must(t, err, "ConsumeAuthCode just before expiry")
}

func testConsumeAuthCodeRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for round := range 3 {
		id, code := fmt.Sprint("ar-race-", round), fmt.Sprint("code-race-", round)
		issueCode(t, s, id, code, at(time.Minute))
		results := make([]storage.AuthRequest, Racers)
		errs := race(Racers, func(i int) error {
			var err error
			results[i], err = s.ConsumeAuthCode(ctx, code, base)
			return err
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, storage.ErrAlreadyUsed):
				if results[i].ID != id {
					t.Errorf("round %d: a loser got request %q with ErrAlreadyUsed, want %q", round, results[i].ID, id)
				}
			default:
				t.Errorf("round %d: ConsumeAuthCode: %v, want nil or ErrAlreadyUsed", round, err)
			}
		}
		if wins != 1 {
			t.Errorf("round %d: %d of %d racing ConsumeAuthCode calls won, want exactly 1", round, wins, Racers)
		}
	}
}

// testMarkAuthCodeReplayed: the replayed flag is set only by
// MarkAuthCodeReplayed, is seen by every read of the request, and marking
// is idempotent.
func testMarkAuthCodeReplayed(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	issueCode(t, s, "ar-replayed", "code-replayed", at(time.Minute))
	issueCode(t, s, "ar-other", "code-other", at(time.Minute))

	// Consuming, even twice, does not set the flag.
	got, err := s.ConsumeAuthCode(ctx, "code-replayed", base)
	must(t, err, "ConsumeAuthCode")
	if got.Replayed {
		t.Error("ConsumeAuthCode: Replayed = true before any mark")
	}
	got, err = s.ConsumeAuthCode(ctx, "code-replayed", base)
	wantErr(t, err, storage.ErrAlreadyUsed, "ConsumeAuthCode again")
	if got.Replayed {
		t.Error("ConsumeAuthCode again: Replayed = true before any mark")
	}

	for i := range 2 { // marking again is not an error
		must(t, s.MarkAuthCodeReplayed(ctx, "ar-replayed"), fmt.Sprintf("MarkAuthCodeReplayed (%d)", i+1))
	}
	wantErr(t, s.MarkAuthCodeReplayed(ctx, "nobody"), storage.ErrNotFound, "MarkAuthCodeReplayed unknown")
	wantErr(t, s.MarkAuthCodeReplayed(ctx, ""), storage.ErrNotFound, "MarkAuthCodeReplayed empty")

	for _, tc := range []struct {
		name string
		read func() (storage.AuthRequest, error)
		err  error
		want bool
	}{
		{"GetAuthRequest", func() (storage.AuthRequest, error) { return s.GetAuthRequest(ctx, "ar-replayed") }, nil, true},
		{"GetAuthRequestByCode", func() (storage.AuthRequest, error) { return s.GetAuthRequestByCode(ctx, "code-replayed") }, nil, true},
		{"ConsumeAuthCode of a used code", func() (storage.AuthRequest, error) { return s.ConsumeAuthCode(ctx, "code-replayed", base) }, storage.ErrAlreadyUsed, true},
		{"GetAuthRequest of another request", func() (storage.AuthRequest, error) { return s.GetAuthRequest(ctx, "ar-other") }, nil, false},
		{"ConsumeAuthCode of another request", func() (storage.AuthRequest, error) { return s.ConsumeAuthCode(ctx, "code-other", base) }, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.read()
			if !errors.Is(err, tc.err) {
				t.Fatalf("got error %v, want %v", err, tc.err)
			}
			if got.Replayed != tc.want {
				t.Errorf("Replayed = %v, want %v", got.Replayed, tc.want)
			}
		})
	}

	// The mark changes nothing else.
	want := newAuthRequest("ar-replayed", at(time.Minute))
	want.UserID, want.AuthTime, want.AMR, want.Done = "u-alice", base, []string{"pwd"}, true
	want.CodeHash, want.CodeUsed, want.Replayed = "code-replayed", true, true
	got, err = s.GetAuthRequest(ctx, "ar-replayed")
	must(t, err, "GetAuthRequest")
	checkEqual(t, "GetAuthRequest after MarkAuthCodeReplayed", got, want)

	// Concurrent marks (replays arriving at once) all succeed.
	issueCode(t, s, "ar-race", "code-race", at(time.Minute))
	for _, err := range race(Racers, func(int) error { return s.MarkAuthCodeReplayed(ctx, "ar-race") }) {
		must(t, err, "racing MarkAuthCodeReplayed")
	}
	got, err = s.GetAuthRequest(ctx, "ar-race")
	must(t, err, "GetAuthRequest")
	if !got.Replayed {
		t.Error("Replayed = false after racing MarkAuthCodeReplayed calls")
	}
}

func testDeleteExpiredAuthRequests(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for i := range 5 {
		must(t, s.CreateAuthRequest(ctx, newAuthRequest(fmt.Sprint("expired-", i), at(time.Duration(i)*time.Second))), "CreateAuthRequest")
	}
	for i := range 2 {
		must(t, s.CreateAuthRequest(ctx, newAuthRequest(fmt.Sprint("live-", i), at(time.Hour))), "CreateAuthRequest")
	}
	before := at(time.Minute)
	for _, tc := range []struct {
		limit, want int
	}{{0, 0}, {3, 3}, {3, 2}, {3, 0}} {
		n, err := s.DeleteExpiredAuthRequests(ctx, before, tc.limit)
		must(t, err, "DeleteExpiredAuthRequests")
		if n != tc.want {
			t.Errorf("DeleteExpiredAuthRequests(limit %d) = %d, want %d", tc.limit, n, tc.want)
		}
	}
	for i := range 5 {
		_, err := s.GetAuthRequest(ctx, fmt.Sprint("expired-", i))
		wantErr(t, err, storage.ErrNotFound, "GetAuthRequest of an expired request")
	}
	for i := range 2 {
		_, err := s.GetAuthRequest(ctx, fmt.Sprint("live-", i))
		must(t, err, "GetAuthRequest of a live request")
	}
}
