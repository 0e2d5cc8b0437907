package admin

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/loopback"

	"github.com/gatehouse-dev/gatehouse/internal/clientkeys"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

var (
	usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)
	clientIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Grant types a client may be registered for. The implicit and password
// grants do not exist here (OAuth 2.1; RFC 9700 §2.1.2 and §2.4).
var knownGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}

// IDTokenAlgs returns the algorithms a client's ID tokens may be signed
// with (its id_token_signed_response_alg, OpenID Connect Dynamic Client
// Registration 1.0 §2), the default first: the ones the authorization
// server keeps keys for (authz.IDTokenAlgs). Asymmetric only: a client
// secret is stored as a hash, so HS256 could not be verified, and none
// would be no signature at all.
func IDTokenAlgs() []string { return []string{"RS256", "ES256", "EdDSA"} }

// ValidateIDTokenAlg checks an ID token algorithm for a registration; ""
// (the default, RS256) is valid. JOSE algorithm names are case-sensitive
// (RFC 7515 §4.1.1), so es256 is refused, not corrected.
func ValidateIDTokenAlg(alg string) error {
	if alg == "" || slices.Contains(IDTokenAlgs(), alg) {
		return nil
	}
	return fmt.Errorf("ID token algorithm %q is not supported (want %s)", alg, strings.Join(IDTokenAlgs(), ", "))
}

// AuthMethods returns the token_endpoint_auth_method values a client may be
// registered with (OpenID Connect Dynamic Client Registration 1.0 §2).
func AuthMethods() []string {
	return []string{storage.AuthNone, storage.AuthSecretBasic, storage.AuthSecretPost, storage.AuthPrivateKeyJWT}
}

// isSecretMethod reports whether a client with method m authenticates with
// a secret the server generates.
func isSecretMethod(m string) bool {
	return m == storage.AuthSecretBasic || m == storage.AuthSecretPost
}

// clientAuth checks how a client is to authenticate and returns the method
// to store: method ("" is none for a public client and client_secret_basic,
// the OpenID Connect Registration default, for a confidential one) must
// suit the client's type; a private_key_jwt client needs exactly one of
// jwks (a JSON Web Key Set's text) and jwksURI, and no other method takes
// either. The secret hash is left to the caller.
func clientAuth(public bool, method, jwks, jwksURI string) (storage.ClientAuthentication, error) {
	if method == "" {
		method = storage.AuthSecretBasic
		if public {
			method = storage.AuthNone
		}
	}
	switch {
	case !slices.Contains(AuthMethods(), method):
		return storage.ClientAuthentication{}, fmt.Errorf("authentication method %q is not supported (want %s)", method, strings.Join(AuthMethods(), ", "))
	case public && method != storage.AuthNone:
		return storage.ClientAuthentication{}, fmt.Errorf("a public client authenticates with none, not %s: it can keep no secret or private key", method)
	case !public && method == storage.AuthNone:
		return storage.ClientAuthentication{}, errors.New("a confidential client cannot use none: pick client_secret_basic, client_secret_post or private_key_jwt, or register a public client")
	case method != storage.AuthPrivateKeyJWT && (jwks != "" || jwksURI != ""):
		return storage.ClientAuthentication{}, fmt.Errorf("a key set (--jwks or --jwks-uri) is only for private_key_jwt, not %s", method)
	case method == storage.AuthPrivateKeyJWT && jwks == "" && jwksURI == "":
		return storage.ClientAuthentication{}, errors.New("private_key_jwt needs the client's public keys: --jwks FILE or --jwks-uri URL")
	case jwks != "" && jwksURI != "":
		return storage.ClientAuthentication{}, errors.New("give the client's keys as --jwks or --jwks-uri, not both")
	}
	if jwks != "" {
		if _, err := clientkeys.Parse([]byte(jwks)); err != nil {
			return storage.ClientAuthentication{}, fmt.Errorf("client key set: %w", err)
		}
	}
	if jwksURI != "" {
		if err := ValidateJWKSURI(jwksURI); err != nil {
			return storage.ClientAuthentication{}, err
		}
	}
	return storage.ClientAuthentication{AuthMethod: method, JWKS: jwks, JWKSURI: jwksURI}, nil
}

// maxJWKSURI bounds a jwks_uri: a URL, not a document.
const maxJWKSURI = 2000

// ValidateJWKSURI checks where a private_key_jwt client's key set is
// fetched from: an absolute https URL with a host, without user
// information or fragment.
func ValidateJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("jwks_uri %q: %v", raw, err)
	}
	switch {
	case len(raw) > maxJWKSURI:
		return fmt.Errorf("jwks_uri: at most %d characters", maxJWKSURI)
	case !u.IsAbs() || u.Host == "":
		return fmt.Errorf("jwks_uri %q must be an absolute URL with a host, such as https://app.example.com/jwks.json", raw)
	case u.Scheme != "https":
		return fmt.Errorf("jwks_uri %q must be an https URL", raw)
	case u.User != nil:
		return fmt.Errorf("jwks_uri %q must not carry user information", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("jwks_uri %q must not have a fragment", raw)
	}
	return nil
}

