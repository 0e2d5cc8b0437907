package loopback

import "net"

// Host reports whether host (a URL's Hostname: no port, no brackets) is
// "localhost" or a loopback IP address (127.0.0.0/8, ::1).
func Host(host string) bool {
	return host == "localhost" || IP(host)
}

// IP reports whether host is a loopback IP literal. RFC 8252 §8.3
// recommends the literal over "localhost" for native apps' redirects,
// which a local DNS setting could send elsewhere.
func IP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
