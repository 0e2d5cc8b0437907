package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
)

// Scenario names, in the order they run.
const (
	ScenarioClientCredentials = "client-credentials"
	ScenarioCodeExchange      = "code-exchange"
	ScenarioRefresh           = "refresh"
	ScenarioIntrospection     = "introspection"
	ScenarioJWKS              = "jwks"
	ScenarioAPIGet            = "api-get"
	ScenarioAPIList           = "api-list"
	ScenarioAPIPost           = "api-post"
	ScenarioSignIn            = "sign-in"
)

// Scenarios lists every scenario in run order.
var Scenarios = []string{
	ScenarioClientCredentials, ScenarioCodeExchange, ScenarioRefresh, ScenarioIntrospection, ScenarioJWKS,
	ScenarioAPIGet, ScenarioAPIList, ScenarioAPIPost, ScenarioSignIn,
}

// shape is what one request of a scenario looks like on the wire, so the
// bare server can be sent the same: method and body sizes.
type shape struct {
	once    sync.Once
	method  string
	reqLen  int
	respLen int
	set     bool
}

func (s *shape) record(method string, req, resp int) {
	s.once.Do(func() { s.method, s.reqLen, s.respLen, s.set = method, req, resp, true })
}

// target is a running Gatehouse and what the scenarios act as.
type target struct {
	authz, api string
	clients    clients
	cc         flowtest.Client // client credentials, owns the documents
	web        flowtest.Client // authorization code + refresh
	apiClient  flowtest.Client // introspects
	flow       *codeFlow
	docIDs     []string // some of cc's documents
	listPages  int      // pages of max_results the list scenario may ask for
	listSort   string   // the list scenario's sort parameter
}

const formType = "application/x-www-form-urlencoded"

// clientCredentialsToken gets an access token for the cc client.
func (t *target) clientCredentialsToken(ctx context.Context, c *http.Client) (string, error) {
	h := http.Header{"Content-Type": {formType}, "Authorization": {t.cc.Basic()}}
	r, err := flowtest.Send(ctx, c, http.MethodPost, t.authz+"/token", h, []byte(ccBody))
	if err != nil {
		return "", err
	}
	tok, err := checkToken(r.Status, r.Body, false, false)
	return tok.AccessToken, err
}

var ccBody = url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read todos:write"}}.Encode()

// scenario makes the ops of one scenario; prepare runs before and may
// return a note for the table.
type scenario struct {
	name  string
	shape *shape
	bare  bool // compared with the bare server
	// newOp makes connection i's op.
	newOp func(ctx context.Context, i int) (op, error)
}

