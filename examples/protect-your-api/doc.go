// Command protect-your-api is an API of your own — a list of reports —
// that accepts only access tokens Gatehouse issued for it, checked with
// the public package github.com/gatehouse-dev/gatehouse/bearer.
//
// Register it with Gatehouse as a resource server, so that clients can ask
// for tokens whose audience ("aud") is this API's URL (RFC 8707's resource
// parameter), then run it:
//
//	gatehouse client add --id reports-api --name 'Reports API' --grant-types '' --scopes '' \
//	    --resource-server http://127.0.0.1:9000 --resource-scopes reports:read,reports:write
//	go run ./examples/protect-your-api --ca-file gatehouse-data/tls/local-ca.pem
//
// Routes:
//
//	GET  /reports   the reports (scope reports:read)
//	POST /reports   add one: {"title":"…"} (scope reports:write)
//	GET  /whoami    who the token speaks for (any valid token)
//	GET  /healthz   whether it runs (no token)
//
// A request without a valid token for this API gets 401, one whose token
// lacks the route's scope 403, each with the WWW-Authenticate challenge of
// RFC 6750 §3.
package main
