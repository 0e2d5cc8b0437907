package todoclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

// Errors a call can fail with; test them with errors.Is.
var (
	// ErrUnauthorized: the API refused the access token (401). The caller
	// may refresh the token and try once more.
	ErrUnauthorized = errors.New("todoclient: access token refused")
	// ErrForbidden: the token lacks the scope the call needs (403).
	ErrForbidden = errors.New("todoclient: insufficient scope")
	// ErrNotFound: the document does not exist, or is not the caller's (404).
	ErrNotFound = errors.New("todoclient: not found")
	// ErrPreconditionFailed: the document changed since its ETag was read (412).
	ErrPreconditionFailed = errors.New("todoclient: document changed elsewhere")
	// ErrUnavailable: the API could not be reached or failed (network error,
	// 5xx, 429 or an answer that is not Eve's format).
	ErrUnavailable = errors.New("todoclient: API unavailable")
)

// ValidationError is a 422 answer: the document was refused. Issues maps a
// field to the API's message for it.
type ValidationError struct {
	Message string
	Issues  map[string]string
}

func (e *ValidationError) Error() string {
	return "todoclient: validation failed: " + e.Message
}

// Token is the access token a call presents.
type Token struct {
	// AccessToken is the token itself.
	AccessToken string
	// Type is its token_type. A DPoP token (RFC 9449) is sent as
	// "Authorization: DPoP <token>" with a proof of Key for the request
	// and the token (§7.1); any other as "Authorization: Bearer <token>"
	// (RFC 6750 §2.1).
	Type string
	// Key is the DPoP key a DPoP token is bound to.
	Key *dpop.Key
}

// dpop reports whether t is a DPoP token.
func (t Token) dpop() bool { return strings.EqualFold(t.Type, "DPoP") }

// Todo is one document of the todos resource.
type Todo struct {
	ID      string `json:"_id"`
	ETag    string `json:"_etag"`
	Title   string `json:"title"`
	Done    bool   `json:"done"`
	Created string `json:"_created"`
	Updated string `json:"_updated"`
}

// Page is one page of the collection with Eve's paging metadata.
type Page struct {
	Items      []Todo
	Page       int
	MaxResults int
	Total      int
	HasNext    bool
	HasPrev    bool
}

// LastPage is the number of the last page (at least 1).
func (p Page) LastPage() int {
	if p.MaxResults <= 0 || p.Total <= 0 {
		return 1
	}
	return (p.Total + p.MaxResults - 1) / p.MaxResults
}

// Client talks to one API. The zero value is not usable; fill BaseURL and HTTP.
type Client struct {
	// BaseURL is the API prefix, e.g. https://127.0.0.1:8001/api.
	BaseURL string
	// HTTP sends the requests; it must trust the API's certificate. With a
	// DPoP token, a dpop.Transport over its Transport adds the proofs.
	HTTP *http.Client
	// Resource is the collection name; "todos" when empty.
	Resource string
}

func (c *Client) collectionURL() string {
	r := c.Resource
	if r == "" {
		r = "todos"
	}
	return strings.TrimSuffix(c.BaseURL, "/") + "/" + url.PathEscape(r)
}

func (c *Client) itemURL(id string) string {
	return c.collectionURL() + "/" + url.PathEscape(id)
}

