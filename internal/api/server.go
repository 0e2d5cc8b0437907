package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// Store is what the API needs from the document store
// (*docstore.Store implements it).
type Store interface {
	Ensure(ctx context.Context, c docstore.Collection) error
	Insert(ctx context.Context, collection string, docs []docstore.Document) error
	Get(ctx context.Context, collection, owner, id string) (docstore.Document, error)
	Find(ctx context.Context, collection, owner string, q docquery.Query) ([]docstore.Document, error)
	Count(ctx context.Context, collection, owner string, filter docquery.Expr) (int, error)
	Replace(ctx context.Context, collection string, d docstore.Document, ifETag string) error
	Delete(ctx context.Context, collection, owner, id, ifETag string) error
	// Soft delete and versioning (softdelete.go, versions.go).
	FindWithDeleted(ctx context.Context, collection, owner string, q docquery.Query) ([]docstore.Document, error)
	CountWithDeleted(ctx context.Context, collection, owner string, filter docquery.Expr) (int, error)
	GetVersion(ctx context.Context, collection, owner, id string, version int) (docstore.Document, error)
	FindVersions(ctx context.Context, collection, owner, id string, limit, offset int) ([]docstore.Document, error)
	CountVersions(ctx context.Context, collection, owner, id string) (int, error)
}

var _ Store = (*docstore.Store)(nil)

// Config configures the API.
type Config struct {
	// Resources is the loaded resource file (resource.LoadResources).
	Resources *resource.Set
	Store     Store
	// Verifier checks bearer tokens (bearer.NewJWTVerifier or
	// bearer.NewIntrospectionVerifier).
	Verifier bearer.Verifier
	// DPoP, when set, checks the proofs that come with access tokens bound
	// to a DPoP key (RFC 9449 §7): such a token is accepted only as
	// "Authorization: DPoP <token>" with a proof of its key for the
	// request, made for PublicURL and the request's path (for the URL the
	// request reached when PublicURL is empty). Bearer tokens are accepted
	// as "Authorization: Bearer <token>" either way. Nil: bound tokens are
	// refused.
	DPoP *dpop.Checker
	// PublicURL is the external base URL (scheme://host[:port]) used in
	// Location headers, the OpenAPI document and DPoP proofs; empty:
	// relative URLs.
	PublicURL string
	Logger    *slog.Logger
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client that the rate limits of public methods count per address
	// (none: the connection's address).
	TrustedProxies httpserver.TrustedProxies
	// ReadPoolSize is the size of the store's read connection pool (0:
	// unknown). A principal's concurrent queries are held to half of it,
	// whatever the resource file's query_limits.concurrency says, so that
	// one caller never holds the whole pool.
	ReadPoolSize int
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Server serves the API.
type Server struct {
	cfg     Config
	auth    []bearer.Option // how tokens are authenticated
	limiter *limiter
	limits  resource.QueryLimits // as applied (querylimits.go)
	gate    *gate
	openapi []byte
	counts  *countCache // list totals (counts.go)
}

// Prefix is where the API is served.
const Prefix = "/api"

// New checks the configuration and ensures every resource's collection
// exists in the store.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Resources == nil || cfg.Store == nil || cfg.Verifier == nil {
		return nil, errors.New("api: Config needs Resources, Store and Verifier")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	for _, r := range cfg.Resources.Resources {
		if r.DefaultSort != "" {
			if _, err := query.ParseSort(r.DefaultSort, r); err != nil {
				return nil, fmt.Errorf("api: resource %s: default_sort: %w", r.Name, err)
			}
		}
		if err := cfg.Store.Ensure(ctx, r.Collection()); err != nil {
			return nil, fmt.Errorf("api: resource %s: %w", r.Name, err)
		}
	}
	limits, err := applyQueryLimits(cfg.Resources.QueryLimits, cfg.ReadPoolSize)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, limiter: newLimiter(cfg.Resources.RateLimit, cfg.Now), counts: newCountCache(),
		limits: limits, gate: newGate(limits.Concurrency, limits.Wait)}
	if cfg.DPoP != nil {
		var urlOf func(*http.Request) string // bearer.RequestURL
		if cfg.PublicURL != "" {
			urlOf = func(r *http.Request) string { return cfg.PublicURL + r.URL.EscapedPath() }
		}
		s.auth = []bearer.Option{bearer.WithDPoP(cfg.DPoP, urlOf)}
	}
	doc, err := json.MarshalIndent(openAPI(cfg.Resources, cfg.PublicURL), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("api: openapi: %w", err)
	}
	s.openapi = doc
	return s, nil
}

