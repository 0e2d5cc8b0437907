package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// NewClient is what an operator gives to register a client.
type NewClient struct {
	ID                     string
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Public                 bool
	GrantTypes             []string // nil: authorization_code, refresh_token; empty: none (e.g. a resource server that only introspects)
	Scopes                 []string // nil: openid profile email offline_access; empty: none
	FirstParty             bool
	// ResourceAudience makes the client a resource server that may
	// introspect access tokens whose audience contains it (empty: none).
	// Clients name it as the resource (RFC 8707) to get tokens for it.
	ResourceAudience string
	// ResourceScopes are the scopes a resource server defines (e.g.
	// reports:read): clients registered for them get them in tokens for
	// its audience.
	ResourceScopes []string
	// IDTokenAlg is the algorithm the client's ID tokens are signed with,
	// one of IDTokenAlgs (empty: RS256).
	IDTokenAlg string
	// AuthMethod is how the client authenticates, its
	// token_endpoint_auth_method, one of AuthMethods (empty: none for a
	// public client, client_secret_basic for a confidential one).
	AuthMethod string
	// JWKS (a JSON Web Key Set's text) or JWKSURI (where to fetch one)
	// holds the public keys of a private_key_jwt client, which needs
	// exactly one of them.
	JWKS    string
	JWKSURI string
	// DPoPBound is dpop_bound_access_tokens (RFC 9449 §5.2): the client's
	// token requests must carry a DPoP proof.
	DPoPBound bool
	// RequirePAR is require_pushed_authorization_requests (RFC 9126 §6):
	// the client's authorization requests must be pushed first.
	RequirePAR bool
	// RequireMFA makes every sign-in for the client take a second factor,
	// whatever its authorization requests ask (as acr_values=aal2 would).
	RequireMFA bool
	// Profile registers the client under a security profile the server
	// holds it to: "" or storage.ProfileFAPI2, which needs a confidential
	// client with private_key_jwt and sets DPoPBound and RequirePAR.
	Profile string
}

// defaultGrantTypes and defaultScopes apply when a registration leaves them nil.
var (
	defaultGrantTypes = []string{"authorization_code", "refresh_token"}
	defaultScopes     = []string{"openid", "profile", "email", "offline_access"}
)

// AddClient validates c and stores it. For a client authenticating with a
// secret (client_secret_basic or client_secret_post) it generates one (256
// bits), stores only its hash and returns the secret, which is shown once;
// for a public or private_key_jwt client the returned secret is empty.
func AddClient(ctx context.Context, clients storage.Clients, c NewClient, now time.Time) (storage.Client, string, error) {
	rec, err := clientRecord(c, now)
	if err != nil {
		return storage.Client{}, "", err
	}
	var plain string
	if isSecretMethod(rec.AuthMethod) {
		if plain, err = secret.NewToken(); err != nil {
			return storage.Client{}, "", fmt.Errorf("generating a client secret: %w", err)
		}
		rec.SecretHash = secret.HashToken(plain)
	}
	if err := audienceFree(ctx, clients, rec.ID, rec.ResourceAudience); err != nil {
		return storage.Client{}, "", err
	}
	if err := clients.CreateClient(ctx, rec); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.Client{}, "", fmt.Errorf("client %q already exists: %w", c.ID, err)
		}
		return storage.Client{}, "", fmt.Errorf("adding client %q: %w", c.ID, err)
	}
	return rec, plain, nil
}