// build returns the named scenario against t, preparing what it needs
// (tokens, codes). cfg bounds the preparation.
func (t *target) build(ctx context.Context, name string, l load) (*scenario, error) {
	sc := &scenario{name: name, shape: &shape{}, bare: true}
	sh := sc.shape
	switch name {
	case ScenarioClientCredentials:
		sc.newOp = func(_ context.Context, _ int) (op, error) {
			c := t.clients.new()
			h := http.Header{"Content-Type": {formType}, "Authorization": {t.cc.Basic()}}
			body := []byte(ccBody)
			return func(ctx context.Context) error {
				r, err := flowtest.Send(ctx, c, http.MethodPost, t.authz+"/token", h, body)
				if err != nil {
					return err
				}
				_, err = checkToken(r.Status, r.Body, false, false)
				sh.record(http.MethodPost, len(body), len(r.Body))
				return err
			}, nil
		}

	case ScenarioIntrospection:
		tok, err := t.clientCredentialsToken(ctx, t.clients.new())
		if err != nil {
			return nil, fmt.Errorf("a token to introspect: %w", err)
		}
		body := []byte(url.Values{"token": {tok}}.Encode())
		sc.newOp = func(_ context.Context, _ int) (op, error) {
			c := t.clients.new()
			h := http.Header{"Content-Type": {formType}, "Authorization": {t.apiClient.Basic()}}
			return func(ctx context.Context) error {
				r, err := flowtest.Send(ctx, c, http.MethodPost, t.authz+"/introspect", h, body)
				if err != nil {
					return err
				}
				sh.record(http.MethodPost, len(body), len(r.Body))
				return checkIntrospection(r.Status, r.Body)
			}, nil
		}

	case ScenarioJWKS:
		sc.newOp = func(_ context.Context, _ int) (op, error) {
			c := t.clients.new()
			return func(ctx context.Context) error {
				r, err := flowtest.Send(ctx, c, http.MethodGet, t.authz+"/jwks", nil, nil)
				if err != nil {
					return err
				}
				sh.record(http.MethodGet, 0, len(r.Body))
				return checkJWKS(r.Status, r.Body)
			}, nil
		}

	case ScenarioRefresh:
		browser := flowtest.Browser(t.clients.new())
		h := http.Header{"Content-Type": {formType}, "Authorization": {t.web.Basic()}}
		// newChain starts a rotation chain: a code through the flow, then
		// the code exchanged for the first refresh token.
		newChain := func(ctx context.Context, c *http.Client) (string, error) {
			g, err := t.flow.code(ctx, browser)
			if err != nil {
				return "", err
			}
			r, err := flowtest.Send(ctx, c, http.MethodPost, t.authz+"/token", h, t.flow.exchangeBody(g))
			if err != nil {
				return "", err
			}
			tok, err := checkToken(r.Status, r.Body, true, true)
			return tok.RefreshToken, err
		}
		sc.newOp = func(ctx context.Context, _ int) (op, error) {
			c := t.clients.new()
			rt, err := newChain(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("starting a refresh chain: %w", err)
			}
			return func(ctx context.Context) error {
				body := []byte(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode())
				r, err := flowtest.Send(ctx, c, http.MethodPost, t.authz+"/token", h, body)
				if err == nil {
					var tok tokenResponse
					if tok, err = checkToken(r.Status, r.Body, true, false); err == nil {
						if tok.RefreshToken == rt {
							err = fmt.Errorf("refresh token not rotated")
						}
						rt = tok.RefreshToken
						sh.record(http.MethodPost, len(body), len(r.Body))
						return err
					}
				}
				// The chain may be broken: start a new one (counted in
				// this failed op, not in any latency).
				if next, cerr := newChain(ctx, c); cerr == nil {
					rt = next
				}
				return err
			}, nil
		}

	case ScenarioCodeExchange:
		codes, err := t.prepareCodes(ctx, l)
		if err != nil {
			return nil, err
		}
		h := http.Header{"Content-Type": {formType}, "Authorization": {t.web.Basic()}}
		sc.newOp = func(_ context.Context, _ int) (op, error) {
			c := t.clients.new()
			return func(ctx context.Context) error {
				var g flowtest.Grant
				select {
				case g = <-codes:
				default:
					return errNoWork
				}
				body := t.flow.exchangeBody(g)
				r, err := flowtest.Send(ctx, c, http.MethodPost, t.authz+"/token", h, body)
				if err != nil {
					return err
				}
				sh.record(http.MethodPost, len(body), len(r.Body))
				_, err = checkToken(r.Status, r.Body, true, true)
				return err
			}, nil
		}

	case ScenarioAPIGet, ScenarioAPIList, ScenarioAPIPost:
		if name != ScenarioAPIPost && len(t.docIDs) == 0 {
			return nil, fmt.Errorf("%s: no documents were prepared", name)
		}
		tok, err := t.clientCredentialsToken(ctx, t.clients.new())
		if err != nil {
			return nil, fmt.Errorf("an API token: %w", err)
		}
		auth := "Bearer " + tok
		sc.newOp = func(_ context.Context, i int) (op, error) {
			c := t.clients.new()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			switch name {
			case ScenarioAPIGet:
				h := http.Header{"Authorization": {auth}}
				return func(ctx context.Context) error {
					id := t.docIDs[rng.IntN(len(t.docIDs))]
					r, err := flowtest.Send(ctx, c, http.MethodGet, t.api+"/api/todos/"+id, h, nil)
					if err != nil {
						return err
					}
					sh.record(http.MethodGet, 0, len(r.Body))
					return checkItem(r.Status, r.Body, id)
				}, nil
			case ScenarioAPIList:
				h := http.Header{"Authorization": {auth}}
				return func(ctx context.Context) error {
					u := t.api + "/api/todos?" + listQuery(t.listSort, 1+rng.IntN(max(t.listPages, 1)))
					r, err := flowtest.Send(ctx, c, http.MethodGet, u, h, nil)
					if err != nil {
						return err
					}
					sh.record(http.MethodGet, 0, len(r.Body))
					return checkList(r.Status, r.Body, listPageSize)
				}, nil
			default:
				h := http.Header{"Authorization": {auth}, "Content-Type": {"application/json"}}
				n := 0
				return func(ctx context.Context) error {
					n++
					body := []byte(`{"title":"load ` + strconv.Itoa(i) + "-" + strconv.Itoa(n) + `","tags":["load"]}`)
					r, err := flowtest.Send(ctx, c, http.MethodPost, t.api+"/api/todos", h, body)
					if err != nil {
						return err
					}
					sh.record(http.MethodPost, len(body), len(r.Body))
					return checkCreated(r.Status, r.Body)
				}, nil
			}
		}

	case ScenarioSignIn:
		sc.bare = false
		h := http.Header{"Content-Type": {formType}, "Authorization": {t.web.Basic()}}
		sc.newOp = func(_ context.Context, _ int) (op, error) {
			c := t.clients.new()
			return func(ctx context.Context) error {
				// A new browser each time: the login form, argon2id, the
				// code, the exchange.
				g, err := t.flow.code(ctx, flowtest.Browser(c))
				if err != nil {
					return err
				}
				r, err := flowtest.Send(ctx, c, http.MethodPost, t.authz+"/token", h, t.flow.exchangeBody(g))
				if err != nil {
					return err
				}
				_, err = checkToken(r.Status, r.Body, true, true)
				return err
			}, nil
		}

	default:
		return nil, fmt.Errorf("unknown scenario %q (known: %v)", name, Scenarios)
	}
	return sc, nil
}

