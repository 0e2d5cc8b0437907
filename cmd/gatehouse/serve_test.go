package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/assemble"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestBanner pins the banner serve prints once it listens, on a first
// start (the demo password, shown once) and on later ones, and the storage
// flags its set-password command carries so that it reaches serve's
// database when copied as it stands.
func TestBanner(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		seeded assemble.Seeded
	}{
		{"banner-first-start", nil, assemble.Seeded{Username: "demo", Password: "s3cret"}},
		{"banner-later-start", nil, assemble.Seeded{Username: "demo"}},
		{"banner-no-demo-user", nil, assemble.Seeded{}},
		{"banner-data-dir", []string{"--data-dir", "/srv/gate house"}, assemble.Seeded{Username: "demo", Password: "s3cret"}},
		{"banner-db", []string{"--db", "postgres://gatehouse@db.internal/gatehouse"}, assemble.Seeded{Username: "demo"}},
		{"banner-db-with-password", []string{"--db", "postgres://gatehouse:hunter2@db.internal/gatehouse"}, assemble.Seeded{Username: "demo"}},
		{"banner-roles-and-metrics", []string{"--roles", "authz,api", "--metrics-addr", "127.0.0.1:9090", "--issuer", "https://login.example.com"}, assemble.Seeded{Username: "demo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c config.Serve
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.RegisterFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			printBanner(&b, &c, []string{"/data/tls/ca.pem"}, tt.seeded)
			if strings.Contains(b.String(), "hunter2") {
				t.Fatalf("the banner shows the database password:\n%s", b.String())
			}
			golden(t, tt.name, b.String())
		})
	}
}
