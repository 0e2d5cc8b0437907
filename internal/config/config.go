package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/loopback"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

// Role names.
const (
	RoleAuthz  = "authz"
	RoleAPI    = "api"
	RoleWebapp = "webapp"
)

// allRoles lists every role in start-up order.
var allRoles = []string{RoleAuthz, RoleAPI, RoleWebapp}

// Storage holds the settings every command that touches the database needs.
type Storage struct {
	DataDir      string
	DB           string // DSN; empty means sqlite:<DataDir>/gatehouse.db
	MaxOpenConns int
	// SQLiteCacheMiB is the page cache of the embedded SQLite database in
	// MiB, shared out among its connections.
	SQLiteCacheMiB int
	LogFormat      string
	LogLevel       string
}

// RegisterFlags registers the storage and logging flags on fs.
func (s *Storage) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.DataDir, "data-dir", "gatehouse-data", "directory for the embedded database, generated certificates and the server secret")
	fs.StringVar(&s.DB, "db", "", "database DSN: sqlite:PATH, postgres://…, mysql://user:pass@host:port/db (default sqlite:<data-dir>/gatehouse.db)")
	fs.IntVar(&s.MaxOpenConns, "db-max-open-conns", sqlstore.DefaultMaxOpenConns, "most open connections to PostgreSQL or MySQL per instance (with SQLite: read connections)")
	fs.IntVar(&s.SQLiteCacheMiB, "db-sqlite-cache", DefaultSQLiteCacheMiB, "page cache of the embedded SQLite database in MiB, shared among its connections")
	fs.StringVar(&s.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&s.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// DSN returns the configured DSN, or the embedded default.
func (s *Storage) DSN() string {
	if s.DB != "" {
		return s.DB
	}
	return "sqlite:" + filepath.Join(s.DataDir, "gatehouse.db")
}

// Level parses LogLevel.
func (s *Storage) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return 0, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", s.LogLevel)
	}
	return l, nil
}

// Validate checks the storage and logging settings.
func (s *Storage) Validate() error {
	if s.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		return fmt.Errorf("--log-format: %q is not text or json", s.LogFormat)
	}
	if _, err := s.Level(); err != nil {
		return err
	}
	if s.MaxOpenConns < 1 {
		return fmt.Errorf("--db-max-open-conns must be at least 1, got %d", s.MaxOpenConns)
	}
	if s.SQLiteCacheMiB < 1 || s.SQLiteCacheMiB > maxSQLiteCacheMiB {
		return fmt.Errorf("--db-sqlite-cache must be 1 to %d (MiB), got %d", maxSQLiteCacheMiB, s.SQLiteCacheMiB)
	}
	return nil
}

// DefaultSQLiteCacheMiB is the default of --db-sqlite-cache. SQLite's own
// default, 2 MiB per connection, grows with the read pool (42 MiB at the
// default 20 readers) and would dominate the server's memory under the
// API's load (docs/performance.md); the file's pages stay in the operating
// system's cache either way.
const DefaultSQLiteCacheMiB = sqlstore.DefaultSQLiteCacheKiB >> 10

const maxSQLiteCacheMiB = 1 << 16

// Serve holds the settings of `gatehouse serve`.
type Serve struct {
	Storage

	Roles       string
	AuthzAddr   string
	APIAddr     string
	WebappAddr  string
	MetricsAddr string
	DebugAddr   string

	Issuer    string // public URL of the authorization server
	APIURL    string // public URL of the resource API (without /api)
	WebappURL string // public URL of the web app

	TLSCert      string
	TLSKey       string
	CAFile       string
	InsecureHTTP bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For entries
	// name the client (httpserver.TrustedProxies.ClientIP).
	TrustedProxies httpserver.TrustedProxies

	SecretFile string
	Secret     string // GATEHOUSE_SECRET only: never a flag, so it does not show in ps

	Resources    string
	SessionStore string
	TokenCheck   string
	// DPoPNonces makes DPoP proofs at the token endpoint carry a server
	// nonce (RFC 9449 §8).
	DPoPNonces bool
	// RequirePAR makes every client push its authorization requests (RFC
	// 9126).
	RequirePAR bool
	// RequireMFA makes everyone sign in with a second factor.
	RequireMFA bool

	AccessTokenTTL     time.Duration
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	KeyRotation        time.Duration
	KeyReload          time.Duration
	JWKSMaxAge         time.Duration
	JWTLeeway          time.Duration
	JanitorInterval    time.Duration
	ShutdownTimeout    time.Duration
	RequestTimeout     time.Duration
	MemoryLimit        MemoryLimit

	WebappClientID         string
	WebappClientSecretFile string
	APIClientID            string
	APIClientSecretFile    string
}

