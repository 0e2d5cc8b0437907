package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args []string, env map[string]string) (*Serve, error) {
	t.Helper()
	var s Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.RegisterFlags(fs)
	if err := Parse(fs, args); err != nil {
		return nil, err
	}
	if err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		return nil, err
	}
	return &s, s.Validate()
}

func TestDefaults(t *testing.T) {
	s, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"dsn", s.DSN(), "sqlite:gatehouse-data/gatehouse.db"},
		{"issuer", s.IssuerURL(), "https://127.0.0.1:8000"},
		{"api", s.APIPublicURL(), "https://127.0.0.1:8001"},
		{"webapp", s.WebappPublicURL(), "https://127.0.0.1:5000"},
		{"secret", s.SecretPath(), "gatehouse-data/secret"},
		{"roles", strings.Join(s.RoleSet(), ","), "authz,api,webapp"},
		{"webapp secret", s.ClientSecretFile("", s.WebappClientID), "gatehouse-data/clients/gatehouse-webapp.secret"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if s.AccessTokenTTL != 5*time.Minute {
		t.Errorf("access token TTL = %s", s.AccessTokenTTL)
	}
	if s.KeyReload != time.Minute || s.JanitorInterval != time.Minute {
		t.Errorf("key reload = %s, janitor interval = %s; want 1m each", s.KeyReload, s.JanitorInterval)
	}
	if s.JWKSMaxAge != 5*time.Minute {
		t.Errorf("JWKS max age = %s, want 5m", s.JWKSMaxAge)
	}
	if s.JWTLeeway != 5*time.Second {
		t.Errorf("JWT leeway = %s, want 5s", s.JWTLeeway)
	}
}

// TestJWTLeeway: --jwt-leeway (or GATEHOUSE_JWT_LEEWAY) sets the API's
// leeway on a JWT's exp, nbf and iat.
func TestJWTLeeway(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{"default", nil, nil, 5 * time.Second},
		{"flag", []string{"--jwt-leeway", "30s"}, nil, 30 * time.Second},
		{"environment", nil, map[string]string{"GATEHOUSE_JWT_LEEWAY": "1s"}, time.Second},
		{"the bound", []string{"--jwt-leeway", "5m"}, nil, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if s.JWTLeeway != tt.want {
				t.Errorf("JWTLeeway = %s, want %s", s.JWTLeeway, tt.want)
			}
		})
	}
}

