// Package conformance is the contract every storage backend must pass:
// RunTests exercises each method of storage.Store against a fresh store —
// CRUD of every record, the typed errors, times in UTC to the microsecond,
// lists (empty ones too), expiry and batch limits, and the races the
// protocol depends on (an authorization code redeemed once, a refresh token
// rotated once, whatever the number of concurrent callers; a revocation
// that reaches every token of its grant, whatever ran at the same time;
// every concurrent sign-in attempt counted). A new backend passes this
// suite or does not ship.
//
// A backend's tests call it in one line:
//
//	conformance.RunTests(t, func(t *testing.T) storage.Store { return newEmptyStore(t) })
package conformance