// RegisterFlags registers every serve flag on fs.
func (s *Serve) RegisterFlags(fs *flag.FlagSet) {
	s.Storage.RegisterFlags(fs)
	fs.StringVar(&s.Roles, "roles", strings.Join(allRoles, ","), "comma-separated roles to run: authz, api, webapp")
	fs.StringVar(&s.AuthzAddr, "authz-addr", "127.0.0.1:8000", "listen address of the authorization server")
	fs.StringVar(&s.APIAddr, "api-addr", "127.0.0.1:8001", "listen address of the resource API")
	fs.StringVar(&s.WebappAddr, "webapp-addr", "127.0.0.1:5000", "listen address of the web app")
	fs.StringVar(&s.MetricsAddr, "metrics-addr", "", "listen address of the Prometheus /metrics endpoint (off when empty)")
	fs.StringVar(&s.DebugAddr, "debug-addr", "", "loopback listen address of the Go profiler, /debug/pprof/ (off when empty)")
	fs.StringVar(&s.Issuer, "issuer", "", "public URL of the authorization server, the OpenID issuer (default from --authz-addr)")
	fs.StringVar(&s.APIURL, "api-url", "", "public URL of the resource API, also the access tokens' audience (default from --api-addr)")
	fs.StringVar(&s.WebappURL, "webapp-url", "", "public URL of the web app (default from --webapp-addr)")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "TLS certificate (PEM) for every role (default: a generated local certificate)")
	fs.StringVar(&s.TLSKey, "tls-key", "", "TLS private key (PEM) for --tls-cert")
	fs.StringVar(&s.CAFile, "ca-file", "", "extra CA certificate (PEM) trusted when one role calls another")
	fs.BoolVar(&s.InsecureHTTP, "insecure-http", false, "serve plain HTTP (only behind a TLS-terminating proxy)")
	fs.Func("trusted-proxies", "comma-separated `CIDRs` and addresses of the reverse proxies whose X-Forwarded-For is believed: the client (for lockout, rate limits, logs) is the rightmost entry not among them (default: none; the connection's address is the client)", func(v string) error {
		p, err := httpserver.ParseTrustedProxies(v)
		if err != nil {
			return err
		}
		s.TrustedProxies = p
		return nil
	})
	fs.BoolFunc("trust-proxy", "removed: use --trusted-proxies", removedTrustProxy)
	fs.StringVar(&s.SecretFile, "secret-file", "", "file holding the server secret (default <data-dir>/secret, generated on first start; or set GATEHOUSE_SECRET)")
	fs.StringVar(&s.Resources, "resources", "", "resource file (YAML) declaring the API's resources (default: built-in todos)")
	fs.StringVar(&s.SessionStore, "session-store", "", "web app session store: empty for the database, or redis://host:port/db")
	fs.StringVar(&s.TokenCheck, "token-check", "jwt", "how the API checks tokens: jwt (local signature check) or introspect")
	fs.BoolVar(&s.RequireMFA, "require-mfa", false, "everyone signs in with a second factor (a passkey, or a code of an authenticator app); a person without one sets up an authenticator app at their next sign-in, and refresh tokens from sign-ins without one stop working. Without it, those who have a second factor are asked for it, and everyone a client asks acr_values=aal2 for")
	fs.BoolVar(&s.RequirePAR, "require-par", false, "every client must push its authorization requests to /par first (RFC 9126); without it, only clients registered with --require-par")
	fs.BoolVar(&s.DPoPNonces, "dpop-nonces", false, "require a server nonce (use_dpop_nonce, rotated every 5 minutes) in every DPoP proof, at the authorization server and the API")
	fs.DurationVar(&s.AccessTokenTTL, "access-token-ttl", 5*time.Minute, "access token lifetime")
	fs.DurationVar(&s.RefreshIdleTTL, "refresh-idle-ttl", 24*time.Hour, "refresh tokens expire after this long unused")
	fs.DurationVar(&s.RefreshAbsoluteTTL, "refresh-absolute-ttl", 30*24*time.Hour, "refresh tokens expire this long after sign-in, used or not")
	fs.DurationVar(&s.KeyRotation, "key-rotation", 0, "rotate signing keys this often (0: only when gatehouse keys rotate is run)")
	fs.DurationVar(&s.KeyReload, "key-reload", time.Minute, "reload signing keys from the database this often, picking up keys other instances created (under 10m)")
	fs.DurationVar(&s.JWKSMaxAge, "jwks-max-age", 5*time.Minute, "with --token-check=jwt, the API refetches the authorization server's JWKS once it is this old, so a withdrawn key stops verifying within it (at most 5m)")
	fs.DurationVar(&s.JWTLeeway, "jwt-leeway", 5*time.Second, "with --token-check=jwt, the clock skew the API tolerates on a token's exp, nbf and iat: it accepts a token until its exp plus this leeway, while introspection already calls it inactive (at most 5m; keep it small)")
	fs.DurationVar(&s.JanitorInterval, "janitor-interval", time.Minute, "delete expired tokens, requests and sessions this often")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long in-flight requests may take to finish on shutdown")
	fs.DurationVar(&s.RequestTimeout, "request-timeout", 10*time.Second, "deadline of each request's work (database queries, calls to other roles); past it the request answers 503")
	s.MemoryLimit = MemoryLimit{Bytes: DefaultMemoryLimit}
	fs.Var(&s.MemoryLimit, "memory-limit", "soft limit of the Go runtime's memory, a `size` as in GOMEMLIMIT (e.g. 256MiB, 1GiB; off for none); the SQLite page cache (--db-sqlite-cache) comes on top. Without this flag a GOMEMLIMIT environment variable wins")
	fs.StringVar(&s.WebappClientID, "webapp-client-id", "gatehouse-webapp", "the web app's OAuth client ID")
	fs.StringVar(&s.WebappClientSecretFile, "webapp-client-secret-file", "", "file holding the web app's client secret (default <data-dir>/clients/<id>.secret, written by seed)")
	fs.StringVar(&s.APIClientID, "api-client-id", "gatehouse-api", "the API's OAuth client ID, for --token-check=introspect")
	fs.StringVar(&s.APIClientSecretFile, "api-client-secret-file", "", "file holding the API's client secret (default <data-dir>/clients/<id>.secret, written by seed)")
}

