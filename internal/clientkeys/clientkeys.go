package clientkeys

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Algorithms are the JWS algorithms accepted on client assertions:
// asymmetric only (a client shares no key with the server here), the FAPI
// 2.0 Security Profile's PS256, ES256 and EdDSA, and RS256, which OpenID
// Connect clients commonly use.
func Algorithms() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.PS256, jose.ES256, jose.EdDSA, jose.RS256}
}

// AlgorithmNames are Algorithms as strings, for discovery metadata.
func AlgorithmNames() []string {
	algs := Algorithms()
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return names
}

const (
	// jwksURITTL is how long a fetched client key set is used.
	jwksURITTL = 5 * time.Minute
	// jwksURIRefetch is how soon a key set is fetched again for a key it
	// lacks, so unknown key IDs cannot make the server hammer a client.
	jwksURIRefetch = 30 * time.Second
	// maxJWKSBytes bounds a client's key set, registered or fetched.
	maxJWKSBytes     = 64 << 10
	jwksFetchTimeout = 10 * time.Second
)

// Sets gives each client's public keys: its registered JWKS, parsed once
// per content, or the set at its jwks_uri, fetched once at a time per URI
// and kept for jwksURITTL. It is safe for concurrent use.
type Sets struct {
	http  *http.Client
	now   func() time.Time
	group singleflight.Group

	mu      sync.Mutex
	inline  map[string]inlineSet  // by client ID
	fetched map[string]fetchedSet // by URI
	failed  map[string]failure    // by URI: the last fetch, if it failed
}

type failure struct {
	err error
	at  time.Time
}

type inlineSet struct {
	src  string
	keys []jose.JSONWebKey
}

type fetchedSet struct {
	keys []jose.JSONWebKey
	at   time.Time
}

// Source is where a client's keys are: its registered set (JWKS) or a URI
// to fetch it from.
type Source struct {
	ClientID string
	JWKS     string
	URI      string
}

// NewSets fetches key sets with hc (nil: an http.Client with a 10-second
// timeout) and ages them by now (nil: time.Now).
func NewSets(hc *http.Client, now func() time.Time) *Sets {
	if hc == nil {
		hc = &http.Client{Timeout: jwksFetchTimeout}
	}
	if now == nil {
		now = time.Now
	}
	return &Sets{http: hc, now: now, inline: map[string]inlineSet{}, fetched: map[string]fetchedSet{},
		failed: map[string]failure{}}
}

// Candidates returns the client's keys that could have made a signature
// with alg under kid (every key fit for alg when kid is empty). refresh
// fetches a jwks_uri set again unless it was fetched within the last 30
// seconds: for a key ID the cached set lacks.
func (k *Sets) Candidates(ctx context.Context, src Source, kid string, alg jose.SignatureAlgorithm, refresh bool) ([]jose.JSONWebKey, error) {
	var set []jose.JSONWebKey
	var err error
	if src.URI != "" {
		set, err = k.fromURI(ctx, src.URI, refresh)
	} else {
		set, err = k.fromRegistration(src)
	}
	if err != nil {
		return nil, err
	}
	var out []jose.JSONWebKey
	for _, key := range set {
		if (kid == "" || key.KeyID == kid) && Fits(key, alg) {
			out = append(out, key)
		}
	}
	return out, nil
}

func (k *Sets) fromRegistration(src Source) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	s, ok := k.inline[src.ClientID]
	k.mu.Unlock()
	if ok && s.src == src.JWKS {
		return s.keys, nil
	}
	keys, err := Parse([]byte(src.JWKS))
	if err != nil {
		return nil, fmt.Errorf("the client's registered key set: %w", err)
	}
	k.mu.Lock()
	k.inline[src.ClientID] = inlineSet{src: src.JWKS, keys: keys}
	k.mu.Unlock()
	return keys, nil
}

func (k *Sets) fromURI(ctx context.Context, uri string, refresh bool) ([]jose.JSONWebKey, error) {
	now := k.now()
	if keys, ok := k.cached(uri, now, refresh); ok {
		return keys, nil
	}
	return k.fetchShared(ctx, uri, now, refresh)
}

