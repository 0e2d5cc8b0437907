package loadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The checkers below decide whether an answer counts: a fast wrong answer
// is an error, not throughput. Each returns nil for an answer of the right
// status and shape.

// tokenResponse is a token endpoint's successful answer (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// checkToken checks a token response: 200, a Bearer access token with a
// lifetime (RFC 6749 §5.1), and a refresh and an ID token when wanted.
func checkToken(status int, body []byte, wantRefresh, wantID bool) (tokenResponse, error) {
	var t tokenResponse
	if err := wantStatus(status, http.StatusOK, body); err != nil {
		return t, err
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return t, fmt.Errorf("token response: %w", err)
	}
	switch {
	case strings.Count(t.AccessToken, ".") != 2:
		return t, errors.New("token response: access_token is not a JWT")
	case !strings.EqualFold(t.TokenType, "Bearer"):
		return t, fmt.Errorf("token response: token_type %q, want Bearer", t.TokenType)
	case t.ExpiresIn <= 0:
		return t, errors.New("token response: no expires_in")
	case wantRefresh && t.RefreshToken == "":
		return t, errors.New("token response: no refresh_token")
	case wantID && strings.Count(t.IDToken, ".") != 2:
		return t, errors.New("token response: no id_token")
	}
	return t, nil
}

// checkIntrospection wants an active token (RFC 7662 §2.2).
func checkIntrospection(status int, body []byte) error {
	if err := wantStatus(status, http.StatusOK, body); err != nil {
		return err
	}
	var r struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("introspection response: %w", err)
	}
	if !r.Active || r.Sub == "" {
		return errors.New("introspection response: token not active")
	}
	return nil
}

// checkJWKS wants a JWK set (RFC 7517 §5) with at least one key.
func checkJWKS(status int, body []byte) error {
	if err := wantStatus(status, http.StatusOK, body); err != nil {
		return err
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("JWKS: no keys")
	}
	for _, k := range set.Keys {
		if k.Kty == "" || k.Kid == "" {
			return errors.New("JWKS: a key without kty or kid")
		}
	}
	return nil
}

// checkItem wants the document with the given ID (Eve's item endpoint).
func checkItem(status int, body []byte, id string) error {
	if err := wantStatus(status, http.StatusOK, body); err != nil {
		return err
	}
	var d struct {
		ID   string `json:"_id"`
		ETag string `json:"_etag"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return fmt.Errorf("item: %w", err)
	}
	if d.ID != id || d.ETag == "" {
		return fmt.Errorf("item: got _id %q, want %q with an _etag", d.ID, id)
	}
	return nil
}

// checkList wants a page of exactly want items (Eve's resource endpoint).
func checkList(status int, body []byte, want int) error {
	if err := wantStatus(status, http.StatusOK, body); err != nil {
		return err
	}
	var l struct {
		Items []struct {
			ID string `json:"_id"`
		} `json:"_items"`
		Meta struct {
			Total int `json:"total"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if len(l.Items) != want || l.Meta.Total < want {
		return fmt.Errorf("list: %d items of %d, want %d", len(l.Items), l.Meta.Total, want)
	}
	for _, it := range l.Items {
		if it.ID == "" {
			return errors.New("list: an item without _id")
		}
	}
	return nil
}

// checkCreated wants Eve's answer to a created document.
func checkCreated(status int, body []byte) error {
	if err := wantStatus(status, http.StatusCreated, body); err != nil {
		return err
	}
	var r struct {
		Status string `json:"_status"`
		ID     string `json:"_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if r.Status != "OK" || r.ID == "" {
		return fmt.Errorf("create: _status %q, _id %q", r.Status, r.ID)
	}
	return nil
}

// checkBare wants the bare server's body of the asked size.
func checkBare(status int, body []byte, size int) error {
	if err := wantStatus(status, http.StatusOK, body); err != nil {
		return err
	}
	if len(body) != size {
		return fmt.Errorf("bare: %d bytes, want %d", len(body), size)
	}
	return nil
}

func wantStatus(got, want int, body []byte) error {
	if got == want {
		return nil
	}
	return fmt.Errorf("status %d, want %d: %s", got, want, excerpt(body))
}

// excerpt is the start of a body on one line, for an error message.
func excerpt(body []byte) string {
	const max = 120
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
