package webapp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

// Each sign-in has its own DPoP key (RFC 9449), an ES256 key. Its proofs go
// with the pushed authorization request (binding the code to the key; without
// PAR, the request names it as dpop_jkt), the code exchange and every
// refresh, with the userinfo request, and with every call to the API, which
// accepts the session's access token only with them.
//
// /login needs the key before any session exists, and /callback needs the
// same key to exchange the code; in between, the sign-in lives only in the
// sealed pending cookie (pending.go), and the key must not go to the
// browser. So the key is derived from a subkey of the server secret and the
// sign-in's state: /login and /callback, on any instance sharing the server
// secret, compute the same key, and nothing is stored. The state alone, which
// the browser and the authorization server see, gives nothing without the
// secret. Once signed in, the key is kept in the session's token record
// (tokens.go), whose refreshes and API calls use it until the session ends.

// dpopKeyPurpose names the subkey of the server secret the sign-in keys
// are derived from.
const dpopKeyPurpose = "webapp/dpop-keys"

// signInKey returns the DPoP key of the sign-in whose state is state:
// HKDF-SHA256 of the web app's DPoP secret with the state as info gives 320
// bits, reduced to a P-256 scalar as FIPS 186-5 §A.2.1 does (d = c mod
// (n−1) + 1: never zero, bias below 2^-64).
func signInKey(secret []byte, state string) (*dpop.Key, error) {
	if len(secret) == 0 || state == "" {
		return nil, errors.New("webapp: deriving a DPoP key: no secret or state")
	}
	curve := elliptic.P256()
	c, err := hkdf.Key(sha256.New, secret, nil, "gatehouse webapp sign-in DPoP key\x00"+state, 40)
	if err != nil {
		return nil, fmt.Errorf("webapp: deriving a DPoP key: %w", err)
	}
	one := big.NewInt(1)
	nMinus1 := new(big.Int).Sub(curve.Params().N, one)
	d := new(big.Int).SetBytes(c)
	d.Mod(d, nMinus1).Add(d, one)
	priv, err := ecdsa.ParseRawPrivateKey(curve, d.FillBytes(make([]byte, 32)))
	if err != nil {
		return nil, fmt.Errorf("webapp: deriving a DPoP key: %w", err)
	}
	return dpop.NewKey(priv)
}

// withProofs returns hc sending a DPoP proof made with key with each
// request (dpop.Transport), or hc itself when key is nil (a session from
// before the web app used DPoP).
func withProofs(hc *http.Client, key *dpop.Key) *http.Client {
	if key == nil {
		return hc
	}
	c := *hc
	c.Transport = &dpop.Transport{Base: hc.Transport, Key: key}
	return &c
}