// The list scenario's query: Eve's where, sort and paging.
const listPageSize = 25

// listSortRE is the form of Config.ListSort: Eve's sort parameter, field
// names each with an optional leading "-" for descending. The server
// checks the names against the resource.
var listSortRE = regexp.MustCompile(`^-?[A-Za-z0-9_]{1,64}(,-?[A-Za-z0-9_]{1,64}){0,3}$`)

func listQuery(sort string, page int) string {
	return url.Values{
		"where":       {`{"done":false}`},
		"sort":        {sort},
		"max_results": {strconv.Itoa(listPageSize)},
		"page":        {strconv.Itoa(page)},
	}.Encode()
}

// codeTTL is how long an authorization code stays valid at the server; the
// codes prepared and the exchange run must fit in it.
const codeTTL = 60 * time.Second

// prepareCodes gets authorization codes through the flow (one signed-in
// browser, so without a password hash each) for at most 20 s or
// l.maxRequests codes (default 50,000).
func (t *target) prepareCodes(ctx context.Context, l load) (chan flowtest.Grant, error) {
	want := l.maxRequests
	if want <= 0 {
		want = 50000
	}
	want += l.conns // the warm-up takes one per connection
	codes := make(chan flowtest.Grant, want)
	browser := flowtest.Browser(t.clients.new())
	if _, err := t.flow.code(ctx, browser); err != nil { // signs in once
		return nil, fmt.Errorf("preparing codes: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		n        int
		firstErr error
	)
	for range l.conns {
		wg.Go(func() {
			for pctx.Err() == nil {
				mu.Lock()
				if n >= want {
					mu.Unlock()
					return
				}
				n++
				mu.Unlock()
				g, err := t.flow.code(pctx, browser)
				if err != nil {
					if pctx.Err() == nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
					}
					return
				}
				codes <- g
			}
		})
	}
	wg.Wait()
	if len(codes) == 0 {
		return nil, fmt.Errorf("preparing codes: none obtained: %v", firstErr)
	}
	return codes, nil
}