func clientRecord(c NewClient, now time.Time) (storage.Client, error) {
	if err := validateClientID(c.ID); err != nil {
		return storage.Client{}, err
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if err := validateName("client name", c.Name, 200); err != nil {
		return storage.Client{}, err
	}
	grants := c.GrantTypes
	if grants == nil {
		grants = defaultGrantTypes
	}
	for _, g := range grants {
		if err := validateGrantType(g); err != nil {
			return storage.Client{}, err
		}
	}
	if c.Public && slices.Contains(grants, "client_credentials") {
		return storage.Client{}, errors.New("a public client cannot use client_credentials: it has no secret to authenticate with")
	}
	if err := applyProfile(&c); err != nil {
		return storage.Client{}, err
	}
	auth, err := clientAuth(c.Public, c.AuthMethod, c.JWKS, c.JWKSURI)
	if err != nil {
		return storage.Client{}, err
	}
	if slices.Contains(grants, "authorization_code") && len(c.RedirectURIs) == 0 {
		return storage.Client{}, errors.New("a client using authorization_code needs at least one --redirect-uri")
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return storage.Client{}, err
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return storage.Client{}, fmt.Errorf("post-logout %w", err)
		}
	}
	scopes := c.Scopes
	if scopes == nil {
		scopes = defaultScopes
	}
	for _, s := range scopes {
		if err := validateScope(s); err != nil {
			return storage.Client{}, err
		}
	}
	if err := ValidateIDTokenAlg(c.IDTokenAlg); err != nil {
		return storage.Client{}, err
	}
	if c.ResourceAudience != "" {
		if err := ValidateResourceAudience(c.ResourceAudience); err != nil {
			return storage.Client{}, err
		}
		if c.Public {
			return storage.Client{}, errPublicResourceServer
		}
	}
	if err := validateResourceScopes(c.ResourceAudience, c.ResourceScopes); err != nil {
		return storage.Client{}, err
	}
	return storage.Client{
		ID: c.ID, Name: c.Name, Public: c.Public,
		RedirectURIs:           slices.Clone(c.RedirectURIs),
		PostLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs),
		GrantTypes:             slices.Clone(grants),
		Scopes:                 slices.Clone(scopes),
		FirstParty:             c.FirstParty,
		ResourceAudience:       c.ResourceAudience,
		ResourceScopes:         slices.Clone(c.ResourceScopes),
		IDTokenAlg:             c.IDTokenAlg,
		AuthMethod:             auth.AuthMethod,
		JWKS:                   auth.JWKS,
		JWKSURI:                auth.JWKSURI,
		DPoPBound:              c.DPoPBound,
		RequirePAR:             c.RequirePAR,
		RequireMFA:             c.RequireMFA,
		Profile:                c.Profile,
		CreatedAt:              now.UTC(), UpdatedAt: now.UTC(),
	}, nil
}

// Profiles are the security profiles a client can be registered under.
func Profiles() []string { return []string{storage.ProfileFAPI2} }

// applyProfile sets what c's profile requires, refusing what contradicts
// it. FAPI 2.0 (Security Profile §5.3.2): a confidential client
// authenticating with private_key_jwt, whose requests are pushed (PAR),
// whose access tokens are DPoP-bound and whose ID tokens are signed with
// ES256 unless it names EdDSA (§5.4.1 allows no RS256); the server also
// holds such a client to PKCE S256, assertions signed with PS256, ES256 or
// EdDSA whose aud is exactly the issuer, and access tokens of at most 10
// minutes.
func applyProfile(c *NewClient) error {
	switch c.Profile {
	case "":
		return nil
	case storage.ProfileFAPI2:
	default:
		return fmt.Errorf("profile %q is not supported (want %s)", c.Profile, strings.Join(Profiles(), ", "))
	}
	if c.Public {
		return errors.New("a FAPI 2.0 client is confidential: it cannot be --public")
	}
	if c.AuthMethod == "" {
		c.AuthMethod = storage.AuthPrivateKeyJWT
	}
	if c.AuthMethod != storage.AuthPrivateKeyJWT {
		return fmt.Errorf("a FAPI 2.0 client authenticates with private_key_jwt, not %s", c.AuthMethod)
	}
	switch c.IDTokenAlg {
	case "":
		c.IDTokenAlg = "ES256"
	case "RS256":
		return errors.New("a FAPI 2.0 client's ID tokens are signed with PS256, ES256 or EdDSA (§5.4.1): pick --id-token-alg ES256 or EdDSA")
	}
	c.DPoPBound, c.RequirePAR = true, true
	return nil
}

// RotateClientSecret gives a confidential client a new secret and returns it;
// the old one stops working within 5 seconds (the authorization
// server caches clients that long).
func RotateClientSecret(ctx context.Context, clients storage.Clients, id string, now time.Time) (string, error) {
	c, err := lookupClient(ctx, clients, id)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", fmt.Errorf("client %q is public: it has no secret", id)
	}
	if c.AuthMethod == storage.AuthPrivateKeyJWT {
		return "", fmt.Errorf("client %q authenticates with private_key_jwt: it has no secret (to give it one: gatehouse client set-auth --id %s --auth-method client_secret_basic)", id, id)
	}
	plain, err := secret.NewToken()
	if err != nil {
		return "", fmt.Errorf("generating a client secret: %w", err)
	}
	if err := clients.SetClientSecret(ctx, id, secret.HashToken(plain), now.UTC()); err != nil {
		return "", fmt.Errorf("storing the new secret of %q: %w", id, err)
	}
	return plain, nil
}

