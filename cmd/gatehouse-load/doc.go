// Command gatehouse-load measures Gatehouse under load: it builds
// and starts the real server on a fresh temporary data directory, prepares
// every scenario through the product's interfaces, drives each one for a
// fixed time with N connections, and prints one table with a bare net/http
// server's figures beside Gatehouse's. See internal/loadtest.
//
//	go run ./cmd/gatehouse-load                               # the full run, markdown
//	go run ./cmd/gatehouse-load -duration 2s -list-total 20000 -list-own 2000 -expired-tokens 10000   # a smoke run
//	go run ./cmd/gatehouse-load -db postgres://… -instances 3   # three instances behind a round-robin proxy
//	go run ./cmd/gatehouse-load -rate 2000 -connections 16      # an open loop at 2,000 requests/s
package main
