// Package todoclient is a small client for the todos resource of an
// Eve-style API (Gatehouse's api role): list a page, create, patch and delete
// documents with Eve's optimistic concurrency (If-Match with the document's
// _etag).
//
// It knows little about OAuth: every call takes the access token to present
// (a Token: a bearer token, or a DPoP-bound token with its key, sent with a
// proof of the key), and failures come back as typed errors (ErrUnauthorized,
// ErrPreconditionFailed, ...) so the caller can refresh a token, ask the
// person to reload, or show an error page.
package todoclient
