package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// ServerConfig returns the TLS configuration for Gatehouse's listeners,
// serving the certificate chain in certFile with the private key in keyFile
// (both PEM). It requires TLS 1.2 or later (RFC 9325 §3.1.1) and offers HTTP/2
// before HTTP/1.1 by ALPN; cipher suites and curves are Go's defaults, which
// allow only AEAD suites with forward secrecy for TLS 1.2.
//
// A file that is missing, unreadable or not PEM, or a key that does not belong
// to the certificate, yields one error naming the file.
func ServerConfig(certFile, keyFile string) (*tls.Config, error) {
	certPEM, err := readFile("certificate", certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile("key", keyFile)
	if err != nil {
		return nil, err
	}
	if _, err := parseCert(certPEM); err != nil {
		return nil, fmt.Errorf("tlsconf: certificate file %s: %w", certFile, err)
	}
	if block, _ := pem.Decode(keyPEM); block == nil || !strings.HasSuffix(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("tlsconf: key file %s: no PEM private key", keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: key %s does not fit certificate %s: %w", keyFile, certFile, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}

// ClientConfig returns a TLS client configuration that trusts the system's
// roots plus the certificates in every named PEM file (empty names are
// skipped), for calls to the authorization server signed by the local CA or
// an --ca-file. TLS 1.2 is the minimum.
func ClientConfig(caFiles ...string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		// No system roots (e.g. a scratch container): trust only the files.
		pool = x509.NewCertPool()
	}
	for _, name := range caFiles {
		if name == "" {
			continue
		}
		b, err := readFile("CA file", name)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tlsconf: CA file %s: no PEM certificates", name)
		}
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
	}, nil
}

// HTTPClient returns an HTTP client whose requests time out after timeout
// (0 means no overall limit) and that trusts what ClientConfig(caFiles...)
// trusts. It speaks HTTP/2 when the server offers it, honours the
// HTTPS_PROXY/NO_PROXY environment, and bounds dialling, the TLS handshake,
// and idle connections.
func HTTPClient(timeout time.Duration, caFiles ...string) (*http.Client, error) {
	cfg, err := ClientConfig(caFiles...)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
	}
	return &http.Client{Timeout: timeout, Transport: transport}, nil
}

// readFile reads a named file, saying which file and what it is for if that
// fails.
func readFile(what, name string) ([]byte, error) {
	if name == "" {
		return nil, fmt.Errorf("tlsconf: no %s file given", what)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in our message
		}
		return nil, fmt.Errorf("tlsconf: %s file %s: %w", what, name, err)
	}
	return b, nil
}
