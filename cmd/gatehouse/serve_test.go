package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestBanner pins the banner serve prints once it listens: on the first
// start the demo password and how to change it, on later starts how to
// reset it, each a command that can be copied as it stands.
func TestBanner(t *testing.T) {
	const urls = "Gatehouse is running:\n" +
		"  authorization server  https://127.0.0.1:8000\n" +
		"  resource API          https://127.0.0.1:8001/api\n" +
		"  web app               https://127.0.0.1:5000   <- open this in a browser\n" +
		"Local CA certificate (trust it in your browser or pass it to curl --cacert): /data/tls/ca.pem\n"
	tests := []struct {
		name   string
		seeded seedOutcome
		want   string
	}{
		{"first start", seedOutcome{username: "demo", password: "s3cret"}, urls +
			`Demo login: username "demo", password "s3cret" (shown once; change it with: gatehouse user set-password --username demo --password-stdin)` + "\n" +
			"Press Ctrl-C to stop.\n"},
		{"later start", seedOutcome{username: "demo"}, urls +
			`Demo login: username "demo" (its password was shown at first start; reset it with: gatehouse user set-password --username demo --password-stdin)` + "\n" +
			"Press Ctrl-C to stop.\n"},
		{"no demo user", seedOutcome{}, urls + "Press Ctrl-C to stop.\n"},
	}
	var c config.Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printBanner(&b, &c, []string{"/data/tls/ca.pem"}, tt.seeded)
			if got := b.String(); got != tt.want {
				t.Errorf("banner:\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