// Handler serves requests under /api (mount it at "/api/" and "/api").
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.cfg.Logger.ErrorContext(r.Context(), "api: panic", "panic", v, "path", r.URL.Path)
			writeError(w, http.StatusInternalServerError, "Internal server error")
		}
	}()
	path, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok || (path != "" && !strings.HasPrefix(path, "/")) {
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	s.cors(w, r)
	switch {
	case len(parts) == 0:
		httpserver.SetRoute(r, Prefix)
		s.static(w, r, []string{"GET", "HEAD", "OPTIONS"}, s.home)
	case len(parts) == 1 && parts[0] == "openapi.json":
		httpserver.SetRoute(r, Prefix+"/openapi.json")
		s.static(w, r, []string{"GET", "HEAD", "OPTIONS"}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(s.openapi) //nolint:errcheck // the client went away
		})
	case len(parts) <= 2:
		res, ok := s.cfg.Resources.ByURL(parts[0])
		if !ok {
			writeError(w, http.StatusNotFound, msgNotFound)
			return
		}
		// The route names the resource (declared, so a bounded set for
		// metrics), never the document's ID.
		if len(parts) == 1 {
			httpserver.SetRoute(r, Prefix+"/"+res.URL)
			s.resource(w, r, res, "")
		} else {
			httpserver.SetRoute(r, Prefix+"/"+res.URL+"/{id}")
			s.resource(w, r, res, parts[1])
		}
	default:
		writeError(w, http.StatusNotFound, msgNotFound)
	}
}

func allowHeader(methods []string) string {
	out := slices.Clone(methods)
	if slices.Contains(out, "GET") {
		out = append(out, "HEAD")
	}
	out = append(out, "OPTIONS")
	return strings.Join(out, ", ")
}

func (s *Server) static(w http.ResponseWriter, r *http.Request, allowed []string, h http.HandlerFunc) {
	switch r.Method {
	case "GET", "HEAD":
		h(w, r)
	case "OPTIONS":
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		optionsAnswer(w)
	default:
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, msgNotAllowed)
	}
}

// optionsAnswer answers OPTIONS as Eve (Flask) does: 200, an empty body
// of type text/html, and the Allow header set by the caller.
func optionsAnswer(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// home is Eve's home endpoint.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	var child []map[string]string
	for _, res := range s.cfg.Resources.Resources {
		child = append(child, map[string]string{"href": res.URL, "title": res.Title()})
	}
	if h := s.cfg.Resources.Wire.HATEOAS; h != nil && !*h {
		writeJSON(w, http.StatusOK, map[string]any{}) // Eve's HATEOAS = False
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"_links": map[string]any{"child": child}})
}

