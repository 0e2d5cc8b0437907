package dpop_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

// ExampleChecker checks the proofs sent to a token endpoint: a proof made by
// the client's Key is accepted once, and the token is bound to the key.
func ExampleChecker() {
	checker := &dpop.Checker{Replays: dpop.NewMemoryReplays()}
	// The URL clients reach this server at: behind a proxy, not the
	// listener's.
	const publicURL = "https://as.example"

	token := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proof, e := dpop.ProofFrom(r.Header)
		if e == nil && proof == "" {
			e = &dpop.Error{Code: dpop.InvalidProof, Description: "a DPoP proof is required"}
		}
		var p dpop.Proof
		if e == nil {
			var err error
			p, err = checker.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: publicURL + r.URL.Path})
			if err != nil && !errors.As(err, &e) {
				http.Error(w, "the proof cannot be checked", http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if e != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Code, "error_description": e.Description})
			return
		}
		// Issue a token whose "cnf" is {"jkt": p.JKT}.
		_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "DPoP", "cnf": map[string]string{"jkt": p.JKT}})
	})

	// The client's side.
	key, err := dpop.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	proof, err := key.Proof("POST", publicURL+"/token", "", "", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range []string{proof, proof, ""} {
		req := httptest.NewRequest("POST", "/token", strings.NewReader("grant_type=client_credentials"))
		if p != "" {
			req.Header.Set("DPoP", p)
		}
		rec := httptest.NewRecorder()
		token.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", strings.ReplaceAll(rec.Body.String(), key.JKT(), "<the key's JKT>"))
	}
	// Output:
	// 200 {"cnf":{"jkt":"<the key's JKT>"},"token_type":"DPoP"}
	// 400 {"error":"invalid_dpop_proof","error_description":"the proof was already used"}
	// 400 {"error":"invalid_dpop_proof","error_description":"a DPoP proof is required"}
}

// ExampleTransport sends requests through a Transport to a resource that
// demands a nonce: the first request is refused and sent again with the
// nonce, and the next ones carry it at once.
func ExampleTransport() {
	nonces, err := dpop.NewNonces([]byte("a secret of at least 32 random bytes, shared"), 5*time.Minute, nil)
	if err != nil {
		log.Fatal(err)
	}
	checker := &dpop.Checker{Replays: dpop.NewMemoryReplays(), Nonces: nonces}
	var requests atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("DPoP-Nonce", nonces.Current())
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "DPoP ")
		// A real resource also checks the token, and that its cnf.jkt is
		// the proof's JKT.
		_, err := checker.Check(r.Context(), r.Header.Get("DPoP"), dpop.Request{Method: r.Method, URL: srv.URL + r.URL.Path, AccessToken: token})
		var e *dpop.Error
		if errors.As(err, &e) {
			w.Header().Set("WWW-Authenticate", e.WWWAuthenticate(dpop.Algorithms()))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "the notes")
	}))
	defer srv.Close()

	key, err := dpop.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: &dpop.Transport{Key: key}}
	for range 2 {
		req, _ := http.NewRequest("GET", srv.URL+"/notes", nil)
		req.Header.Set("Authorization", "DPoP the-access-token")
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body), "after", requests.Swap(0), "request(s)")
	}
	// Output:
	// 200 the notes after 2 request(s)
	// 200 the notes after 1 request(s)
}
