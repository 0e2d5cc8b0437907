package loadtest

import (
	"net"
	"net/http"
	"time"
)

// front is a listener serving a role's proxy (an rrproxy.Proxy): TLS
// (HTTP/1.1 and HTTP/2) with cert and key, plain HTTP/1.1 without. The
// proxy is where TLS ends, as at a load balancer.
type front struct {
	srv *http.Server
	url string
}

// serveFront serves h on a fresh loopback port until close.
func serveFront(h http.Handler, cert, key string) (*front, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	f := &front{srv: srv, url: "http://" + l.Addr().String()}
	if cert != "" {
		if err := withTLS(srv, cert, key); err != nil {
			l.Close()
			return nil, err
		}
		f.url = "https://" + l.Addr().String()
		go func() { _ = srv.ServeTLS(l, "", "") }()
	} else {
		go func() { _ = srv.Serve(l) }()
	}
	return f, nil
}

func (f *front) close() {
	if f != nil {
		_ = f.srv.Close()
	}
}