// DefaultMemoryLimit is the default of --memory-limit: twice what the
// server keeps live under load, password hashing's at-most-GOMAXPROCS
// argon2id buffers of 12 MiB each included, so that the garbage of finished
// hashes is collected before it doubles the process's memory.
const DefaultMemoryLimit = 100 << 20

// MemoryLimit is a flag.Value for a size in GOMEMLIMIT's syntax: a number
// of bytes with an optional B, KiB, MiB, GiB or TiB suffix, or "off".
type MemoryLimit struct {
	Bytes int64 // math.MaxInt64 for off
	Given bool  // set from the command line or GATEHOUSE_MEMORY_LIMIT
}

func (m *MemoryLimit) String() string {
	switch {
	case m == nil:
		return ""
	case m.Bytes == math.MaxInt64:
		return "off"
	case m.Bytes%(1<<20) == 0:
		return strconv.FormatInt(m.Bytes>>20, 10) + "MiB"
	}
	return strconv.FormatInt(m.Bytes, 10) + "B"
}

// Set parses v.
func (m *MemoryLimit) Set(v string) error {
	n, err := parseMemoryLimit(v)
	if err != nil {
		return err
	}
	m.Bytes, m.Given = n, true
	return nil
}

func parseMemoryLimit(v string) (int64, error) {
	if v == "off" {
		return math.MaxInt64, nil
	}
	num, shift := v, 0
	for _, u := range []struct {
		suffix string
		shift  int
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}} {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			num, shift = s, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is not a size such as 256MiB, 1GiB or off", v)
	}
	if n<<shift < minMemoryLimit {
		return 0, fmt.Errorf("%q is below %dMiB, too little for the server to run", v, minMemoryLimit>>20)
	}
	return n << shift, nil
}

const minMemoryLimit = 32 << 20

// GoMemoryLimit returns the soft memory limit to give the Go runtime, and
// false when the runtime's own setting stands: GOMEMLIMIT is in the
// environment (lookup is os.LookupEnv outside tests) and --memory-limit was
// not given.
func (s *Serve) GoMemoryLimit(lookup func(string) (string, bool)) (int64, bool) {
	if !s.MemoryLimit.Given {
		if _, ok := lookup("GOMEMLIMIT"); ok {
			return 0, false
		}
	}
	return s.MemoryLimit.Bytes, true
}

