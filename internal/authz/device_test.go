package authz

import "testing"

func TestDeviceOf(t *testing.T) {
	for _, tc := range []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36", "Chrome on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0", "Firefox on Android"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"},
		{"curl/8.5.0", "curl"},
		{"", "Unknown browser"},
	} {
		if got := deviceOf(tc.ua); got != tc.want {
			t.Errorf("deviceOf(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

func TestMethodsOf(t *testing.T) {
	for _, tc := range []struct {
		amr  []string
		want string
	}{
		{[]string{"pwd"}, "password"},
		{[]string{"pwd", "otp", "mfa"}, "password + code"},
		{[]string{"pwd", "hwk", "mfa"}, "password + passkey"},
		{[]string{"swk", "mfa"}, "synced passkey"},
		{nil, "unknown"},
	} {
		if got := methodsOf(tc.amr); got != tc.want {
			t.Errorf("methodsOf(%v) = %q, want %q", tc.amr, got, tc.want)
		}
	}
}
