package bearer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/bearer/bearertest"
	"github.com/gatehouse-dev/gatehouse/dpop"
)

// The examples stand bearertest in for Gatehouse's authorization server.
// In production, Issuer is Gatehouse's issuer URL and the verifier finds
// the keys through its discovery document.

// ExampleMiddleware protects every route of a ServeMux: a request without a
// valid token never reaches it.
func ExampleMiddleware() {
	issuer, err := bearertest.Start("https://notes.example")
	if err != nil {
		log.Fatal(err)
	}
	defer issuer.Close()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer:   issuer.URL,
		Audience: "https://notes.example", // this API's identifier, the tokens' "aud"
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /notes", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "the notes")
	})
	h := bearer.Middleware(v)(mux) // serve h, e.g. http.ListenAndServe(addr, h)

	token, err := issuer.IssueToken("alice")
	if err != nil {
		log.Fatal(err)
	}
	for _, auth := range []string{"", "Bearer not-a-token", "Bearer " + token} {
		req := httptest.NewRequest("GET", "/notes", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			fmt.Println(rec.Code, rec.Body)
		} else {
			fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 401 Bearer
	// 401 Bearer error="invalid_token", error_description="the access token is invalid or expired"
	// 200 the notes
}

// ExampleRequireScope requires a scope per route, under Middleware: reading
// the notes needs notes:read, adding one needs notes:write.
func ExampleRequireScope() {
	issuer, err := bearertest.Start("https://notes.example")
	if err != nil {
		log.Fatal(err)
	}
	defer issuer.Close()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer:   issuer.URL,
		Audience: "https://notes.example",
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /notes", bearer.RequireScope("notes:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "the notes")
	})))
	mux.Handle("POST /notes", bearer.RequireScope("notes:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	h := bearer.Middleware(v)(mux) // Middleware verifies the token first

	readOnly, err := issuer.IssueToken("alice", "notes:read")
	if err != nil {
		log.Fatal(err)
	}
	for _, method := range []string{"GET", "POST"} {
		req := httptest.NewRequest(method, "/notes", nil)
		req.Header.Set("Authorization", "Bearer "+readOnly)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			fmt.Println(method, rec.Code, rec.Body)
		} else {
			fmt.Println(method, rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// GET 200 the notes
	// POST 403 Bearer error="insufficient_scope", error_description="the access token lacks the scope notes:write", scope="notes:write"
}

// ExampleCheckScope decides inside a handler which scope a request needs,
// and answers a refusal as RequireScope does.
func ExampleCheckScope() {
	issuer, err := bearertest.Start("https://notes.example")
	if err != nil {
		log.Fatal(err)
	}
	defer issuer.Close()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer:   issuer.URL,
		Audience: "https://notes.example",
	})
	if err != nil {
		log.Fatal(err)
	}

	h := bearer.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope := "notes:read"
		if r.URL.Query().Has("shared") {
			scope = "notes:read-shared"
		}
		if e := bearer.CheckScope(r.Context(), scope); e != nil {
			bearer.WriteError(w, r, e)
			return
		}
		fmt.Fprint(w, "the notes")
	}))

	token, err := issuer.IssueToken("alice", "notes:read")
	if err != nil {
		log.Fatal(err)
	}
	for _, target := range []string{"/notes", "/notes?shared"} {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(target, rec.Code)
	}
	// Output:
	// /notes 200
	// /notes?shared 403
}

// ExampleClaimsFrom reads who a token speaks for in a handler: a person
// (through a client application), or a client for itself (the client
// credentials grant), told apart by IsClient.
func ExampleClaimsFrom() {
	issuer, err := bearertest.Start("https://notes.example")
	if err != nil {
		log.Fatal(err)
	}
	defer issuer.Close()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer:   issuer.URL,
		Audience: "https://notes.example",
	})
	if err != nil {
		log.Fatal(err)
	}

	h := bearer.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := bearer.ClaimsFrom(r.Context())
		if !ok { // not under Middleware
			http.Error(w, "no token", http.StatusInternalServerError)
			return
		}
		// Key data by c.Subject: a client's subject never equals a person's.
		if c.IsClient() {
			fmt.Fprintf(w, "client %s for itself, scopes %v", c.ClientID, c.Scopes)
			return
		}
		fmt.Fprintf(w, "%s through client %s, scopes %v", c.Subject, c.ClientID, c.Scopes)
	}))

	// bearertest's tokens are issued to the client "test-client".
	person, err := issuer.IssueToken("alice", "notes:read", "notes:write")
	if err != nil {
		log.Fatal(err)
	}
	client, err := issuer.IssueToken(bearer.ClientSubject("test-client"), "notes:read")
	if err != nil {
		log.Fatal(err)
	}
	for _, token := range []string{person, client} {
		req := httptest.NewRequest("GET", "/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Body)
	}
	// Output:
	// alice through client test-client, scopes [notes:read notes:write]
	// client test-client for itself, scopes [notes:read]
}