// removedTrustProxy rejects --trust-proxy (and GATEHOUSE_TRUST_PROXY), which
// believed the leftmost X-Forwarded-For entry, one any client can write. It is
// kept as a flag so that a deployment still setting it stops with a pointer to
// its replacement instead of silently losing the client's address; =false
// asked for nothing and is accepted.
func removedTrustProxy(v string) error {
	if b, err := strconv.ParseBool(v); err == nil && !b {
		return nil
	}
	return errors.New("--trust-proxy was removed: it believed the leftmost X-Forwarded-For entry, which clients can forge; list your proxies with --trusted-proxies CIDR,… instead")
}

// RoleSet returns the roles to run.
func (s *Serve) RoleSet() []string {
	var out []string
	for _, r := range strings.Split(s.Roles, ",") {
		if r = strings.TrimSpace(r); r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// Runs reports whether role is among the roles to run.
func (s *Serve) Runs(role string) bool { return slices.Contains(s.RoleSet(), role) }

// Scheme is "https", or "http" with --insecure-http.
func (s *Serve) Scheme() string {
	if s.InsecureHTTP {
		return "http"
	}
	return "https"
}

// IssuerURL returns the authorization server's public URL.
func (s *Serve) IssuerURL() string { return s.publicURL(s.Issuer, s.AuthzAddr) }

// APIPublicURL returns the resource API's public URL (without the /api prefix).
func (s *Serve) APIPublicURL() string { return s.publicURL(s.APIURL, s.APIAddr) }

// WebappPublicURL returns the web app's public URL.
func (s *Serve) WebappPublicURL() string { return s.publicURL(s.WebappURL, s.WebappAddr) }

func (s *Serve) publicURL(explicit, addr string) string {
	if explicit != "" {
		return strings.TrimRight(explicit, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return s.Scheme() + "://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return s.Scheme() + "://" + net.JoinHostPort(host, port)
}

// ClientSecretFile returns where the secret of the built-in client id is kept.
func (s *Serve) ClientSecretFile(explicit, id string) string {
	if explicit != "" {
		return explicit
	}
	return ClientSecretPath(s.DataDir, id)
}

// ClientSecretPath is where seed writes a built-in client's secret.
func ClientSecretPath(dataDir, clientID string) string {
	return filepath.Join(dataDir, "clients", clientID+".secret")
}

// SecretPath returns the server secret's file.
func (s *Serve) SecretPath() string {
	if s.SecretFile != "" {
		return s.SecretFile
	}
	return filepath.Join(s.DataDir, "secret")
}

// Validate checks every serve setting and returns the first problem as one
// clear line.
func (s *Serve) Validate() error {
	if err := s.Storage.Validate(); err != nil {
		return err
	}
	roles := s.RoleSet()
	if len(roles) == 0 {
		return errors.New("--roles: name at least one of authz, api, webapp")
	}
	for _, r := range roles {
		if !slices.Contains(allRoles, r) {
			return fmt.Errorf("--roles: unknown role %q (want authz, api, webapp)", r)
		}
	}
	for _, a := range []struct{ flag, addr string }{
		{"--authz-addr", s.AuthzAddr}, {"--api-addr", s.APIAddr}, {"--webapp-addr", s.WebappAddr},
	} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s: %q is not host:port", a.flag, a.addr)
		}
	}
	if s.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(s.MetricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr: %q is not host:port", s.MetricsAddr)
		}
	}
	if s.DebugAddr != "" {
		// Profiles show memory contents (heap), command lines and timing:
		// never on a public interface.
		host, _, err := net.SplitHostPort(s.DebugAddr)
		if err != nil {
			return fmt.Errorf("--debug-addr: %q is not host:port", s.DebugAddr)
		}
		if !loopback.Host(host) {
			return fmt.Errorf("--debug-addr: %q must be a loopback address (127.0.0.1, ::1 or localhost)", s.DebugAddr)
		}
	}
	for _, u := range []struct{ flag, value string }{
		{"--issuer", s.Issuer}, {"--api-url", s.APIURL}, {"--webapp-url", s.WebappURL},
	} {
		if u.value == "" {
			continue
		}
		p, err := url.Parse(u.value)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" {
			return fmt.Errorf("%s: %q is not an absolute http(s) URL without query or fragment", u.flag, u.value)
		}
		if p.Scheme == "http" && !loopback.Host(p.Hostname()) {
			return fmt.Errorf("%s: %q must use https (plain http is allowed for loopback addresses only)", u.flag, u.value)
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	if s.InsecureHTTP && s.TLSCert != "" {
		return errors.New("--insecure-http and --tls-cert exclude each other")
	}
	if s.TokenCheck != "jwt" && s.TokenCheck != "introspect" {
		return fmt.Errorf("--token-check: %q is not jwt or introspect", s.TokenCheck)
	}
	if s.SessionStore != "" && !strings.HasPrefix(s.SessionStore, "redis://") && !strings.HasPrefix(s.SessionStore, "rediss://") {
		return fmt.Errorf("--session-store: %q is not a redis:// URL (leave it empty to keep sessions in the database)", s.SessionStore)
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"--access-token-ttl", s.AccessTokenTTL}, {"--refresh-idle-ttl", s.RefreshIdleTTL},
		{"--refresh-absolute-ttl", s.RefreshAbsoluteTTL}, {"--shutdown-timeout", s.ShutdownTimeout},
		{"--key-reload", s.KeyReload}, {"--janitor-interval", s.JanitorInterval},
		{"--request-timeout", s.RequestTimeout}, {"--jwks-max-age", s.JWKSMaxAge},
		{"--jwt-leeway", s.JWTLeeway},
	} {
		if d.value <= 0 {
			return fmt.Errorf("%s must be positive, got %s", d.flag, d.value)
		}
	}
	if s.KeyRotation < 0 {
		return fmt.Errorf("--key-rotation must not be negative, got %s", s.KeyRotation)
	}
	if s.KeyReload >= 10*time.Minute { // authz publishes a new key 10m before it signs
		return fmt.Errorf("--key-reload must be under 10m, the time a new key is published before it signs, got %s", s.KeyReload)
	}
	if s.JWKSMaxAge > 5*time.Minute { // bearer.JWTConfig.MaxKeyAge's bound
		return fmt.Errorf("--jwks-max-age must be at most 5m, got %s", s.JWKSMaxAge)
	}
	if s.JWTLeeway > 5*time.Minute { // bearer.JWTConfig.Leeway's bound
		return fmt.Errorf("--jwt-leeway must be at most 5m, got %s", s.JWTLeeway)
	}
	if s.RefreshIdleTTL > s.RefreshAbsoluteTTL {
		return errors.New("--refresh-idle-ttl must not exceed --refresh-absolute-ttl")
	}
	return nil
}

// EnvName returns the environment variable that stands for a flag:
// GATEHOUSE_ followed by the flag's name in upper case with '-' as '_'.
func EnvName(flagName string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs that was not given on the command line from
// its GATEHOUSE_* environment variable, if that is set. Call it after
// fs.Parse. lookup is os.LookupEnv outside tests.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			if isDuration(f) {
				e = fmt.Errorf("invalid value %q: %w", v, ErrDurationSyntax)
			}
			err = fmt.Errorf("%s: %w", name, e)
		}
	})
	return err
}

