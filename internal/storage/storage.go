package storage

import (
	"context"
	"errors"
	"time"
)

// Errors every backend maps its own failures to, so callers can use errors.Is.
var (
	// ErrNotFound: the record does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists: a record with the same unique key exists.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrAlreadyUsed: a single-use record (authorization code, refresh token)
	// was consumed before. The record is still returned where the method says
	// so, so the caller can revoke what was issued from it.
	ErrAlreadyUsed = errors.New("storage: already used")
	// ErrPreconditionFailed: a compare-and-swap lost (for example a stale ETag).
	ErrPreconditionFailed = errors.New("storage: precondition failed")
	// ErrUnavailable: the database cannot be reached. Callers answer 503.
	ErrUnavailable = errors.New("storage: unavailable")
)

// All times handed to and returned from a backend are in UTC; backends store
// them in UTC and return them with at least microsecond precision.

// User is a person who can sign in at the authorization server.
type User struct {
	ID           string // stable subject identifier ("sub")
	Username     string // unique
	Email        string
	Name         string
	PasswordHash string // PHC-formatted argon2id hash; never the password
	// Disabled users cannot sign in, and nothing issued to them is
	// accepted (refresh, introspection, userinfo).
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Users stores people.
type Users interface {
	// CreateUser fails with ErrAlreadyExists if the ID or username is taken.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserPassword replaces the password hash; ErrNotFound if no such user.
	SetUserPassword(ctx context.Context, id, passwordHash string, now time.Time) error
	// RehashUserPassword replaces the password hash with newHash only if it
	// is still oldHash, and reports whether it did: a hash upgraded after a
	// sign-in never overwrites a password set in the meantime.
	RehashUserPassword(ctx context.Context, id, oldHash, newHash string, now time.Time) (bool, error)
	// SetUserDisabled disables or enables the user; ErrNotFound if no such
	// user. It does not revoke anything: callers use RevokeUserGrants and
	// DeleteUserLoginSessions.
	SetUserDisabled(ctx context.Context, id string, disabled bool, now time.Time) error
	// DeleteUser removes the user, the user's login sessions, consent,
	// passkeys, TOTP authenticator and recovery codes, revokes the user's
	// grants (and their refresh tokens) and marks the code of each of the
	// user's authorization requests used, in one transaction; ErrNotFound if
	// no such user. A code issued but not yet exchanged, or the one a request
	// waiting for consent gets later, then redeems with ErrAlreadyUsed and
	// creates no grant, and an exchange racing DeleteUser either fails so or
	// creates a grant DeleteUser revokes.
	DeleteUser(ctx context.Context, id string) error
}

// Client is an OAuth client registration.
type Client struct {
	ID                     string
	Name                   string
	SecretHash             string // empty for public clients; a hash, never the secret
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string // e.g. authorization_code, refresh_token, client_credentials
	Scopes                 []string // the scopes this client may be granted
	// PKCEOptional relaxes the PKCE requirement for a legacy confidential
	// client. Off by default.
	PKCEOptional bool
	// FirstParty clients (the built-in web app) skip the consent page and
	// receive refresh tokens by policy.
	FirstParty bool
	// ResourceAudience makes the client a resource server: it may
	// introspect access tokens whose audience (aud) contains this value
	// (RFC 7662 §2.1). Empty for every other client, which may introspect
	// only tokens issued to itself.
	ResourceAudience string
	// ResourceScopes are the scopes a resource server (a client with a
	// ResourceAudience) defines, such as reports:read: a client may be
	// granted them in access tokens whose audience is this resource server
	// (RFC 8707 §2). Empty for every other client.
	ResourceScopes []string
	// IDTokenAlg is the JWS algorithm the client's ID tokens are signed
	// with, its id_token_signed_response_alg (OpenID Connect Dynamic
	// Client Registration 1.0 §2): RS256, ES256 or EdDSA; empty means
	// RS256, that section's default.
	IDTokenAlg string
	// AuthMethod is the client's token_endpoint_auth_method (OpenID Connect
	// Dynamic Client Registration 1.0 §2), the one way it authenticates at
	// the token, introspection and revocation endpoints: AuthNone (public
	// clients), AuthSecretBasic, AuthSecretPost or AuthPrivateKeyJWT. Empty
	// is what registrations made before clients had a method read back: a
	// public client identifies itself, a confidential one presents its
	// secret by either of the two secret methods.
	AuthMethod string
	// JWKS is the JSON Web Key Set (RFC 7517 §5) of the public keys a
	// private_key_jwt client signs its assertions with; JWKSURI is where to
	// fetch that set instead. At most one of them is set.
	JWKS    string
	JWKSURI string
	// DPoPBound is the client's dpop_bound_access_tokens (RFC 9449 §5.2):
	// its token requests must carry a DPoP proof, so every access token it
	// gets is bound to its key.
	DPoPBound bool
	// RequirePAR is the client's require_pushed_authorization_requests
	// (RFC 9126 §6): its authorization requests must be pushed first.
	RequirePAR bool
	// RequireMFA makes every sign-in for the client take a second factor,
	// as if each of its authorization requests asked for acr aal2: a
	// person without one enrols one, and a login session that signed in
	// without one steps up.
	RequireMFA bool
	// Profile is the security profile the client was registered under,
	// which the server holds it to: "" (none) or ProfileFAPI2.
	Profile string
	// Disabled clients cannot authenticate, and tokens issued to them are
	// no longer active.
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Client authentication methods (OpenID Connect Core §9, RFC 7591 §2).
const (
	AuthNone          = "none"
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
)

// ProfileFAPI2 is the FAPI 2.0 Security Profile: the client must push its
// requests, authenticate with private_key_jwt and get DPoP-bound tokens.
const ProfileFAPI2 = "fapi2"

// Clients stores client registrations.
type Clients interface {
	// CreateClient fails with ErrAlreadyExists if the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// SetClientSecret replaces the secret hash; ErrNotFound if no such client.
	SetClientSecret(ctx context.Context, id, secretHash string, now time.Time) error
	// SetClientScopes replaces the client's Scopes, the scopes it may be
	// granted (nil or empty: none); ErrNotFound if no such client.
	SetClientScopes(ctx context.Context, id string, scopes []string, now time.Time) error
	// SetClientRedirectURIs replaces the client's RedirectURIs (nil or
	// empty: none); ErrNotFound if no such client.
	SetClientRedirectURIs(ctx context.Context, id string, uris []string, now time.Time) error
	// SetClientResourceAudience sets (or, with "", clears) the client's
	// ResourceAudience; ErrNotFound if no such client.
	SetClientResourceAudience(ctx context.Context, id, audience string, now time.Time) error
	// SetClientResourceScopes replaces the client's ResourceScopes (nil or
	// empty clears them); ErrNotFound if no such client.
	SetClientResourceScopes(ctx context.Context, id string, scopes []string, now time.Time) error
	// GetResourceServer returns the client, disabled or not, whose
	// ResourceAudience is audience, compared byte for byte (no case
	// folding, no trailing-space or URL normalisation); ErrNotFound if
	// there is none, or if audience is "" (clients that are no resource
	// server have that) or not valid UTF-8 (no audience is). Should several
	// clients share the audience, the oldest (by CreatedAt, then ID) is the
	// one.
	GetResourceServer(ctx context.Context, audience string) (Client, error)
	// SetClientIDTokenAlg sets (or, with "", clears) the client's
	// IDTokenAlg; ErrNotFound if no such client.
	SetClientIDTokenAlg(ctx context.Context, id, alg string, now time.Time) error
	// SetClientDPoPBound sets the client's DPoPBound; ErrNotFound if no
	// such client.
	SetClientDPoPBound(ctx context.Context, id string, bound bool, now time.Time) error
	// SetClientRequirePAR sets the client's RequirePAR; ErrNotFound if no
	// such client.
	SetClientRequirePAR(ctx context.Context, id string, require bool, now time.Time) error
	// SetClientRequireMFA sets the client's RequireMFA; ErrNotFound if no
	// such client.
	SetClientRequireMFA(ctx context.Context, id string, require bool, now time.Time) error
	// SetClientAuthentication sets how the client authenticates: its
	// AuthMethod, SecretHash, JWKS and JWKSURI together, so a client never
	// has a method without what it needs; ErrNotFound if no such client.
	SetClientAuthentication(ctx context.Context, id string, a ClientAuthentication, now time.Time) error
	// SetClientDisabled disables or enables the client; ErrNotFound if no
	// such client.
	SetClientDisabled(ctx context.Context, id string, disabled bool, now time.Time) error
	// DeleteClient removes the client and the consent given to it, revokes
	// its grants (and their refresh tokens) and marks the code of each of
	// its authorization requests used, in one transaction; ErrNotFound if no
	// such client. A code issued but not yet exchanged, or the one a request
	// waiting for consent gets later, then redeems with ErrAlreadyUsed and
	// creates no grant, and an exchange racing DeleteClient either fails so
	// or creates a grant DeleteClient revokes.
	DeleteClient(ctx context.Context, id string) error
}

// ClientAuthentication is what SetClientAuthentication sets: the fields of
// Client of the same names.
type ClientAuthentication struct {
	AuthMethod, SecretHash, JWKS, JWKSURI string
}

// Replays remembers one-time values until they expire, for every instance
// sharing the store: the jti of client assertions (RFC 7523 §3), so an
// assertion is accepted once.
type Replays interface {
	// UseOnce records key, compared exactly, until expiresAt. It fails with ErrAlreadyUsed if key is recorded and
	// has not expired at now; of concurrent calls with one key, on any
	// number of instances, exactly one succeeds.
	UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error
	// DeleteExpiredReplays removes at most limit values that expired
	// before the given time and returns how many it removed.
	DeleteExpiredReplays(ctx context.Context, before time.Time, limit int) (int, error)
}

// AuthRequest is an authorization request of a signed-in person, from
// sign-in until its code is exchanged (and kept after that until the code
// expires, so a replayed code is recognised and its grant revoked). Before
// sign-in a request has no record: it travels sealed in the login page's
// address.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *time.Duration // nil when the client sent none
	LoginHint           string

	// Set once the person has signed in (and consented).
	UserID   string
	AuthTime time.Time
	AMR      []string
	Done     bool

	// DPoPJKT is the dpop_jkt the request named (RFC 9449 §10): the
	// thumbprint of the key whose proof must come with the code's exchange.
	DPoPJKT string

	// Resource is the resource the request named (RFC 8707 §2): the
	// audience of the tokens issued from it. Empty means the server's
	// default audience.
	Resource string

	// CodeHash is the hash of the authorization code issued for this request.
	CodeHash  string
	CodeUsed  bool
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthRequests stores authorization requests and their codes.
type AuthRequests interface {
	CreateAuthRequest(ctx context.Context, r AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (AuthRequest, error)
	// SetAuthCode stores the hash of the code issued for the request and the
	// code's expiry, on a request that has no code yet: ErrNotFound if no
	// such request or if it has a code already (which stays the request's);
	// ErrAlreadyExists if another request has the same code hash.
	SetAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error
	// GetAuthRequestByCode finds a request by its code hash, used or not.
	GetAuthRequestByCode(ctx context.Context, codeHash string) (AuthRequest, error)
	// RedeemAuthCode exchanges a code, in one transaction: it marks the code
	// used and creates g (whose ID is the request's) and, when first is not
	// nil, the first refresh token of g's family. It is atomic: when N
	// callers race, exactly one gets a nil error and its grant; the others,
	// and every later caller, get the request together with ErrAlreadyUsed
	// and write nothing, and they return only once the winner's grant is
	// committed, so revoking it then reaches everything the winner issued.
	// A used code gives ErrAlreadyUsed (with the request) even after it
	// expired; an unknown code, or an expired one that was never used, is
	// ErrNotFound. A failure writes nothing: the code stays unused.
	RedeemAuthCode(ctx context.Context, codeHash string, now time.Time, g Grant, first *RefreshToken) (AuthRequest, error)
	// DeleteExpiredAuthRequests removes at most limit requests that expired
	// before the given time and returns how many it removed.
	DeleteExpiredAuthRequests(ctx context.Context, before time.Time, limit int) (int, error)
}

// Grant records one authorization a person gave a client: the exchange of
// an authorization code and the refresh family that continues it. Its ID
// is the authorization request's, and every token issued from it (access
// tokens name it in a claim, refresh tokens by FamilyID) belongs to it, so
// revoking the grant ends them all. Access tokens have no record of their
// own: they are checked against their grant, client, user and the list of
// revoked token IDs.
type Grant struct {
	ID        string
	ClientID  string
	UserID    string
	Scopes    []string // what the person granted: the authorization request's scopes
	Revoked   bool
	CreatedAt time.Time
	// ExpiresAt: no token issued from the grant is valid after it (the
	// family's absolute lifetime plus the longest access-token lifetime).
	ExpiresAt time.Time
}

// Grants stores grants. They are created by RedeemAuthCode.
type Grants interface {
	GetGrant(ctx context.Context, id string) (Grant, error)
	// RevokeGrant revokes the grant and every refresh token of its family,
	// in one transaction. Revoking an unknown or revoked grant is not an
	// error.
	RevokeGrant(ctx context.Context, id string) error
	// RevokeUserGrants revokes every grant of the user, and their refresh
	// tokens, and marks the code of each of the user's authorization
	// requests used, in one transaction, and returns how many grants it
	// revoked (the ones not revoked before). A code issued but not yet
	// exchanged, or the one a request waiting for consent gets later, then
	// redeems with ErrAlreadyUsed (the request comes back, as for a replay)
	// and creates no grant. An exchange racing RevokeUserGrants either
	// fails so or creates a grant that RevokeUserGrants revokes: no grant of
	// the user is left unrevoked.
	RevokeUserGrants(ctx context.Context, userID string) (int, error)
	// RevokeUserClientGrants is RevokeUserGrants limited to the grants of
	// one client, and to the authorization requests of that client: a
	// person withdrawing one application's access.
	RevokeUserClientGrants(ctx context.Context, userID, clientID string) (int, error)
	// ListUserGrants returns the user's grants that are neither revoked
	// nor expired at now, newest (CreatedAt) first.
	ListUserGrants(ctx context.Context, userID string, now time.Time) ([]Grant, error)
}

// RefreshToken is one link of a rotation chain; every link of a chain shares
// a FamilyID.
type RefreshToken struct {
	ID        string
	TokenHash string // hash of the token; never the token itself
	FamilyID  string
	ClientID  string
	UserID    string
	Scopes    []string
	Audience  []string
	AuthTime  time.Time
	AMR       []string
	// DPoPJKT binds a public client's refresh token to the thumbprint of
	// its DPoP key (RFC 9449 §5): using it takes a proof of that key. It is
	// copied from link to link; empty when unbound.
	DPoPJKT string
	// Used is set when the token was rotated; presenting it again is reuse.
	Used    bool
	Revoked bool
	// IdleExpiresAt moves forward on each rotation; ExpiresAt is the family's
	// absolute lifetime and is copied unchanged from link to link.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	CreatedAt     time.Time
}

// AccessTokenState is what the store holds about an access token: its
// place on the revoked list and the state of its grant and its user. The
// grant and user fields are zero when the record is not found.
type AccessTokenState struct {
	// Revoked: the token's ID is on the revoked list.
	Revoked bool
	// GrantFound: the grant exists, revoked or not.
	GrantFound    bool
	GrantRevoked  bool
	GrantClientID string
	GrantUserID   string
	// UserFound: the user exists, disabled or not.
	UserFound    bool
	UserDisabled bool
}

// Tokens stores refresh tokens and the IDs of revoked access tokens.
type Tokens interface {
	GetRefreshToken(ctx context.Context, tokenHash string) (RefreshToken, error)
	// RotateRefreshToken marks the token with oldHash used and stores next,
	// atomically. When N callers race, exactly one succeeds. A token that was
	// used or revoked before gives ErrAlreadyUsed together with the old record
	// (so the caller can revoke its grant); an unknown or expired one
	// ErrNotFound. A failure writes nothing: the old token stays usable.
	RotateRefreshToken(ctx context.Context, oldHash string, next RefreshToken, now time.Time) (RefreshToken, error)

	// RevokeAccessToken adds an access token's ID (its jti) to the revoked
	// list, where it stays until expiresAt (the token's own expiry).
	// Revoking an ID again is not an error.
	RevokeAccessToken(ctx context.Context, id string, expiresAt time.Time) error
	// AccessTokenRevoked reports whether the ID is on the revoked list.
	AccessTokenRevoked(ctx context.Context, id string) (bool, error)
	// AccessTokenState reads, in one round trip, what checking an access
	// token needs: whether tokenID is on the revoked list (as
	// AccessTokenRevoked), the grant grantID and the user userID. An empty
	// grantID or userID is not found, whatever is stored: a
	// client-credentials token has no grant and no user.
	AccessTokenState(ctx context.Context, tokenID, grantID, userID string) (AccessTokenState, error)

	// DeleteExpiredTokens removes at most limit expired refresh tokens,
	// revoked-list entries and grants (expired before the given time) and
	// returns how many it removed.
	DeleteExpiredTokens(ctx context.Context, before time.Time, limit int) (int, error)
}

// LoginSession is a person's signed-in session at the authorization server.
type LoginSession struct {
	ID       string // hash of the cookie value
	UserID   string
	AuthTime time.Time
	AMR      []string
	// UserAgent is the browser's User-Agent at sign-in, shown on the
	// account page beside the session: any bytes, at most 255 (callers
	// cut a longer one; CreateLoginSession refuses it).
	UserAgent string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Consent records that a user granted a client a set of scopes.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Sessions stores login sessions, remembered consent and sign-in attempt
// counters: the authorization server's per-person state.
type Sessions interface {
	CreateLoginSession(ctx context.Context, s LoginSession) error
	// GetLoginSession returns ErrNotFound for an unknown or expired session.
	GetLoginSession(ctx context.Context, id string, now time.Time) (LoginSession, error)
	DeleteLoginSession(ctx context.Context, id string) error
	DeleteUserLoginSessions(ctx context.Context, userID string) error
	// ListUserLoginSessions returns the user's unexpired sessions, newest
	// (CreatedAt) first.
	ListUserLoginSessions(ctx context.Context, userID string, now time.Time) ([]LoginSession, error)
	// DeleteOtherLoginSessions removes every session of the user but keep
	// (the one a password change is made from).
	DeleteOtherLoginSessions(ctx context.Context, userID, keep string) error

	// PutConsent creates or replaces the consent for (UserID, ClientID).
	PutConsent(ctx context.Context, c Consent) error
	// GetConsent returns ErrNotFound for unknown or expired consent.
	GetConsent(ctx context.Context, userID, clientID string, now time.Time) (Consent, error)
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// ListUserConsents returns the user's unexpired consent, ordered by
	// client ID.
	ListUserConsents(ctx context.Context, userID string, now time.Time) ([]Consent, error)

	// AddLoginAttempt reserves one sign-in attempt for key (a username or a
	// client address) within a window starting at the first attempt, and
	// returns the count in the current window, this attempt included. The
	// window covers [start, start+window): at start+window a new one
	// begins. Concurrent calls, on any number of instances, are all counted
	// and each gets a different count. A window that is not positive is an
	// error and counts nothing.
	AddLoginAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// ReleaseLoginAttempt gives back one attempt reserved in the window
	// current at now (a sign-in that succeeded); the count never goes below
	// zero, and an unknown key or an ended window is not an error.
	ReleaseLoginAttempt(ctx context.Context, key string, now time.Time) error
	// ResetLoginAttempts forgets the attempts counted for key; resetting an
	// unknown key is not an error.
	ResetLoginAttempts(ctx context.Context, key string) error

	// DeleteExpiredSessions removes at most limit expired login sessions,
	// consent records and attempt counters and returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, before time.Time, limit int) (int, error)
}

// SigningKey is a key the authorization server signs tokens with.
type SigningKey struct {
	ID         string // the JWK "kid"
	Algorithm  string // JOSE alg, e.g. RS256, ES256
	PrivateKey []byte // encrypted at rest by the caller; the store keeps bytes
	PublicKey  []byte // the public JWK as JSON
	CreatedAt  time.Time
	// NotBefore: the key is published from CreatedAt but signs only from
	// NotBefore, so every instance and every verifier has seen it first.
	NotBefore time.Time
	// ExpiresAt: the key is removed from the published set after this time
	// (zero: no end set yet).
	ExpiresAt time.Time
}

// Keys stores signing keys.
type Keys interface {
	CreateKey(ctx context.Context, k SigningKey) error
	// CreateKeyIfNoSigner stores k unless a key of k.Algorithm can already
	// sign at now (NotBefore not after now, ExpiresAt zero or after now), and
	// reports whether it stored k. It is atomic across instances: when N
	// callers race on an algorithm with no such key, exactly one stores its
	// key and the others see it.
	CreateKeyIfNoSigner(ctx context.Context, k SigningKey, now time.Time) (bool, error)
	// ListKeys returns every stored key ordered by CreatedAt.
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// SetKeyExpiry sets when a key leaves the published set; ErrNotFound if unknown.
	SetKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error
	// DeleteExpiredKeys removes keys whose ExpiresAt (non-zero) is before the given time.
	DeleteExpiredKeys(ctx context.Context, before time.Time) (int, error)
}

// Passkey is a WebAuthn public-key credential a person registered
// (W3C Web Authentication Level 3): what verifying its assertions needs.
type Passkey struct {
	// ID is the credential ID the authenticator chose (at most 1023 bytes,
	// §5.8.3); unique across users.
	ID     []byte
	UserID string
	// Name is what the person calls it on the account page.
	Name string
	// PublicKey is the credential public key, COSE-encoded.
	PublicKey       []byte
	AttestationType string
	AAGUID          []byte
	Transports      []string
	// SignCount is the signature counter last seen (§6.1.1); an assertion
	// whose counter does not move past it, when either is non-zero, comes
	// from a cloned authenticator.
	SignCount uint32
	// BackupEligible and BackupState are the BE and BS flags (§6.1): a
	// backup-eligible credential can be synced to other devices.
	BackupEligible bool
	BackupState    bool
	CreatedAt      time.Time
	LastUsedAt     time.Time // zero: never used to sign in
}

// TOTP is a person's time-based one-time password authenticator
// (RFC 6238).
type TOTP struct {
	UserID string
	// Secret is the shared key, encrypted by the caller; the store keeps
	// bytes.
	Secret []byte
	// LastStep is the highest time step a code was accepted for; a code of
	// that step or an earlier one is refused (RFC 6238 §5.2: each code is
	// accepted once).
	LastStep  int64
	CreatedAt time.Time
}

// Factors stores the ways a person proves who they are besides the
// password: passkeys, a TOTP authenticator and recovery codes.
type Factors interface {
	// AddPasskey stores a passkey; ErrAlreadyExists if its ID is taken. An
	// ID that is empty or longer than 1023 bytes is an error.
	AddPasskey(ctx context.Context, p Passkey) error
	// GetPasskey returns the passkey with this credential ID, of any user.
	GetPasskey(ctx context.Context, id []byte) (Passkey, error)
	// ListPasskeys returns the user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// UsePasskey records a sign-in with the passkey: its counter becomes
	// newCount, its backup state backupState and LastUsedAt now, only if
	// its counter is still oldCount and, when the counter does not move
	// (newCount == oldCount: an authenticator without a counter reports 0
	// each time), only if LastUsedAt is before now. It reports whether it
	// did; of concurrent calls with one oldCount (and, when the counter
	// does not move, one now) exactly one succeeds. ErrNotFound if no such
	// passkey.
	UsePasskey(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, now time.Time) (bool, error)
	// DeletePasskey removes the user's passkey; ErrNotFound if the user
	// has no passkey with this ID.
	DeletePasskey(ctx context.Context, userID string, id []byte) error

	// SetTOTP creates or replaces the user's TOTP authenticator.
	SetTOTP(ctx context.Context, t TOTP) error
	// EnrolTOTP stores the user's first TOTP authenticator together with
	// its recovery codes (replacing any codes left), in one transaction. It
	// fails with ErrAlreadyExists, changing nothing, if the user has a TOTP
	// authenticator: a second enrolment (a form sent twice, or a stale one)
	// never replaces the first. Of concurrent calls for one user exactly one
	// succeeds.
	EnrolTOTP(ctx context.Context, t TOTP, recoveryHashes []string, now time.Time) error
	// GetTOTP returns ErrNotFound if the user has none.
	GetTOTP(ctx context.Context, userID string) (TOTP, error)
	// UseTOTPStep moves the user's LastStep to step if step is greater,
	// and reports whether it did: of concurrent calls with one step exactly
	// one succeeds. ErrNotFound if the user has no TOTP authenticator.
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	// DeleteTOTP removes the user's TOTP authenticator and recovery codes;
	// removing none is not an error.
	DeleteTOTP(ctx context.Context, userID string) error

	// SetRecoveryCodes replaces the user's recovery codes, used or not, by
	// these hashes, in one transaction; a hash given twice is
	// ErrAlreadyExists and changes nothing.
	SetRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error
	// UseRecoveryCode spends the user's unused code with this hash and
	// reports whether there was one: of concurrent calls with one hash
	// exactly one succeeds.
	UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) (bool, error)
	// CountRecoveryCodes returns how many of the user's codes are unused.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)

	// ResetUserFactors removes every passkey, the TOTP authenticator and
	// the recovery codes of the user, in one transaction, and returns how
	// many factors (passkeys plus TOTP) it removed.
	ResetUserFactors(ctx context.Context, userID string) (int, error)
}

// Store is everything a backend provides.
type Store interface {
	Users
	Clients
	AuthRequests
	Grants
	Tokens
	Sessions
	Keys
	Replays
	Factors
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
