package dpop

import "testing"

func TestNormalizeURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://as.example/token", "https://as.example/token"},
		{"HTTPS://AS.EXAMPLE/token", "https://as.example/token"},
		{"https://as.example:443/token", "https://as.example/token"},
		{"https://as.example:/token", "https://as.example/token"},
		{"http://as.example:80/token", "http://as.example/token"},
		{"http://as.example:443/token", "http://as.example:443/token"},
		{"https://as.example:80/token", "https://as.example:80/token"},
		{"https://as.example", "https://as.example/"},
		{"https://as.example?x=1#f", "https://as.example/"},
		{"https://as.example/a?x=1#f", "https://as.example/a"},
		{"https://as.example/A/b", "https://as.example/A/b"},
		{"https://as.example/a/./b/../c", "https://as.example/a/c"},
		{"https://as.example/../../a", "https://as.example/a"},
		{"https://as.example/a/..", "https://as.example/"},
		{"https://as.example/a/.", "https://as.example/a/"},
		{"https://as.example/a//b/", "https://as.example/a//b/"},
		{"https://as.example/%7e%41%2f%2F%20", "https://as.example/~A%2F%2F%20"},
		{"https://as.example/%2e%2E/a", "https://as.example/a"},
		{"https://as.example/é", "https://as.example/%C3%A9"},
		{"https://[::1]:443/", "https://[::1]/"},
		{"https://[::1]:8443/", "https://[::1]:8443/"},
		{"https://[FE80::1]/", "https://[fe80::1]/"},
	} {
		got, err := normalizeURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "/token", "as.example/token", "ftp://as.example/", "https:opaque",
		"https://u:p@as.example/", "https:///path", "https://as.example:x/", "https://as.example/%zz", "javascript:alert(1)"} {
		if got, err := normalizeURL(in); err == nil {
			t.Errorf("normalizeURL(%q) = %q, want an error", in, got)
		}
	}
}

// TestRemoveDotSegments runs RFC 3986 §5.2.4's examples and §5.4's.
func TestRemoveDotSegments(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/a/b/c/./../../g", "/a/g"},
		{"mid/content=5/../6", "mid/6"},
		{"/b/c/../../../g", "/g"},
		{"/b/c/./g", "/b/c/g"},
		{"/b/c/g/", "/b/c/g/"},
		{"/b/c/..", "/b/"},
		{"/b/c/../", "/b/"},
		{"/b/c/g.", "/b/c/g."},
		{"/b/c/.g", "/b/c/.g"},
		{"/b/c/g..", "/b/c/g.."},
		{"/b/c/..g", "/b/c/..g"},
		{"/b/c/./../g", "/b/g"},
		{"/b/c/g/../h", "/b/c/h"},
		{"..", ""},
		{".", ""},
		{"../a", "a"},
		{"", ""},
		{"/", "/"},
	} {
		if got := removeDotSegments(tt.in); got != tt.want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