// ExampleNewIntrospectionVerifier asks the authorization server about every
// token (RFC 7662) instead of verifying JWTs locally, so that a revoked
// token is refused at once (within IntrospectionConfig.CacheTTL). This
// resource server authenticates at the endpoint as a client of its own.
func ExampleNewIntrospectionVerifier() {
	// A stand-in introspection endpoint that knows one active token; in
	// production, URL is Gatehouse's issuer URL + "/introspect".
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, _ := r.BasicAuth(); id != "notes-api" || secret != "notes-api-secret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("token") != "active-token" {
			fmt.Fprint(w, `{"active":false}`)
			return
		}
		fmt.Fprint(w, `{"active":true,"token_type":"access_token","iss":"https://id.example",
			"aud":"https://notes.example","sub":"alice","client_id":"notes-app","scope":"notes:read"}`)
	}))
	defer as.Close()

	v, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
		URL:          as.URL + "/introspect",
		ClientID:     "notes-api",
		ClientSecret: "notes-api-secret",
		Issuer:       "https://id.example",
		Audience:     "https://notes.example",
	})
	if err != nil {
		log.Fatal(err)
	}

	h := bearer.Middleware(v)(bearer.RequireScope("notes:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := bearer.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "the notes of %s", c.Subject)
	})))

	for _, token := range []string{"active-token", "revoked-token"} {
		req := httptest.NewRequest("GET", "/notes", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			fmt.Println(rec.Code, rec.Body)
		} else {
			fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 200 the notes of alice
	// 401 Bearer error="invalid_token", error_description="the access token is invalid or expired"
}

// ExampleWithErrorHandler answers refusals in the application's own error
// shape (here Eve's) instead of WriteError's OAuth JSON, keeping the
// WWW-Authenticate challenges RFC 6750 §3 requires.
func ExampleWithErrorHandler() {
	issuer, err := bearertest.Start("https://notes.example")
	if err != nil {
		log.Fatal(err)
	}
	defer issuer.Close()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer:   issuer.URL,
		Audience: "https://notes.example",
	})
	if err != nil {
		log.Fatal(err)
	}

	writeError := func(w http.ResponseWriter, r *http.Request, e *bearer.Error) {
		e.SetHeaders(w.Header()) // the challenges (and a DPoP nonce)
		type apiError struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(struct {
			Status string   `json:"_status"`
			Error  apiError `json:"_error"`
		}{"ERR", apiError{e.Status, e.Description}})
	}
	// Pass the option to Middleware and to every RequireScope.
	onError := bearer.WithErrorHandler(writeError)
	mux := http.NewServeMux()
	mux.Handle("POST /notes", bearer.RequireScope("notes:write", onError)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	h := bearer.Middleware(v, onError)(mux)

	token, err := issuer.IssueToken("alice", "notes:read")
	if err != nil {
		log.Fatal(err)
	}
	for _, auth := range []string{"", "Bearer " + token} {
		req := httptest.NewRequest("POST", "/notes", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
		fmt.Print(rec.Body)
	}
	// Output:
	// 401 Bearer
	// {"_status":"ERR","_error":{"code":401,"message":"a bearer token is required"}}
	// 403 Bearer error="insufficient_scope", error_description="the access token lacks the scope notes:write", scope="notes:write"
	// {"_status":"ERR","_error":{"code":403,"message":"the access token lacks the scope notes:write"}}
}

// ExampleWithDPoP accepts access tokens bound to a client's DPoP key (RFC
// 9449): such a token works only under the DPoP scheme with a proof of the
// key for the request, so a stolen token is of no use on its own. The
// client here sends its requests through a dpop.Transport, which makes the
// proofs.
func ExampleWithDPoP() {
	issuer, err := bearertest.Start("https://notes.example")
	if err != nil {
		log.Fatal(err)
	}
	defer issuer.Close()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer:   issuer.URL,
		Audience: "https://notes.example",
	})
	if err != nil {
		log.Fatal(err)
	}

	// Proofs are accepted once: with several instances, Replays must be a
	// store they share. Behind a proxy, the second argument gives the
	// public URL the proofs are made for.
	checker := &dpop.Checker{Replays: dpop.NewMemoryReplays()}
	h := bearer.Middleware(v, bearer.WithDPoP(checker, nil))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := bearer.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "the notes of %s", c.Subject)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	key, err := dpop.GenerateKey() // the client's key, kept for the token's lifetime
	if err != nil {
		log.Fatal(err)
	}
	token, err := issuer.IssueTokenBound(key.JKT(), "alice", "notes:read")
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: &dpop.Transport{Key: key}}
	for _, scheme := range []string{"DPoP", "Bearer"} {
		req, _ := http.NewRequest("GET", srv.URL+"/notes", nil)
		req.Header.Set("Authorization", scheme+" "+token)
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Println(scheme, resp.StatusCode, string(body))
		} else {
			fmt.Println(scheme, resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
		}
	}
	// Output:
	// DPoP 200 the notes of alice
	// Bearer 401 [Bearer error="invalid_token", error_description="the access token is bound to a DPoP key: send it as: DPoP <token>, with a proof" DPoP algs="ES256 EdDSA PS256 RS256"]
}
