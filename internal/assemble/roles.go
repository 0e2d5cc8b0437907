package assemble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/webapp"
	"github.com/gatehouse-dev/gatehouse/internal/webapp/leases"
)

// wiring holds what the roles are built from.
type wiring struct {
	cfg       *config.Serve
	logger    *slog.Logger
	store     *sqlstore.Store
	key       *secret.Key
	docs      *docstore.Store
	resources *resource.Set
	client    *http.Client
	// dpopNonces are the server nonces DPoP proofs must carry at the
	// authorization server and the API (--dpop-nonces); nil: none. Derived
	// from the server secret, so every instance and role hands out and
	// accepts the same ones.
	dpopNonces *dpop.Nonces
	lockout    authz.Lockout
}

// role is one role's server and the work it does beside it.
type role struct {
	server     httpserver.Server
	background func(ctx context.Context) error // nil when it has none
	stop       func()                          // ends its cleanup work; nil when it has none
}

// dpopNonceLifetime is how long a DPoP server nonce is current; the
// previous one is accepted for as long again.
const dpopNonceLifetime = 5 * time.Minute

// newDPoPNonces returns the DPoP server nonces of --dpop-nonces, or nil.
func newDPoPNonces(c *config.Serve, key *secret.Key) (*dpop.Nonces, error) {
	if !c.DPoPNonces {
		return nil, nil
	}
	n, err := dpop.NewNonces(key.Derive("gatehouse dpop nonces", 32), dpopNonceLifetime, nil)
	if err != nil {
		return nil, fmt.Errorf("DPoP nonces: %w", err)
	}
	return n, nil
}

func (w *wiring) build(ctx context.Context, name string) (role, error) {
	switch name {
	case config.RoleAuthz:
		return w.authz(ctx)
	case config.RoleAPI:
		return w.api(ctx)
	case config.RoleWebapp:
		return w.webapp(ctx)
	}
	return role{}, fmt.Errorf("unknown role %q", name)
}

func (w *wiring) authz(ctx context.Context) (role, error) {
	c := w.cfg
	srv, err := authz.New(ctx, authz.Config{
		Issuer:             c.IssuerURL(),
		Store:              w.store,
		Secret:             w.key,
		Logger:             w.logger.With("role", config.RoleAuthz),
		Audience:           c.APIPublicURL(),
		ResourceScopes:     w.resources.Scopes(),
		AccessTokenTTL:     c.AccessTokenTTL,
		RefreshIdleTTL:     c.RefreshIdleTTL,
		RefreshAbsoluteTTL: c.RefreshAbsoluteTTL,
		KeyRotation:        c.KeyRotation,
		KeyReload:          c.KeyReload,
		JanitorInterval:    c.JanitorInterval,
		InsecureHTTP:       c.InsecureHTTP,
		TrustedProxies:     c.TrustedProxies,
		DPoPNonces:         w.dpopNonces,
		RequirePAR:         c.RequirePAR,
		RequireMFA:         c.RequireMFA,
		Lockout:            w.lockout,
	})
	if err != nil {
		return role{}, err
	}
	return role{server: httpServer(c.AuthzAddr, srv.Handler()), background: srv.Run}, nil
}

func (w *wiring) api(ctx context.Context) (role, error) {
	c := w.cfg
	var verifier bearer.Verifier
	switch c.TokenCheck {
	case "introspect":
		clientSecret, err := readSecretFile(c.ClientSecretFile(c.APIClientSecretFile, c.APIClientID))
		if err != nil {
			return role{}, err
		}
		v, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
			URL:      c.IssuerURL() + "/introspect",
			ClientID: c.APIClientID, ClientSecret: clientSecret,
			Issuer: c.IssuerURL(), Audience: c.APIPublicURL(),
			HTTPClient: w.client,
		})
		if err != nil {
			return role{}, err
		}
		verifier = v
	default:
		v, err := bearer.NewJWTVerifier(ctx, bearer.JWTConfig{
			Issuer: c.IssuerURL(), Audience: c.APIPublicURL(), HTTPClient: w.client,
			MaxKeyAge: c.JWKSMaxAge, Leeway: c.JWTLeeway,
		})
		if err != nil {
			return role{}, err
		}
		verifier = v
	}
	srv, err := api.New(ctx, api.Config{
		Resources: w.resources,
		Store:     w.docs,
		Verifier:  verifier,
		// Proofs are recorded in the database, so that each is accepted
		// once by all the API's instances; the authorization server's
		// janitor deletes the expired ones.
		DPoP:      &dpop.Checker{Replays: api.Replays{Store: w.store}, Nonces: w.dpopNonces},
		PublicURL: c.APIPublicURL(),
		Logger:    w.logger.With("role", config.RoleAPI),

		TrustedProxies: c.TrustedProxies,
		ReadPoolSize:   w.store.ReadDB().Stats().MaxOpenConnections,
	})
	if err != nil {
		return role{}, err
	}
	return role{server: httpServer(c.APIAddr, srv.Handler())}, nil
}

