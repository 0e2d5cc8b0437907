package loopback_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/loopback"
)

func TestHostAndIP(t *testing.T) {
	tests := []struct {
		host      string
		host_, ip bool
	}{
		{"localhost", true, false},
		{"127.0.0.1", true, true},
		{"127.1.2.3", true, true},
		{"::1", true, true},
		{"[::1]", false, false}, // a Hostname has no brackets
		{"localhost.example.com", false, false},
		{"10.0.0.1", false, false},
		{"example.com", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := loopback.Host(tt.host); got != tt.host_ {
			t.Errorf("Host(%q) = %v, want %v", tt.host, got, tt.host_)
		}
		if got := loopback.IP(tt.host); got != tt.ip {
			t.Errorf("IP(%q) = %v, want %v", tt.host, got, tt.ip)
		}
	}
}