// cached returns the set fetched from uri if it may be used at now: fetched
// within jwksURITTL and, for refresh, within jwksURIRefetch.
func (k *Sets) cached(uri string, now time.Time, refresh bool) ([]jose.JSONWebKey, bool) {
	k.mu.Lock()
	s, ok := k.fetched[uri]
	k.mu.Unlock()
	age := now.Sub(s.at)
	if !ok || age >= jwksURITTL || (refresh && age >= jwksURIRefetch) {
		return nil, false
	}
	return s.keys, true
}

// fetchShared fetches the set at uri for a caller that found none cached
// at now: one fetch per URI at a time, shared by every caller asking
// meanwhile and detached from ctx, so that the end of the request that
// started it does not fail the others; a caller whose ctx ends stops
// waiting. When the fetch fails, a set still within jwksURITTL is used.
func (k *Sets) fetchShared(ctx context.Context, uri string, now time.Time, refresh bool) ([]jose.JSONWebKey, error) {
	ch := k.group.DoChan(uri, func() (any, error) {
		// A fetch that ended after the caller looked at the cache, and so
		// was not shared with it, answers it too.
		if keys, ok := k.cached(uri, now, refresh); ok {
			return keys, nil
		}
		// A URI that just failed is not asked again at once: assertions
		// with made-up key IDs cannot turn into a stream of fetches.
		k.mu.Lock()
		f, failed := k.failed[uri]
		k.mu.Unlock()
		if failed && k.now().Sub(f.at) < jwksURIRefetch {
			return nil, f.err
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
		defer cancel()
		keys, err := k.fetch(fctx, uri)
		if err != nil {
			k.mu.Lock()
			k.failed[uri] = failure{err: err, at: k.now()}
			k.mu.Unlock()
			return nil, err
		}
		k.mu.Lock()
		k.fetched[uri] = fetchedSet{keys: keys, at: k.now()}
		delete(k.failed, uri)
		k.mu.Unlock()
		return keys, nil
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		res.Err = ctx.Err()
	}
	if res.Err != nil {
		if keys, ok := k.cached(uri, now, false); ok {
			return keys, nil // the set in hand is still current
		}
		return nil, fmt.Errorf("fetching the client's jwks_uri: %w", res.Err)
	}
	return res.Val.([]jose.JSONWebKey), nil
}

func (k *Sets) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := k.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	return Parse(body)
}

// Parse parses a client's JSON Web Key Set: at most 64 KiB, at
// least one key, every key public, of a type and size an assertion
// algorithm can use (RSA of 2048 bits or more, EC P-256, Ed25519), with
// "use" sig if it says. Keys fit for no algorithm are an error rather than
// ignored, so a registration mistake shows when it is made.
func Parse(b []byte) ([]jose.JSONWebKey, error) {
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("key set larger than %d KiB", maxJWKSBytes>>10)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("the key set has no keys")
	}
	for i, key := range set.Keys {
		if _, ok := key.Key.([]byte); ok {
			return nil, fmt.Errorf("key %d (%q) is a symmetric (oct) key: register public keys only", i, key.KeyID)
		}
		if !key.IsPublic() {
			return nil, fmt.Errorf("key %d (%q) holds a private key: register the public key only", i, key.KeyID)
		}
		if key.Use != "" && key.Use != "sig" {
			return nil, fmt.Errorf("key %d (%q) is for %q, not sig", i, key.KeyID, key.Use)
		}
		fits := false
		for _, alg := range Algorithms() {
			fits = fits || Fits(key, alg)
		}
		if !fits {
			return nil, fmt.Errorf("key %d (%q) fits none of %v (RSA of at least 2048 bits, EC P-256, Ed25519)", i, key.KeyID, AlgorithmNames())
		}
	}
	return set.Keys, nil
}

// Fits reports whether key can verify alg signatures: the key type
// and size the algorithm needs, and the key's own alg, if it names one.
func Fits(key jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if key.Algorithm != "" && key.Algorithm != string(alg) {
		return false
	}
	switch pub := key.Key.(type) {
	case *rsa.PublicKey:
		return (alg == jose.RS256 || alg == jose.PS256) && pub.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && pub.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}
