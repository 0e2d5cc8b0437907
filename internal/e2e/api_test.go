package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// startAPI builds the resource API with the built-in resources over the
// stack's store, verifying JWT access tokens against the authorization
// server, and seeds seededTodos for the test user.
func (s *stack) startAPI(ctx context.Context, issuer, audience string, logger *slog.Logger) http.Handler {
	t := s.t
	res, err := resource.Default()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := docstore.New(s.store.DB(), s.store.ReadDB(), s.store.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	v, err := bearer.NewJWTVerifier(ctx, bearer.JWTConfig{Issuer: issuer, Audience: audience, HTTPClient: s.client})
	if err != nil {
		t.Fatal(err)
	}
	// The web app's tokens are DPoP-bound: the API checks their proofs, as
	// cmd/gatehouse wires it.
	srv, err := api.New(ctx, api.Config{Resources: res, Store: docs, Verifier: v, PublicURL: audience, Logger: logger.With("role", "api"),
		DPoP: &dpop.Checker{Replays: api.Replays{Store: s.store}}})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	now := time.Now().UTC()
	var seeded []docstore.Document
	for i, title := range seededTodos {
		data, _ := json.Marshal(map[string]any{"title": title, "done": false})
		at := now.Add(time.Duration(i) * time.Second)
		seeded = append(seeded, docstore.Document{ID: docstore.NewID(), Owner: s.userSub,
			Created: at, Updated: at, ETag: docstore.NewETag(), Data: data})
	}
	if err := docs.Insert(ctx, "todos", seeded); err != nil {
		t.Fatalf("seeding todos: %v", err)
	}
	return srv.Handler()
}
