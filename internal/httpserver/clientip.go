package httpserver

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies is the set of reverse proxies (load balancers, TLS
// terminators) whose X-Forwarded-For entries Gatehouse believes. The zero
// value trusts nobody: the client is always the connection's peer.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies parses a comma-separated list of IP addresses and CIDR
// prefixes ("10.0.0.0/8, 192.0.2.7, 2001:db8::/32"). A bare address means
// that address alone (/32 or /128). Addresses are normalised as the client
// addresses they are matched against: an IPv4-mapped IPv6 address or prefix
// (::ffff:a.b.c.d, /96 or longer) stands for its IPv4 form, and a zone is
// dropped. A prefix with bits set past its length ("10.0.0.1/8") is rejected
// rather than widened, since it is more likely a mistyped address than a
// network. Empty entries are skipped; an empty list trusts nobody. The error
// names the first bad entry.
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var out TrustedProxies
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parseTrustedEntry(entry)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseTrustedEntry(entry string) (netip.Prefix, error) {
	if !strings.Contains(entry, "/") {
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix", entry)
		}
		a = normalise(a)
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix", entry)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%q has address bits set past its /%d prefix (the network is %s)", entry, p.Bits(), m)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// String lists the prefixes, comma-separated.
func (t TrustedProxies) String() string {
	s := make([]string, len(t))
	for i, p := range t {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// trusts reports whether the normalised address a is in the set.
func (t TrustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that sent r, for per-address
// lockout, rate limits and logs. It is what every role uses.
//
// If the connection's peer is not a trusted proxy, the peer is the client and
// X-Forwarded-For is ignored: anyone can send it. Otherwise the entries of
// every X-Forwarded-For line, joined in order, are walked from the right,
// where each proxy appends the address it received the request from; the
// client is the first (rightmost) entry that is not a trusted proxy. Entries
// to its left were written by the client or by proxies we do not run, so they
// are never believed: an attacker who forges leftmost entries behind an
// appending proxy (nginx $proxy_add_x_forwarded_for, AWS ALB, Traefik, Caddy)
// still gets its own address. If every entry is a trusted proxy, the leftmost
// one is the client (the peer, when there are no entries).
//
// An entry is an IP address, optionally with a port ("192.0.2.1:4711",
// "[2001:db8::1]:443", as some load balancers write); empty list elements are
// skipped. Anything else ("unknown", a host name, an obfuscated identifier)
// stops the walk and the last trusted hop — the entry to its right, or the
// peer — is the client: the entry cannot be checked, but it is reached only
// through trusted hops, so the client cannot choose the result.
//
// Addresses are normalised: an IPv4-mapped IPv6 address becomes IPv4 and a
// zone is dropped. A peer address that is not an IP (a Unix socket, a test's
// made-up RemoteAddr) is returned as it is.
func (t TrustedProxies) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	client := normalise(peer)
	if !t.trusts(client) {
		return client.String()
	}
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, entry = rest[:j], rest[j+1:]
			} else {
				rest, entry = "", rest
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a, ok := parseForwardedAddr(entry)
			if !ok {
				return client.String()
			}
			client = a
			if !t.trusts(a) {
				return a.String()
			}
		}
	}
	return client.String()
}

// parseForwardedAddr parses one X-Forwarded-For entry: an IP address, or
// one with a port.
func parseForwardedAddr(entry string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(entry); err == nil {
		return normalise(a), true
	}
	if ap, err := netip.ParseAddrPort(entry); err == nil {
		return normalise(ap.Addr()), true
	}
	return netip.Addr{}, false
}

func normalise(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

// ClientNetwork is what per-address limits (sign-in lockout, rate limits)
// count a client address under: an IPv4 address as it is, an IPv6 address
// by its /64, the network one subscriber gets (a single host can use any of
// its 2^64 addresses, so counting each would never reach a limit). Anything
// that is not an IP address is returned as it is.
func ClientNetwork(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