// redirectURIRule states the rule ValidateRedirectURI holds a web
// redirect URI to, so that a refused one says what would be accepted.
const redirectURIRule = "a redirect URI must be absolute, have no fragment, and use https (plain http only on a loopback host: 127.0.0.1, [::1] or localhost)"

// ValidateRedirectURI checks a redirect URI for registration: absolute, no
// fragment (RFC 6749 §3.1.2), and https unless the host is a loopback address
// (RFC 9700 §2.1, RFC 8252 §7.3). Private-use schemes of native apps
// (com.example.app:/cb) are accepted as they carry no host.
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect URI %q: %v", raw, err)
	}
	switch {
	case !u.IsAbs():
		return fmt.Errorf("redirect URI %q is relative; %s", raw, redirectURIRule)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q has a fragment; %s", raw, redirectURIRule)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q must not carry user information", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q has no host", raw)
		}
	case "http":
		if !loopback.Host(u.Hostname()) {
			return fmt.Errorf("redirect URI %q uses plain http on a host that is not loopback; %s", raw, redirectURIRule)
		}
	case "javascript", "data", "file", "vbscript":
		return fmt.Errorf("redirect URI %q has a forbidden scheme", raw)
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("redirect URI %q: a private-use scheme must be a reversed domain name (RFC 8252 §7.1)", raw)
		}
	}
	return nil
}

// maxAudience bounds a resource audience: a URL, not a document.
const maxAudience = 2000

// ValidateResourceAudience checks the audience a resource server is
// registered for: an absolute https URL with a host (http only for a
// loopback address), without user information, query or fragment (RFC 8707
// §2), and not ending in "/": audiences are compared as strings, and the
// API's URL, which access tokens carry, never ends in one.
func ValidateResourceAudience(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("resource audience %q: %v", raw, err)
	}
	switch {
	case len(raw) > maxAudience:
		return fmt.Errorf("resource audience: at most %d characters", maxAudience)
	case !u.IsAbs() || u.Host == "":
		return fmt.Errorf("resource audience %q must be an absolute URL with a host, such as https://api.example.com", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("resource audience %q must be an https URL", raw)
	case u.Scheme == "http" && !loopback.Host(u.Hostname()):
		return fmt.Errorf("resource audience %q uses plain http, which only loopback addresses (127.0.0.1, [::1], localhost) may use: use https", raw)
	case u.User != nil:
		return fmt.Errorf("resource audience %q must not carry user information", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("resource audience %q must not have a query", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("resource audience %q must not have a fragment", raw)
	case strings.HasSuffix(raw, "/"):
		return fmt.Errorf("resource audience %q must not end in /: access tokens carry the API's URL without one (%s)", raw, strings.TrimRight(raw, "/"))
	}
	return nil
}

func validateUsername(u string) error {
	if !usernameRE.MatchString(u) {
		return fmt.Errorf("username %q: use 1 to 64 letters, digits and . _ @ + - (starting with a letter or digit)", u)
	}
	return nil
}

func validateEmail(e string) error {
	if e == "" {
		return nil
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 || len(e) > 254 || strings.ContainsAny(e, " \t\r\n<>") {
		return fmt.Errorf("email %q is not an address", e)
	}
	return nil
}

func validateName(field, n string, max int) error {
	if !utf8.ValidString(n) || strings.ContainsAny(n, "\r\n\x00") || utf8.RuneCountInString(n) > max {
		return fmt.Errorf("%s %q: at most %d characters on one line", field, n, max)
	}
	return nil
}

func validateClientID(id string) error {
	if !clientIDRE.MatchString(id) {
		return fmt.Errorf("client ID %q: use 1 to 64 letters, digits and . _ - (starting with a letter or digit)", id)
	}
	return nil
}

// validateScope checks a scope token against RFC 6749 §3.3
// (scope-token = 1*( %x21 / %x23-5B / %x5D-7E )).
func validateScope(s string) error {
	if s == "" {
		return fmt.Errorf("empty scope")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return fmt.Errorf("scope %q has a character RFC 6749 §3.3 does not allow", s)
		}
	}
	return nil
}

func validateGrantType(g string) error {
	if !slices.Contains(knownGrantTypes, g) {
		return fmt.Errorf("grant type %q is not supported (want %s)", g, strings.Join(knownGrantTypes, ", "))
	}
	return nil
}