// List returns page (1-based) of the caller's todos with at most perPage items.
func (c *Client) List(ctx context.Context, token Token, page, perPage int) (Page, error) {
	if page < 1 {
		page = 1
	}
	q := url.Values{}
	q.Set("page", strconv.Itoa(page))
	if perPage > 0 {
		q.Set("max_results", strconv.Itoa(perPage))
	}
	var body struct {
		Items []Todo `json:"_items"`
		Meta  struct {
			Page       int `json:"page"`
			MaxResults int `json:"max_results"`
			Total      int `json:"total"`
		} `json:"_meta"`
		Links map[string]json.RawMessage `json:"_links"`
	}
	if err := c.do(ctx, http.MethodGet, c.collectionURL()+"?"+q.Encode(), token, "", nil, http.StatusOK, &body); err != nil {
		return Page{}, err
	}
	p := Page{
		Items:      body.Items,
		Page:       body.Meta.Page,
		MaxResults: body.Meta.MaxResults,
		Total:      body.Meta.Total,
	}
	if p.Page == 0 {
		p.Page = page
	}
	_, p.HasNext = body.Links["next"]
	_, p.HasPrev = body.Links["prev"]
	if p.Items == nil {
		p.Items = []Todo{}
	}
	return p, nil
}

// Create adds a todo with the given title and returns its ID.
func (c *Client) Create(ctx context.Context, token Token, title string) (string, error) {
	var body struct {
		ID string `json:"_id"`
	}
	doc := map[string]any{"title": title}
	if err := c.do(ctx, http.MethodPost, c.collectionURL(), token, "", doc, http.StatusCreated, &body); err != nil {
		return "", err
	}
	return body.ID, nil
}

// Patch changes the given fields of the todo whose current ETag is etag
// (Eve's If-Match; ErrPreconditionFailed when it changed meanwhile).
func (c *Client) Patch(ctx context.Context, token Token, id, etag string, fields map[string]any) error {
	return c.do(ctx, http.MethodPatch, c.itemURL(id), token, etag, fields, http.StatusOK, nil)
}

// Delete removes the todo whose current ETag is etag.
func (c *Client) Delete(ctx context.Context, token Token, id, etag string) error {
	return c.do(ctx, http.MethodDelete, c.itemURL(id), token, etag, nil, http.StatusNoContent, nil)
}

// maxBody bounds how much of an answer is read.
const maxBody = 4 << 20

func (c *Client) do(ctx context.Context, method, u string, token Token, etag string, in any, want int, out any) error {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("todoclient: encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("todoclient: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	// The token travels only in the Authorization header (RFC 6750 §2.1,
	// RFC 9449 §7.1).
	hc := c.HTTP
	if token.dpop() {
		if token.Key == nil {
			return errors.New("todoclient: a DPoP token without its key")
		}
		req.Header.Set("Authorization", "DPoP "+token.AccessToken)
		// dpop.Transport adds the proof, with the token's hash (ath).
		withProof := *c.HTTP
		withProof.Transport = &dpop.Transport{Base: c.HTTP.Transport, Key: token.Key}
		hc = &withProof
	} else {
		req.Header.Set("Authorization", "Bearer "+token.AccessToken)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if etag != "" {
		req.Header.Set("If-Match", quoteETag(etag))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, method, redactQuery(u), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%w: reading answer to %s: %w", ErrUnavailable, method, err)
	}
	if resp.StatusCode == want {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%w: decoding answer to %s: %w", ErrUnavailable, method, err)
		}
		return nil
	}
	var env struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"_error"`
		Issues map[string]any `json:"_issues"`
	}
	_ = json.Unmarshal(data, &env)
	msg := env.Error.Message
	if msg == "" {
		msg = resp.Status
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", ErrUnauthorized, msg)
	case http.StatusForbidden:
		return fmt.Errorf("%w: %s", ErrForbidden, msg)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, msg)
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %s", ErrPreconditionFailed, msg)
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		ve := &ValidationError{Message: msg, Issues: map[string]string{}}
		for k, v := range env.Issues {
			ve.Issues[k] = fmt.Sprint(v)
		}
		return ve
	default:
		return fmt.Errorf("%w: %s answered %s: %s", ErrUnavailable, method, resp.Status, msg)
	}
}

// quoteETag returns etag as an HTTP entity tag (RFC 9110 §8.8.3): Eve's
// _etag is the bare value, If-Match wants it quoted.
func quoteETag(etag string) string {
	if strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}

func redactQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