func TestEnvAndFlagPrecedence(t *testing.T) {
	env := map[string]string{
		"GATEHOUSE_DATA_DIR":   "/from/env",
		"GATEHOUSE_ROLES":      "api",
		"GATEHOUSE_AUTHZ_ADDR": "127.0.0.1:9000",
	}
	s, err := parse(t, []string{"--roles", "authz,webapp"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.DataDir != "/from/env" {
		t.Errorf("data dir = %q, want the environment's", s.DataDir)
	}
	if s.Roles != "authz,webapp" {
		t.Errorf("roles = %q, want the flag's (flag wins)", s.Roles)
	}
	if s.IssuerURL() != "https://127.0.0.1:9000" {
		t.Errorf("issuer = %q", s.IssuerURL())
	}
	if !s.Runs(RoleWebapp) || s.Runs(RoleAPI) {
		t.Errorf("Runs: %v", s.RoleSet())
	}
}

func TestInsecureHTTPAndExplicitURLs(t *testing.T) {
	s, err := parse(t, []string{"--insecure-http", "--api-addr", "0.0.0.0:8001", "--issuer", "https://login.example.com/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.APIPublicURL(); got != "http://localhost:8001" {
		t.Errorf("api url = %q", got)
	}
	if got := s.IssuerURL(); got != "https://login.example.com" {
		t.Errorf("issuer = %q (trailing slash must go)", got)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown role", []string{"--roles", "authz,db"}, nil, `--roles: unknown role "db"`},
		{"no role", []string{"--roles", " , "}, nil, "--roles: name at least one"},
		{"bad addr", []string{"--api-addr", "8001"}, nil, `--api-addr: "8001" is not host:port`},
		{"bad metrics addr", []string{"--metrics-addr", "x"}, nil, "--metrics-addr"},
		{"bad debug addr", []string{"--debug-addr", "6060"}, nil, `--debug-addr: "6060" is not host:port`},
		{"public debug addr", []string{"--debug-addr", "0.0.0.0:6060"}, nil, "--debug-addr: \"0.0.0.0:6060\" must be a loopback address"},
		{"empty-host debug addr", []string{"--debug-addr", ":6060"}, nil, "must be a loopback address"},
		{"relative issuer", []string{"--issuer", "/authz"}, nil, "--issuer"},
		{"http issuer", []string{"--issuer", "http://login.example.com"}, nil, "must use https"},
		{"issuer with fragment", []string{"--issuer", "https://a.example#x"}, nil, "--issuer"},
		{"cert without key", []string{"--tls-cert", "c.pem"}, nil, "--tls-cert and --tls-key go together"},
		{"insecure and cert", []string{"--insecure-http", "--tls-cert", "c", "--tls-key", "k"}, nil, "exclude each other"},
		{"token check", []string{"--token-check", "maybe"}, nil, "--token-check"},
		{"session store", []string{"--session-store", "memcached://x"}, nil, "--session-store"},
		{"log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"zero ttl", []string{"--access-token-ttl", "0s"}, nil, "--access-token-ttl must be positive"},
		{"zero request timeout", []string{"--request-timeout", "0s"}, nil, "--request-timeout must be positive"},
		{"negative request timeout", nil, map[string]string{"GATEHOUSE_REQUEST_TIMEOUT": "-1s"}, "--request-timeout must be positive"},
		{"zero key reload", []string{"--key-reload", "0s"}, nil, "--key-reload must be positive"},
		{"slow key reload", nil, map[string]string{"GATEHOUSE_KEY_RELOAD": "10m"}, "--key-reload must be under 10m"},
		{"zero jwks max age", []string{"--jwks-max-age", "0s"}, nil, "--jwks-max-age must be positive"},
		{"slow jwks max age", nil, map[string]string{"GATEHOUSE_JWKS_MAX_AGE": "6m"}, "--jwks-max-age must be at most 5m"},
		{"zero jwt leeway", []string{"--jwt-leeway", "0s"}, nil, "--jwt-leeway must be positive"},
		{"long jwt leeway", nil, map[string]string{"GATEHOUSE_JWT_LEEWAY": "5m1s"}, "--jwt-leeway must be at most 5m"},
		{"zero janitor interval", nil, map[string]string{"GATEHOUSE_JANITOR_INTERVAL": "0s"}, "--janitor-interval must be positive"},
		{"negative janitor interval", []string{"--janitor-interval", "-1m"}, nil, "--janitor-interval must be positive"},
		{"idle over absolute", []string{"--refresh-idle-ttl", "48h", "--refresh-absolute-ttl", "24h"}, nil, "must not exceed"},
		{"empty data dir", []string{"--data-dir", ""}, nil, "--data-dir"},
		{"bad env value", nil, map[string]string{"GATEHOUSE_ACCESS_TOKEN_TTL": "soon"}, "GATEHOUSE_ACCESS_TOKEN_TTL"},
		{"pool", []string{"--db-max-open-conns", "0"}, nil, "--db-max-open-conns"},
		{"no sqlite cache", []string{"--db-sqlite-cache", "0"}, nil, "--db-sqlite-cache must be 1 to"},
		{"huge sqlite cache", nil, map[string]string{"GATEHOUSE_DB_SQLITE_CACHE": "1000000"}, "--db-sqlite-cache must be 1 to"},
		{"memory limit unit", []string{"--memory-limit", "100MB"}, nil, `"100MB" is not a size`},
		{"memory limit zero", []string{"--memory-limit", "0"}, nil, "below 32MiB"},
		{"memory limit negative", nil, map[string]string{"GATEHOUSE_MEMORY_LIMIT": "-1GiB"}, "GATEHOUSE_MEMORY_LIMIT"},
		{"memory limit overflow", []string{"--memory-limit", "9000000TiB"}, nil, "is not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // String() of the parsed set
	}{
		{"default trusts nobody", nil, nil, ""},
		{"flag", []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.7,2001:db8::/32"}, nil, "10.0.0.0/8,192.0.2.7/32,2001:db8::/32"},
		{"env", nil, map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "::1,127.0.0.1"}, "::1/128,127.0.0.1/32"},
		{"flag over env", []string{"--trusted-proxies", "10.0.0.1"}, map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.2"}, "10.0.0.1/32"},
		{"empty flag", []string{"--trusted-proxies", ""}, nil, ""},
		{"trust-proxy=false is harmless", []string{"--trust-proxy=false"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.TrustedProxies.String(); got != tt.want {
				t.Errorf("TrustedProxies = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTrustedProxiesErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // the error contains each
	}{
		{"bad entry", []string{"--trusted-proxies", "10.0.0.0/8,lb.internal"}, nil, []string{"trusted-proxies", `"lb.internal"`}},
		{"host bits", []string{"--trusted-proxies", "10.0.0.1/8"}, nil, []string{"trusted-proxies", `"10.0.0.1/8"`, "10.0.0.0/8"}},
		{"bad env entry", nil, map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"GATEHOUSE_TRUSTED_PROXIES", `"10.0.0.0/33"`}},
		{"trust-proxy removed", []string{"--trust-proxy"}, nil, []string{"--trust-proxy was removed", "--trusted-proxies"}},
		{"trust-proxy=true removed", []string{"--trust-proxy=true"}, nil, []string{"--trusted-proxies"}},
		{"trust-proxy env removed", nil, map[string]string{"GATEHOUSE_TRUST_PROXY": "1"}, []string{"GATEHOUSE_TRUST_PROXY", "--trusted-proxies"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.args, tt.env)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("webapp-client-secret-file"); got != "GATEHOUSE_WEBAPP_CLIENT_SECRET_FILE" {
		t.Fatal(got)
	}
}

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		want      int64
		wantApply bool
	}{
		{"default", nil, nil, DefaultMemoryLimit, true},
		{"GOMEMLIMIT stands", nil, map[string]string{"GOMEMLIMIT": "1GiB"}, 0, false},
		{"flag over GOMEMLIMIT", []string{"--memory-limit", "256MiB"}, map[string]string{"GOMEMLIMIT": "1GiB"}, 256 << 20, true},
		{"environment variable", nil, map[string]string{"GATEHOUSE_MEMORY_LIMIT": "2GiB", "GOMEMLIMIT": "1GiB"}, 2 << 30, true},
		{"bytes", []string{"--memory-limit", "67108864"}, nil, 64 << 20, true},
		{"B suffix", []string{"--memory-limit", "67108864B"}, nil, 64 << 20, true},
		{"KiB", []string{"--memory-limit", "65536KiB"}, nil, 64 << 20, true},
		{"TiB", []string{"--memory-limit", "1TiB"}, nil, 1 << 40, true},
		{"off", []string{"--memory-limit", "off"}, map[string]string{"GOMEMLIMIT": "1GiB"}, math.MaxInt64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got, apply := s.GoMemoryLimit(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if got != tt.want || apply != tt.wantApply {
				t.Errorf("GoMemoryLimit = %d, %v; want %d, %v", got, apply, tt.want, tt.wantApply)
			}
		})
	}
}

// TestDurationErrors checks that a bad duration, on the command line or in
// the environment, says what a duration looks like, for every duration flag.
func TestDurationErrors(t *testing.T) {
	var durations []string
	var s Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	s.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if isDuration(f) {
			durations = append(durations, f.Name)
		}
	})
	if len(durations) < 9 {
		t.Fatalf("found the duration flags %v, want at least 9", durations)
	}
	for _, name := range durations {
		for _, v := range []string{"5", "5 minutes", "soon"} {
			_, err := parse(t, []string{"--" + name, v}, nil)
			want := fmt.Sprintf("invalid value %q for flag -%s: use a duration such as 5m, 90s or 1h", v, name)
			if err == nil || err.Error() != want {
				t.Errorf("--%s %q: error %v, want %q", name, v, err, want)
			}
			_, err = parse(t, nil, map[string]string{EnvName(name): v})
			want = fmt.Sprintf("%s: invalid value %q: use a duration such as 5m, 90s or 1h", EnvName(name), v)
			if err == nil || err.Error() != want || !errors.Is(err, ErrDurationSyntax) {
				t.Errorf("%s=%q: error %v, want %q", EnvName(name), v, err, want)
			}
		}
	}
}

// TestParseUsage checks that Parse calls fs.Usage for -help only, and that
// the usage it prints names a duration flag's type, as flag's own does.
func TestParseUsage(t *testing.T) {
	tests := []struct {
		args      []string
		wantUsage bool
	}{
		{[]string{"--nope"}, false},
		{[]string{"--access-token-ttl", "5"}, false},
		{[]string{"--access-token-ttl"}, false},
		{[]string{"-h"}, true},
		{[]string{"--help"}, true},
		{[]string{"--access-token-ttl", "1m"}, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var s Serve
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			s.RegisterFlags(fs)
			var usage string
			fs.Usage = func() {
				var b strings.Builder
				fs.SetOutput(&b)
				fs.PrintDefaults()
				usage = b.String()
			}
			_ = Parse(fs, tt.args)
			if (usage != "") != tt.wantUsage {
				t.Fatalf("usage printed: %v, want %v", usage != "", tt.wantUsage)
			}
			if tt.wantUsage && !strings.Contains(usage, "  -access-token-ttl duration\n") {
				t.Errorf("usage does not name -access-token-ttl's type:\n%s", usage)
			}
			if name, _ := flag.UnquoteUsage(fs.Lookup("access-token-ttl")); name != "duration" {
				t.Errorf("after Parse, -access-token-ttl's value is a %q, want duration", name)
			}
		})
	}
}

// TestValueNames checks what usage shows after each flag's name: the flag
// package takes the first `quoted` word of a flag's usage as the name of its
// value, so a usage that quotes a command line shows the command instead.
func TestValueNames(t *testing.T) {
	var s Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	s.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		name, _ := flag.UnquoteUsage(f)
		if strings.Contains(name, " ") || strings.HasPrefix(name, "gatehouse") {
			t.Errorf("-%s shows %q as its value", f.Name, name)
		}
	})
}