// ErrDurationSyntax answers a bad value of a duration flag. The flag
// package's own answer, "parse error", does not say what a duration is.
var ErrDurationSyntax = errors.New("use a duration such as 5m, 90s or 1h")

// Parse is fs.Parse with two differences a person at a terminal notices: a
// bad value of a duration flag is answered with ErrDurationSyntax, and
// fs.Usage is called for -h and -help only, not after a mistake, so that the
// caller can answer a mistake in one line. Parse restores fs.Usage and the
// flags' values before it returns.
func Parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	err := parseExplained(fs, args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		if usage == nil {
			fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		} else {
			usage()
		}
	}
	return err
}

// parseExplained parses args with every duration flag's value wrapped in a
// durationValue while it runs: the wrapping is undone after, since fs's
// usage names a flag's type ("duration") from the flag package's own value.
func parseExplained(fs *flag.FlagSet, args []string) error {
	var durations []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if isDuration(f) {
			f.Value = durationValue{f.Value}
			durations = append(durations, f)
		}
	})
	defer func() {
		for _, f := range durations {
			f.Value = f.Value.(durationValue).Value
		}
	}()
	return fs.Parse(args)
}

// durationValue is a duration flag's value whose Set says, of a bad value,
// what a duration looks like.
type durationValue struct{ flag.Value }

func (d durationValue) Set(v string) error {
	if err := d.Value.Set(v); err != nil {
		return ErrDurationSyntax
	}
	return nil
}

// isDuration reports whether f holds a time.Duration.
func isDuration(f *flag.Flag) bool {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(time.Duration)
	return ok
}