// cors answers Eve's X_DOMAINS: only listed origins get CORS headers.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	c := s.cfg.Resources.CORS
	if origin == "" || len(c.AllowedOrigins) == 0 {
		return
	}
	w.Header().Add("Vary", "Origin")
	if !slices.Contains(c.AllowedOrigins, origin) && !slices.Contains(c.AllowedOrigins, "*") {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	headers := []string{"Authorization", "Content-Type", "If-Match", "If-None-Match"}
	expose := []string{"ETag", "Location", "Last-Modified", "X-Total-Count", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
	if s.cfg.DPoP != nil {
		// A browser client sends its proofs, and reads the challenges and
		// nonces of the refusals (RFC 9449 §7.1, §9).
		headers = append(headers, dpop.HeaderProof)
		expose = append(expose, "WWW-Authenticate", dpop.HeaderNonce)
	}
	if s.cfg.Resources.Wire.AllowOverrideHTTPMethod {
		headers = append(headers, "X-HTTP-Method-Override")
	}
	headers = append(headers, c.AllowedHeaders...)
	h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	expose = append(expose, c.ExposeHeaders...)
	h.Set("Access-Control-Expose-Headers", strings.Join(expose, ", "))
	h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PATCH, PUT, DELETE, OPTIONS")
}

// resource routes a collection (id == "") or item request.
func (s *Server) resource(w http.ResponseWriter, r *http.Request, res *resource.Resource, id string) {
	methods, public := res.ResourceMethods, res.PublicMethods
	lookup := false
	if id != "" {
		methods, public = res.ItemMethods, res.PublicItemMethods
		// The item URL takes ids item_url matches; the additional lookup
		// URL (lookup.go) is read-only.
		var ok bool
		if lookup, ok = res.Route(id); !ok {
			writeError(w, http.StatusNotFound, msgNotFound)
			return
		}
		if lookup {
			methods, public = lookupMethods(methods, public)
		}
	}
	method, err := s.effectiveMethod(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if method == "HEAD" {
		method = "GET"
	}
	if method == "OPTIONS" {
		w.Header().Set("Allow", allowHeader(methods))
		optionsAnswer(w)
		return
	}
	if !slices.Contains(methods, method) {
		w.Header().Set("Allow", allowHeader(methods))
		writeError(w, http.StatusMethodNotAllowed, msgNotAllowed)
		return
	}
	owner := ""
	// The principal the rate limits and query limits count by.
	principal := "ip:" + httpserver.ClientNetwork(s.cfg.TrustedProxies.ClientIP(r))
	var claims *bearer.Claims
	if !slices.Contains(public, method) {
		var e *bearer.Error
		claims, e = bearer.Authenticate(r, s.cfg.Verifier, s.auth...)
		if e != nil {
			writeBearerError(w, r, e)
			return
		}
		scope := res.WriteScope()
		if method == "GET" {
			scope = res.ReadScope()
		}
		if !hasScope(w, r, claims, scope) {
			return
		}
		if res.OwnerField != "" {
			owner = claims.Subject
		}
		principal = principalKey(claims)
	}
	if !s.limiter.allow(w, method, principal) {
		writeError(w, http.StatusTooManyRequests, "Rate limit exceeded")
		return
	}
	h := &handler{s: s, res: res, owner: owner, claims: claims, principal: principal}
	defer h.done()
	switch {
	case id == "" && method == "GET":
		h.list(w, r)
	case id == "" && method == "POST":
		h.create(w, r)
	case lookup:
		h.lookup(w, r, id)
	case method == "GET":
		h.get(w, r, id)
	case method == "PATCH" || method == "PUT":
		h.update(w, r, id, method == "PATCH")
	case method == "DELETE":
		h.delete(w, r, id)
	}
}

// hasScope tells whether claims grant scope, answering 403
// insufficient_scope (RFC 6750 §3.1) when they do not.
func hasScope(w http.ResponseWriter, r *http.Request, claims *bearer.Claims, scope string) bool {
	if claims.HasScope(scope) {
		return true
	}
	writeBearerError(w, r, &bearer.Error{Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "the access token lacks the scope " + scope, Scope: scope, Scheme: claims.Scheme(), Schemes: []string{claims.Scheme()}})
	return false
}

// byName returns the resource named name.
func (s *Server) byName(name string) (*resource.Resource, bool) {
	for _, r := range s.cfg.Resources.Resources {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}
