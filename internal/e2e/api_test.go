//go:build !e2eapi

package e2e

import (
	"context"
	"log/slog"
	"net/http"
)

// startAPI is a stand-in until internal/api builds: the tests that need the
// API skip. Build with -tags e2eapi to use api_real_test.go instead; once
// internal/api is complete, delete this file and that file's build line.
func (s *stack) startAPI(ctx context.Context, issuer, audience string, logger *slog.Logger) http.Handler {
	s.t.Skip("skipping: internal/api is not complete yet (see internal/e2e/api_test.go)")
	return nil
}
