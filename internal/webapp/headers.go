package webapp

import "net/http"

// securityHeaders sets the browser security headers on every answer.
//
//   - CSP: no scripts at all, styles only from this origin, and forms may
//     only go to this origin or the authorization server (Chrome checks
//     form-action on the redirects after a form post, and sign-out posts to
//     /logout, which redirects to the end_session_endpoint).
//   - frame-ancestors 'none' and X-Frame-Options: DENY against clickjacking
//     (RFC 9700 §4.16).
//   - Referrer-Policy: no-referrer, so the callback URL with its code and
//     state never leaks in a Referer header (RFC 9700 §4.2.4).
//   - Cache-Control: no-store: pages show personal data.
//   - Strict-Transport-Security when hsts is set: the public URL is https
//     and its host is a name HSTS may pin (httpserver.HSTSHost: not
//     localhost, whose policy would cover every port of the person's
//     machine, nor an IP literal). The public URL decides, not the
//     request's Host: behind a TLS-terminating proxy the Host header may
//     be the upstream's address, while the browser is at the public URL.
func securityHeaders(next http.Handler, authzOrigin string, hsts bool) http.Handler {
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; " +
		"form-action 'self' " + authzOrigin + "; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