// SetClientAuthentication changes how a confidential client authenticates,
// to method, one of client_secret_basic, client_secret_post and
// private_key_jwt. A secret method gets a new secret (256 bits), returned
// to be shown once and stored only as a hash, and the client's keys are
// cleared; private_key_jwt takes exactly one of jwks (a JSON Web Key Set's
// text) and jwksURI, checked as AddClient does, and clears the secret, so
// giving a private_key_jwt client new keys is the same call. A public
// client always authenticates with none. Every instance uses the change
// within 5 seconds (the authorization server caches clients that long).
func SetClientAuthentication(ctx context.Context, clients storage.Clients, id, method, jwks, jwksURI string, now time.Time) (string, error) {
	if method == "" {
		return "", errors.New("name the authentication method: client_secret_basic, client_secret_post or private_key_jwt")
	}
	c, err := lookupClient(ctx, clients, id)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", fmt.Errorf("client %q is public: it authenticates with none, which cannot change (register a confidential client instead)", id)
	}
	if c.Profile == storage.ProfileFAPI2 && method != storage.AuthPrivateKeyJWT {
		return "", fmt.Errorf("client %q is registered under FAPI 2.0: it authenticates with private_key_jwt", id)
	}
	auth, err := clientAuth(false, method, jwks, jwksURI)
	if err != nil {
		return "", fmt.Errorf("client %q: %w", id, err)
	}
	var plain string
	if isSecretMethod(auth.AuthMethod) {
		if plain, err = secret.NewToken(); err != nil {
			return "", fmt.Errorf("generating a client secret: %w", err)
		}
		auth.SecretHash = secret.HashToken(plain)
	}
	if err := clients.SetClientAuthentication(ctx, id, auth, now.UTC()); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return "", fmt.Errorf("no client %q: %w", id, err)
		}
		return "", fmt.Errorf("setting how %q authenticates: %w", id, err)
	}
	return plain, nil
}

// Change is what replacing a list in a client's registration did: the
// list as stored (without repeats), the entries it added and the ones it
// removed, each in the order given.
type Change struct {
	Stored, Added, Removed []string
}

// diff is the change from before to after.
func diff(before, after []string) Change {
	c := Change{Stored: after}
	for _, v := range after {
		if !slices.Contains(before, v) {
			c.Added = append(c.Added, v)
		}
	}
	for _, v := range before {
		if !slices.Contains(after, v) {
			c.Removed = append(c.Removed, v)
		}
	}
	return c
}

