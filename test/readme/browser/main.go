package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: browser URL")
	}
	start, err := url.Parse(os.Args[1])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hc, err := tlsconf.HTTPClient(30*time.Second, filepath.Join("gatehouse-data", "tls", tlsconf.CACertFile))
	if err != nil {
		return err
	}
	do := flowtest.ClientDoer(flowtest.Browser(hc))
	login := flowtest.Login{Username: "demo", Password: os.Getenv("GATEHOUSE_DEMO_PASSWORD")}
	loc, page, err := flowtest.Walk(ctx, do, http.MethodGet, start.String(), nil, start.Query().Get("redirect_uri"), login)
	if err != nil {
		return err
	}
	if loc == nil {
		return fmt.Errorf("the sign-in ended on a page, %d: %.300s", page.Status, page.Body)
	}
	r, err := do(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return fmt.Errorf("the callback: %w", err)
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("the callback answered %d: %.300s", r.Status, r.Body)
	}
	return nil
}
