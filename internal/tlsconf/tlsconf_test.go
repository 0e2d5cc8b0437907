package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func readAll(t *testing.T, f LocalFiles) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, p := range []string{f.CACert, f.CAKey, f.Cert, f.Key} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(p)] = b
	}
	return m
}

func mustEnsure(t *testing.T, dir string, now time.Time, wantCreated bool) LocalFiles {
	t.Helper()
	f, created, err := EnsureLocal(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if created != wantCreated {
		t.Fatalf("EnsureLocal created = %v; want %v", created, wantCreated)
	}
	return f
}

func loadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnsureLocalCreatesThenReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	f := mustEnsure(t, dir, now, true)
	first := readAll(t, f)

	if runtime.GOOS != "windows" {
		for _, tt := range []struct {
			path string
			mode os.FileMode
		}{{f.CAKey, 0o600}, {f.Key, 0o600}, {f.CACert, 0o644}, {f.Cert, 0o644}, {dir, 0o700 | os.ModeDir}} {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != tt.mode {
				t.Errorf("%s mode = %v; want %v", tt.path, got, tt.mode)
			}
		}
	}

	ca := loadCert(t, f.CACert)
	leaf := loadCert(t, f.Cert)
	if ca.Subject.CommonName != "Gatehouse local CA" || !ca.IsCA {
		t.Errorf("CA = %q IsCA=%v", ca.Subject.CommonName, ca.IsCA)
	}
	if life := ca.NotAfter.Sub(now); life < 9*365*24*time.Hour {
		t.Errorf("CA lifetime %v; want about ten years", life)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 397*24*time.Hour {
		t.Errorf("leaf lifetime %v; want at most 397 days", life)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("leaf ExtKeyUsage = %v; want server auth", leaf.ExtKeyUsage)
	}
	for _, c := range []*x509.Certificate{ca, leaf} {
		if c.PublicKeyAlgorithm != x509.ECDSA {
			t.Errorf("%s key algorithm = %v; want ECDSA", c.Subject.CommonName, c.PublicKeyAlgorithm)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("leaf does not verify for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots, CurrentTime: now}); err == nil {
		t.Error("leaf verifies for example.com")
	}

	f2 := mustEnsure(t, dir, now.Add(24*time.Hour), false)
	if f2 != f {
		t.Fatalf("paths changed: %+v vs %+v", f2, f)
	}
	for name, b := range readAll(t, f2) {
		if !bytes.Equal(b, first[name]) {
			t.Errorf("%s changed on reuse", name)
		}
	}
}

func TestEnsureLocalReissuesLeaf(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		later time.Time
		spoil func(t *testing.T, f LocalFiles)
	}{
		{name: "expires within 30 days", later: now.Add(370 * 24 * time.Hour)},
		{name: "expired", later: now.Add(400 * 24 * time.Hour)},
		{name: "certificate missing", later: now, spoil: func(t *testing.T, f LocalFiles) { remove(t, f.Cert) }},
		{name: "key missing", later: now, spoil: func(t *testing.T, f LocalFiles) { remove(t, f.Key) }},
		{name: "certificate garbage", later: now, spoil: func(t *testing.T, f LocalFiles) { write(t, f.Cert, "junk") }},
		{name: "key of another certificate", later: now, spoil: func(t *testing.T, f LocalFiles) {
			other := mustEnsure(t, t.TempDir(), now, true)
			copyFile(t, other.Key, f.Key)
		}},
		{name: "signed by another CA", later: now, spoil: func(t *testing.T, f LocalFiles) {
			other := mustEnsure(t, t.TempDir(), now, true)
			copyFile(t, other.Key, f.Key)
			copyFile(t, other.Cert, f.Cert)
		}},
		{name: "lacks a SAN", later: now, spoil: func(t *testing.T, f LocalFiles) {
			// Issue a leaf for localhost only from the same CA.
			ca := loadCert(t, f.CACert)
			b, _ := os.ReadFile(f.CAKey)
			caKey, err := parseKey(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := newLeaf(f, ca, caKey, now); err != nil {
				t.Fatal(err)
			}
			leaf := loadCert(t, f.Cert)
			leaf.IPAddresses = leaf.IPAddresses[:1] // drop ::1
			der, err := x509.CreateCertificate(nil, leaf, ca, leaf.PublicKey, caKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeCert(f.Cert, der); err != nil {
				t.Fatal(err)
			}
			if loadCert(t, f.Cert).VerifyHostname("::1") == nil {
				t.Fatal("spoiled leaf still covers ::1")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := mustEnsure(t, dir, now, true)
			before := readAll(t, f)
			if tt.spoil != nil {
				tt.spoil(t, f)
			}
			mustEnsure(t, dir, tt.later, true)
			after := readAll(t, f)
			for _, name := range []string{CACertFile, CAKeyFile} {
				if !bytes.Equal(before[name], after[name]) {
					t.Errorf("%s changed; the CA must be reused", name)
				}
			}
			if bytes.Equal(before[CertFile], after[CertFile]) {
				t.Error("leaf was not re-issued")
			}
			leaf := loadCert(t, f.Cert)
			roots := x509.NewCertPool()
			roots.AddCert(loadCert(t, f.CACert))
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "::1", Roots: roots, CurrentTime: tt.later}); err != nil {
				t.Errorf("re-issued leaf does not verify at %v: %v", tt.later, err)
			}
			if _, err := ServerConfig(f.Cert, f.Key); err != nil {
				t.Errorf("re-issued pair unusable: %v", err)
			}
			// And it is stable again.
			mustEnsure(t, dir, tt.later, false)
		})
	}
}

func TestEnsureLocalCA(t *testing.T) {
	now := time.Now()
	t.Run("replaced when expiring", func(t *testing.T) {
		dir := t.TempDir()
		f := mustEnsure(t, dir, now, true)
		before := readAll(t, f)
		mustEnsure(t, dir, now.Add(10*365*24*time.Hour-24*time.Hour), true)
		if bytes.Equal(before[CACertFile], readAll(t, f)[CACertFile]) {
			t.Fatal("expiring CA was kept")
		}
	})
	t.Run("certificate without key is an error naming the key", func(t *testing.T) {
		dir := t.TempDir()
		f := mustEnsure(t, dir, now, true)
		remove(t, f.CAKey)
		_, _, err := EnsureLocal(dir, now)
		if err == nil || !strings.Contains(err.Error(), f.CAKey) {
			t.Fatalf("err = %v; want it to name %s", err, f.CAKey)
		}
	})
	t.Run("key without certificate starts over", func(t *testing.T) {
		dir := t.TempDir()
		f := mustEnsure(t, dir, now, true)
		remove(t, f.CACert)
		mustEnsure(t, dir, now, true)
		roots := x509.NewCertPool()
		roots.AddCert(loadCert(t, f.CACert))
		if _, err := loadCert(t, f.Cert).Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now}); err != nil {
			t.Fatalf("leaf not signed by the new CA: %v", err)
		}
	})
	t.Run("name constraints keep the CA to loopback", func(t *testing.T) {
		dir := t.TempDir()
		f := mustEnsure(t, dir, now, true)
		ca := loadCert(t, f.CACert)
		b, _ := os.ReadFile(f.CAKey)
		caKey, err := parseKey(b)
		if err != nil {
			t.Fatal(err)
		}
		leaf := loadCert(t, f.Cert)
		leaf.DNSNames = []string{"bank.example"}
		leaf.IPAddresses = nil
		der, err := x509.CreateCertificate(nil, leaf, ca, leaf.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		evil, _ := x509.ParseCertificate(der)
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		_, err = evil.Verify(x509.VerifyOptions{DNSName: "bank.example", Roots: roots, CurrentTime: now})
		var cie x509.CertificateInvalidError
		if !errors.As(err, &cie) || cie.Reason != x509.CANotAuthorizedForThisName {
			t.Fatalf("Verify = %v; want CANotAuthorizedForThisName", err)
		}
	})
}

func TestServerAndClient(t *testing.T) {
	f := mustEnsure(t, t.TempDir(), time.Now(), true)
	cfg, err := ServerConfig(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	ts.EnableHTTP2 = true
	ts.TLS = cfg
	ts.StartTLS()
	t.Cleanup(ts.Close)

	tests := []struct {
		name      string
		client    func(t *testing.T) *http.Client
		wantProto string
		wantErr   string
	}{
		{
			name: "HTTPClient trusting the local CA speaks h2",
			client: func(t *testing.T) *http.Client {
				c, err := HTTPClient(5*time.Second, "", f.CACert)
				if err != nil {
					t.Fatal(err)
				}
				return c
			},
			wantProto: "HTTP/2.0",
		},
		{
			name: "ClientConfig trusting the local CA over HTTP/1.1 and TLS 1.2",
			client: func(t *testing.T) *http.Client {
				c, err := ClientConfig(f.CACert)
				if err != nil {
					t.Fatal(err)
				}
				c.MaxVersion = tls.VersionTLS12
				return &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
			},
			wantProto: "HTTP/1.1",
		},
		{
			name: "without the CA",
			client: func(t *testing.T) *http.Client {
				c, err := HTTPClient(5 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				return c
			},
			wantErr: "certificate",
		},
		{
			name: "TLS 1.1 is refused",
			client: func(t *testing.T) *http.Client {
				c, err := ClientConfig(f.CACert)
				if err != nil {
					t.Fatal(err)
				}
				c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
				return &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
			},
			wantErr: "protocol version",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.client(t)
			defer c.CloseIdleConnections()
			resp, err := c.Get(ts.URL)
			if tt.wantErr != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded")
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if string(body) != tt.wantProto || resp.Proto != tt.wantProto {
				t.Fatalf("server saw %q, client %q; want %q", body, resp.Proto, tt.wantProto)
			}
			if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
				t.Fatalf("TLS state %+v; want TLS 1.2+", resp.TLS)
			}
		})
	}
}

func TestServerConfigErrors(t *testing.T) {
	f := mustEnsure(t, t.TempDir(), time.Now(), true)
	other := mustEnsure(t, t.TempDir(), time.Now(), true)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	junk := filepath.Join(dir, "junk.pem")
	write(t, junk, "not PEM")

	tests := []struct {
		name      string
		cert, key string
		wantNames []string
	}{
		{name: "missing certificate", cert: missing, key: f.Key, wantNames: []string{missing, "certificate"}},
		{name: "missing key", cert: f.Cert, key: missing, wantNames: []string{missing, "key"}},
		{name: "certificate not PEM", cert: junk, key: f.Key, wantNames: []string{junk}},
		{name: "key not PEM", cert: f.Cert, key: junk, wantNames: []string{junk}},
		{name: "key of another certificate", cert: f.Cert, key: other.Key, wantNames: []string{f.Cert, other.Key}},
		{name: "key given as certificate", cert: f.Key, key: f.Key, wantNames: []string{f.Key}},
		{name: "no file", cert: "", key: f.Key, wantNames: []string{"no certificate file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ServerConfig(tt.cert, tt.key)
			if err == nil {
				t.Fatal("ServerConfig succeeded")
			}
			for _, s := range tt.wantNames {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q; want it to contain %q", err, s)
				}
			}
			if strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("err spans lines: %q", err)
			}
		})
	}
	if _, err := ServerConfig(missing, f.Key); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap os.ErrNotExist", err)
	}

	cfg, err := ServerConfig(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || len(cfg.NextProtos) != 2 || cfg.NextProtos[0] != "h2" {
		t.Errorf("config MinVersion=%x NextProtos=%v", cfg.MinVersion, cfg.NextProtos)
	}
}

func TestClientConfigErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	junk := filepath.Join(dir, "junk.pem")
	write(t, junk, "not PEM")
	for _, name := range []string{missing, junk} {
		if _, err := ClientConfig(name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("ClientConfig(%s) err = %v; want it to name the file", name, err)
		}
		if _, err := HTTPClient(time.Second, name); err == nil {
			t.Errorf("HTTPClient(%s) succeeded", name)
		}
	}
	if _, err := ClientConfig("", ""); err != nil {
		t.Errorf("empty names not ignored: %v", err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, string(b))
}
