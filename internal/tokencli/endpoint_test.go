package tokencli

import "testing"

// TestCheckEndpoint: only web addresses from the discovery document reach
// the browser's opener.
func TestCheckEndpoint(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{"https://auth.example.com/authorize", true},
		{"https://127.0.0.1:8000/authorize", true},
		{"http://127.0.0.1:8000/authorize", true},
		{"http://localhost:8000/authorize", true},
		{"http://auth.example.com/authorize", false},
		{"file:///C:/Windows/System32/calc.exe", false},
		{`\\evil\share\x.exe`, false},
		{"--gpu-launcher=/bin/sh", false},
		{"https://auth.example.com/authorize\n\x1b[2J", false},
		{"https://auth.example.com/a b", false},
		{"https://user:pw@auth.example.com/authorize", false},
		{"https:///authorize", false},
		{"javascript:alert(1)", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := checkEndpoint(tt.raw); (err == nil) != tt.ok {
			t.Errorf("checkEndpoint(%q) = %v, want ok=%v", tt.raw, err, tt.ok)
		}
	}
}