func (w *wiring) webapp(ctx context.Context) (role, error) {
	c := w.cfg
	clientSecret, err := readSecretFile(c.ClientSecretFile(c.WebappClientSecretFile, c.WebappClientID))
	if err != nil {
		return role{}, err
	}
	// The web app accepts ID tokens of the algorithm its client is
	// registered with, read once here: `client update --id-token-alg` on
	// the web app's client takes a restart of the web app. An unregistered
	// client reads as RS256; its sign-ins fail with invalid_client anyway.
	reg, err := w.store.GetClient(ctx, c.WebappClientID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return role{}, fmt.Errorf("reading the web app's client %q: %w", c.WebappClientID, err)
	}
	sessions, leases, stop, err := w.sessionStore()
	if err != nil {
		return role{}, err
	}
	srv, err := webapp.New(ctx, webapp.Config{
		PublicURL:    c.WebappPublicURL(),
		Issuer:       c.IssuerURL(),
		APIURL:       c.APIPublicURL() + "/api",
		ClientID:     c.WebappClientID,
		ClientSecret: clientSecret,
		IDTokenAlg:   reg.IDTokenAlg,
		HTTPClient:   w.client,
		Sessions:     sessions,
		Leases:       leases,
		Secret:       w.key,
		Logger:       w.logger.With("role", config.RoleWebapp),
		InsecureHTTP: c.InsecureHTTP,
	})
	if err != nil {
		stop()
		return role{}, err
	}
	return role{server: httpServer(c.WebappAddr, srv.Handler()), stop: stop}, nil
}

// sessionStore picks the web app's session store: Redis when configured,
// else the database's own `sessions` table, with the leases that serialize
// token refreshes across instances kept in the same place. stop ends its
// cleanup work.
func (w *wiring) sessionStore() (scs.Store, webapp.Leases, func(), error) {
	if u := w.cfg.SessionStore; u != "" {
		pool := &redis.Pool{
			MaxIdle: 10, IdleTimeout: 4 * time.Minute,
			Dial: func() (redis.Conn, error) {
				return redis.DialURL(u, redis.DialConnectTimeout(5*time.Second),
					redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
			},
		}
		conn := pool.Get()
		_, err := conn.Do("PING")
		conn.Close()
		if err != nil {
			pool.Close()
			return nil, nil, nil, fmt.Errorf("--session-store: cannot reach Redis at %s: %v", redactURL(u), err)
		}
		return redisstore.NewWithPrefix(pool, "gatehouse:session:"),
			&leases.Redis{Pool: pool, Prefix: "gatehouse:lease:"}, func() { pool.Close() }, nil
	}
	l := leases.NewSQL(w.store)
	// Rows as scs's own stores keep them, with contexts: scs's stores take
	// none, so a request's deadline would not end a session lookup the
	// database never answers. Expired rows are swept as scs's stores do.
	s := w.store.WebSessions(5 * time.Minute)
	return s, l, s.StopCleanup, nil
}

func httpServer(addr string, h http.Handler) httpserver.Server {
	return httpserver.Server{Addr: addr, Handler: h}
}

// readSecretFile reads a client secret written by seed (or by an operator).
func readSecretFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("client secret: %w (run gatehouse seed, or give the file with its flag)", err)
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "", fmt.Errorf("client secret: %s is empty", path)
	}
	return s, nil
}

// redactURL hides a URL's password.
func redactURL(raw string) string {
	i := strings.Index(raw, "://")
	at := strings.LastIndex(raw, "@")
	if i < 0 || at < i {
		return raw
	}
	return raw[:i+3] + "…@" + raw[at+1:]
}
