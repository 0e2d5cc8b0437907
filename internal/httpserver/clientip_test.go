package httpserver_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in   string
		want string // String() of the result
	}{
		{"", ""},
		{" , ", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{" 10.0.0.0/8 , ,::1 ", "10.0.0.0/8,::1/128"},
		{"2001:db8::/32,192.0.2.0/24", "2001:db8::/32,192.0.2.0/24"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"fe80::1%eth0", "fe80::1/128"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := httpserver.ParseTrustedProxies(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("ParseTrustedProxies(%q) = %q, want %q", tt.in, got.String(), tt.want)
			}
		})
	}
}

func TestParseTrustedProxiesErrors(t *testing.T) {
	tests := []struct {
		in      string
		mention []string // the error must name these
	}{
		{"10.0.0.0/8,proxy.internal", []string{`"proxy.internal"`}},
		{"10.0.0.1/8", []string{`"10.0.0.1/8"`, "10.0.0.0/8"}},
		{"10.0.0.0/33", []string{`"10.0.0.0/33"`}},
		{"10.0.0.0/8/8", []string{`"10.0.0.0/8/8"`}},
		{"192.0.2.7:80", []string{`"192.0.2.7:80"`}},
		{"fe80::%eth0/64", []string{`"fe80::%eth0/64"`}},
		{"192.0.2.300", []string{`"192.0.2.300"`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := httpserver.ParseTrustedProxies(tt.in)
			if err == nil {
				t.Fatalf("ParseTrustedProxies(%q) = %v, want an error", tt.in, got)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
}

func TestTrustedProxiesClientIP(t *testing.T) {
	// Proxies as in a typical deployment: a private network, one bare
	// address, an IPv6 network.
	const proxies = "10.0.0.0/8, 192.0.2.10, 2001:db8:1::/48"
	tests := []struct {
		name    string
		proxies string
		remote  string
		xff     []string // one X-Forwarded-For line each
		want    string
	}{
		// Nobody trusted: the header is never read.
		{"no proxies: peer", "", "192.0.2.1:1234", nil, "192.0.2.1"},
		{"no proxies: header ignored", "", "192.0.2.1:1234", []string{"203.0.113.9"}, "192.0.2.1"},
		{"no proxies: ipv6 peer", "", "[2001:db8::1]:1234", nil, "2001:db8::1"},
		{"no proxies: mapped peer", "", "[::ffff:192.0.2.1]:1234", nil, "192.0.2.1"},
		{"peer without port", "", "192.0.2.1", nil, "192.0.2.1"},
		{"peer not an IP", proxies, "@", []string{"203.0.113.9"}, "@"},

		// A peer outside the set is the client whatever it claims.
		{"untrusted peer forges header", proxies, "198.51.100.7:1234", []string{"203.0.113.9"}, "198.51.100.7"},
		{"untrusted peer forges trusted chain", proxies, "198.51.100.7:1234", []string{"203.0.113.9, 10.0.0.2"}, "198.51.100.7"},
		{"bare ip is /32 only", proxies, "192.0.2.11:1234", []string{"203.0.113.9"}, "192.0.2.11"},
		{"bare ip trusted", proxies, "192.0.2.10:1234", []string{"203.0.113.9"}, "203.0.113.9"},

		// An appending proxy (nginx $proxy_add_x_forwarded_for, ALB,
		// Traefik, Caddy) keeps what the client wrote on the left.
		{"appending proxy", proxies, "10.0.0.1:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed leftmost", proxies, "10.0.0.1:1234", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"several spoofed", proxies, "10.0.0.1:1234", []string{"5.6.7.8, 1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"spoofed trusted address", proxies, "10.0.0.1:1234", []string{"10.9.9.9, 203.0.113.9"}, "203.0.113.9"},
		{"spoofed on its own line", proxies, "10.0.0.1:1234", []string{"1.2.3.4", "203.0.113.9"}, "203.0.113.9"},
		{"spoofed garbage on the left", proxies, "10.0.0.1:1234", []string{"<script>, 203.0.113.9"}, "203.0.113.9"},

		// Chains of trusted proxies.
		{"chain", proxies, "10.0.0.1:1234", []string{"1.2.3.4, 203.0.113.9, 192.0.2.10, 10.0.0.2"}, "203.0.113.9"},
		{"chain over lines", proxies, "10.0.0.1:1234", []string{"1.2.3.4, 203.0.113.9", "10.0.0.3", "10.0.0.2"}, "203.0.113.9"},
		{"every entry trusted: leftmost", proxies, "10.0.0.1:1234", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"trusted peer, no header", proxies, "10.0.0.1:1234", nil, "10.0.0.1"},
		{"trusted peer, empty header", proxies, "10.0.0.1:1234", []string{""}, "10.0.0.1"},
		{"empty elements skipped", proxies, "10.0.0.1:1234", []string{" , 203.0.113.9 ,, 10.0.0.2 , "}, "203.0.113.9"},
		{"no spaces", proxies, "10.0.0.1:1234", []string{"1.2.3.4,203.0.113.9,10.0.0.2"}, "203.0.113.9"},

		// Malformed entries stop the walk at the last trusted hop.
		{"malformed rightmost: peer", proxies, "10.0.0.1:1234", []string{"203.0.113.9, unknown"}, "10.0.0.1"},
		{"malformed after trusted hop", proxies, "10.0.0.1:1234", []string{"203.0.113.9, not-an-ip, 10.0.0.2"}, "10.0.0.2"},
		{"malformed line", proxies, "10.0.0.1:1234", []string{"203.0.113.9", "proxy.internal"}, "10.0.0.1"},
		{"quoted entry is malformed", proxies, "10.0.0.1:1234", []string{`"203.0.113.9"`}, "10.0.0.1"},
		{"bad port is malformed", proxies, "10.0.0.1:1234", []string{"203.0.113.9:99999"}, "10.0.0.1"},

		// Entries with ports, as some load balancers write them.
		{"ipv4 with port", proxies, "10.0.0.1:1234", []string{"1.2.3.4, 203.0.113.9:4711"}, "203.0.113.9"},
		{"ipv6 with port", proxies, "10.0.0.1:1234", []string{"[2001:db8::5]:443"}, "2001:db8::5"},
		{"trusted hop with port", proxies, "10.0.0.1:1234", []string{"203.0.113.9, 10.0.0.2:80"}, "203.0.113.9"},

		// IPv6, IPv4-mapped addresses and zones.
		{"ipv6 proxy, ipv6 client", proxies, "[2001:db8:1::1]:443", []string{"2001:db8::bad, 2001:db8::5"}, "2001:db8::5"},
		{"ipv6 proxy, ipv4 client", proxies, "[2001:db8:1::1]:443", []string{"203.0.113.9"}, "203.0.113.9"},
		{"ipv6 chain", proxies, "[2001:db8:1::1]:443", []string{"2001:db8::5, 2001:db8:1::2"}, "2001:db8::5"},
		{"untrusted ipv6 peer", proxies, "[2001:db8:2::1]:443", []string{"203.0.113.9"}, "2001:db8:2::1"},
		{"mapped peer is trusted", proxies, "[::ffff:10.0.0.1]:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"mapped client unmapped", proxies, "10.0.0.1:1234", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"mapped trusted hop", proxies, "10.0.0.1:1234", []string{"203.0.113.9, ::ffff:10.0.0.2"}, "203.0.113.9"},
		{"zoned peer", "fe80::/64", "[fe80::1%eth0]:1234", []string{"fe80::9%eth0"}, "fe80::9"},
		{"zoned peer untrusted", "10.0.0.0/8", "[fe80::1%eth0]:1234", []string{"203.0.113.9"}, "fe80::1"},
		{"mapped prefix in the set", "::ffff:10.0.0.0/104", "10.0.0.1:1234", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := httpserver.ParseTrustedProxies(tt.proxies)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := tp.ClientIP(req); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAccessLogClient: the access log keeps the connection's address and adds
// the client's as the trusted proxies name it.
func TestAccessLogClient(t *testing.T) {
	tp, err := httpserver.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	h := httpserver.AccessLog(slog.New(slog.NewJSONHandler(&buf, nil)), tp, http.NotFoundHandler())
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.0.0.1:4321"
	req.Header.Set("X-Forwarded-For", "1.2.3.4, 203.0.113.9")
	h.ServeHTTP(httptest.NewRecorder(), req)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["remote"] != "10.0.0.1:4321" || line["client"] != "203.0.113.9" {
		t.Errorf("remote = %v, client = %v; want 10.0.0.1:4321 and 203.0.113.9", line["remote"], line["client"])
	}
}

func TestClientNetwork(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.7", "::ffff:192.0.2.7"},
		{"not-an-ip", "not-an-ip"},
	}
	for _, tt := range tests {
		if got := httpserver.ClientNetwork(tt.in); got != tt.want {
			t.Errorf("ClientNetwork(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