// dedupe is l without repeats, in the order first given, and never nil:
// the replaced list is what was given, even if that is none.
func dedupe(l []string) []string {
	out := []string{}
	for _, v := range l {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// ValidateScopes checks scopes a client may be granted: each a scope
// token (RFC 6749 §3.3).
func ValidateScopes(scopes []string) error {
	for _, sc := range scopes {
		if err := validateScope(sc); err != nil {
			return err
		}
	}
	return nil
}

// SetClientScopes replaces the scopes client id may be granted, and
// returns what changed. A client using authorization_code or
// client_credentials needs at least one, or each of its requests would be
// refused with invalid_scope. Requests from then on are held to the new
// scopes, on every instance within 5 seconds (the authorization server
// caches clients that long); tokens issued before keep theirs, and so do
// the access tokens their refresh tokens get, since a refresh keeps its
// grant's scopes.
func SetClientScopes(ctx context.Context, clients storage.Clients, id string, scopes []string, now time.Time) (Change, error) {
	scopes = dedupe(scopes)
	if err := ValidateScopes(scopes); err != nil {
		return Change{}, err
	}
	c, err := lookupClient(ctx, clients, id)
	if err != nil {
		return Change{}, err
	}
	if len(scopes) == 0 {
		for _, g := range []string{"authorization_code", "client_credentials"} {
			if slices.Contains(c.GrantTypes, g) {
				return Change{}, fmt.Errorf("client %q uses %s: it needs at least one scope, or every request it makes is refused (invalid_scope)", id, g)
			}
		}
	}
	if err := clients.SetClientScopes(ctx, id, scopes, now.UTC()); err != nil {
		return Change{}, fmt.Errorf("setting the scopes of %q: %w", id, err)
	}
	return diff(c.Scopes, scopes), nil
}

// SetClientRedirectURIs replaces the redirect URIs of client id, each
// checked as AddClient does, and returns what changed. A client using
// authorization_code needs at least one. Authorization requests from then
// on are held to the new URIs, on every instance within 5 seconds.
func SetClientRedirectURIs(ctx context.Context, clients storage.Clients, id string, uris []string, now time.Time) (Change, error) {
	uris = dedupe(uris)
	for _, u := range uris {
		if err := ValidateRedirectURI(u); err != nil {
			return Change{}, err
		}
	}
	c, err := lookupClient(ctx, clients, id)
	if err != nil {
		return Change{}, err
	}
	if len(uris) == 0 && slices.Contains(c.GrantTypes, "authorization_code") {
		return Change{}, fmt.Errorf("client %q uses authorization_code: it needs at least one redirect URI", id)
	}
	if err := clients.SetClientRedirectURIs(ctx, id, uris, now.UTC()); err != nil {
		return Change{}, fmt.Errorf("setting the redirect URIs of %q: %w", id, err)
	}
	return diff(c.RedirectURIs, uris), nil
}

// errPublicResourceServer: introspection takes client authentication
// (RFC 7662 §2.1), which a public client cannot give.
var errPublicResourceServer = errors.New("a public client cannot be a resource server: introspection needs client authentication, and a public client has no secret")

// SetResourceAudience makes a client a resource server for audience, or,
// with "", stops it being one.
func SetResourceAudience(ctx context.Context, clients storage.Clients, id, audience string, now time.Time) error {
	if audience != "" {
		if err := ValidateResourceAudience(audience); err != nil {
			return err
		}
	}
	c, err := lookupClient(ctx, clients, id)
	if err != nil {
		return err
	}
	if audience != "" && c.Public {
		return fmt.Errorf("client %q: %w", id, errPublicResourceServer)
	}
	if err := audienceFree(ctx, clients, id, audience); err != nil {
		return err
	}
	if err := clients.SetClientResourceAudience(ctx, id, audience, now.UTC()); err != nil {
		return fmt.Errorf("setting the resource audience of %q: %w", id, err)
	}
	return nil
}

// errAudienceTaken: each resource has one resource server, whose scopes
// its tokens carry.
var errAudienceTaken = errors.New("another client is the resource server for this audience")

// audienceFree checks that no client but id is the resource server for
// audience.
func audienceFree(ctx context.Context, clients storage.Clients, id, audience string) error {
	if audience == "" {
		return nil
	}
	other, err := clients.GetResourceServer(ctx, audience)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("looking up the resource server for %s: %w", audience, err)
	case other.ID != id:
		return fmt.Errorf("%s: %w (%q)", audience, errAudienceTaken, other.ID)
	}
	return nil
}

// validateResourceScopes checks the scopes a resource server defines:
// only a resource server defines any, and never an identity scope.
func validateResourceScopes(audience string, scopes []string) error {
	if len(scopes) > 0 && audience == "" {
		return errors.New("only a resource server (--resource-server) defines resource scopes")
	}
	for _, sc := range scopes {
		if err := validateScope(sc); err != nil {
			return err
		}
		if slices.Contains(defaultScopes, sc) {
			return fmt.Errorf("scope %q is an OpenID Connect scope, not a resource's", sc)
		}
	}
	return nil
}

// SetResourceScopes sets the scopes resource server id defines: tokens
// for its audience issued from then on may carry them.
func SetResourceScopes(ctx context.Context, clients storage.Clients, id string, scopes []string, now time.Time) error {
	c, err := lookupClient(ctx, clients, id)
	if err != nil {
		return err
	}
	if err := validateResourceScopes(c.ResourceAudience, scopes); err != nil {
		return fmt.Errorf("client %q: %w", id, err)
	}
	if err := clients.SetClientResourceScopes(ctx, id, scopes, now.UTC()); err != nil {
		return fmt.Errorf("setting the resource scopes of %q: %w", id, err)
	}
	return nil
}

// EnsureResourceAudience makes client id a resource server for audience,
// replacing another audience it had, and reports whether it changed the
// client. `gatehouse serve` calls it for the API's own client on every
// start, so that the client follows the URL the API serves at (the
// audience of the tokens it checks) when that moves. A public client,
// which cannot authenticate to introspect, is left as it is. An unknown
// client is storage.ErrNotFound.
func EnsureResourceAudience(ctx context.Context, clients storage.Clients, id, audience string, now time.Time) (bool, error) {
	if err := ValidateResourceAudience(audience); err != nil {
		return false, err
	}
	c, err := lookupClient(ctx, clients, id)
	if err != nil {
		return false, err
	}
	if c.ResourceAudience == audience || c.Public {
		return false, nil
	}
	if err := clients.SetClientResourceAudience(ctx, id, audience, now.UTC()); err != nil {
		return false, fmt.Errorf("setting the resource audience of %q: %w", id, err)
	}
	return true, nil
}

// SetIDTokenAlg sets the algorithm a client's ID tokens are signed with
// (one of IDTokenAlgs; "" for the default, RS256). ID tokens issued from
// then on use it, on every instance within 5 seconds (the authorization
// server caches clients that long); ID tokens issued before stay valid
// as id_token_hint.
func SetIDTokenAlg(ctx context.Context, clients storage.Clients, id, alg string, now time.Time) error {
	if err := ValidateIDTokenAlg(alg); err != nil {
		return err
	}
	if _, err := lookupClient(ctx, clients, id); err != nil {
		return err
	}
	if err := clients.SetClientIDTokenAlg(ctx, id, alg, now.UTC()); err != nil {
		return fmt.Errorf("setting the ID token algorithm of %q: %w", id, err)
	}
	return nil
}

// SetDPoPBound sets whether client id's token requests must carry a DPoP
// proof; every instance uses it within 5 seconds.
func SetDPoPBound(ctx context.Context, clients storage.Clients, id string, bound bool, now time.Time) error {
	if _, err := lookupClient(ctx, clients, id); err != nil {
		return err
	}
	if err := clients.SetClientDPoPBound(ctx, id, bound, now.UTC()); err != nil {
		return fmt.Errorf("setting whether %q needs DPoP: %w", id, err)
	}
	return nil
}

// SetRequirePAR sets whether client id must push its authorization
// requests; every instance uses it at the client's next request.
func SetRequirePAR(ctx context.Context, clients storage.Clients, id string, require bool, now time.Time) error {
	if _, err := lookupClient(ctx, clients, id); err != nil {
		return err
	}
	if err := clients.SetClientRequirePAR(ctx, id, require, now.UTC()); err != nil {
		return fmt.Errorf("setting whether %q must push its requests: %w", id, err)
	}
	return nil
}

// SetRequireMFA sets whether every sign-in for client id must take a
// second factor; every instance uses it within its client cache's
// lifetime: for sign-ins under way, and for refresh tokens from sign-ins
// without one, which then stop working for the client.
func SetRequireMFA(ctx context.Context, clients storage.Clients, id string, require bool, now time.Time) error {
	if _, err := lookupClient(ctx, clients, id); err != nil {
		return err
	}
	if err := clients.SetClientRequireMFA(ctx, id, require, now.UTC()); err != nil {
		return fmt.Errorf("setting whether %q requires a second factor: %w", id, err)
	}
	return nil
}

// EnsureIDTokenAlg gives client id the ID token algorithm alg if it is
// registered with none (the default, RS256), and reports whether it
// changed the client. An algorithm set explicitly, RS256 included, is
// left as it is: it was an operator's choice. `gatehouse serve` calls it
// for the web app's client on every start, so that an installation seeded
// before the web app's client was registered with ES256 gets ES256 too.
// An unknown client is storage.ErrNotFound.
func EnsureIDTokenAlg(ctx context.Context, clients storage.Clients, id, alg string, now time.Time) (bool, error) {
	if err := ValidateIDTokenAlg(alg); err != nil {
		return false, err
	}
	c, err := lookupClient(ctx, clients, id)
	if err != nil {
		return false, err
	}
	if c.IDTokenAlg != "" || alg == "" {
		return false, nil
	}
	if err := clients.SetClientIDTokenAlg(ctx, id, alg, now.UTC()); err != nil {
		return false, fmt.Errorf("setting the ID token algorithm of %q: %w", id, err)
	}
	return true, nil
}

// SetClientDisabled disables a client, which can then no longer
// authenticate and whose tokens are no longer active, or enables it again.
// Disabling a disabled client (or enabling an enabled one) is not an error.
func SetClientDisabled(ctx context.Context, clients storage.Clients, id string, disabled bool, now time.Time) error {
	if err := clients.SetClientDisabled(ctx, id, disabled, now.UTC()); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no client %q: %w", id, err)
		}
		verb := "enabling"
		if disabled {
			verb = "disabling"
		}
		return fmt.Errorf("%s client %q: %w", verb, id, err)
	}
	return nil
}

func lookupClient(ctx context.Context, clients storage.Clients, id string) (storage.Client, error) {
	c, err := clients.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Client{}, fmt.Errorf("no client %q: %w", id, err)
	}
	if err != nil {
		return storage.Client{}, fmt.Errorf("looking up client %q: %w", id, err)
	}
	return c, nil
}

// RemoveClient deletes a client.
func RemoveClient(ctx context.Context, clients storage.Clients, id string) error {
	if err := clients.DeleteClient(ctx, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no client %q: %w", id, err)
		}
		return fmt.Errorf("removing client %q: %w", id, err)
	}
	return nil
}

// WriteSecretFile writes a client secret to path with 0600 permissions (its
// directory 0700), replacing the file atomically.
func WriteSecretFile(path, value string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.WriteString(value + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
