package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names EnsureLocal uses inside its directory.
const (
	CACertFile = "local-ca.pem"
	CAKeyFile  = "local-ca-key.pem"
	CertFile   = "localhost.pem"
	KeyFile    = "localhost-key.pem"
)

const (
	caName = "Gatehouse local CA"
	// caLifetime is about ten years: the CA is what a person trusts by hand,
	// so it should rarely change.
	caLifetime = 10 * 365 * 24 * time.Hour
	// leafLifetime stays under the 398 days browsers accept for a TLS server
	// certificate (CA/Browser Forum Baseline Requirements §6.3.2).
	leafLifetime = 396 * 24 * time.Hour
	// renewBefore re-issues a certificate this long before it expires.
	renewBefore = 30 * 24 * time.Hour
	// backdate tolerates clocks a little behind the one that issued.
	backdate = time.Hour
)

// localHosts are the names the local leaf certificate must cover.
var localHosts = []string{"localhost", "127.0.0.1", "::1"}

// LocalFiles are the paths of a local CA and the leaf certificate it signed.
type LocalFiles struct {
	CACert, CAKey, Cert, Key string
}

// EnsureLocal makes sure dir holds a local CA and a server certificate for
// localhost, 127.0.0.1 and ::1 signed by it, and returns their paths. It
// reports created when it wrote anything.
//
// The CA (ECDSA P-256, about ten years, named "Gatehouse local CA") is made
// once and then reused, because people add it to their trust stores; it is
// replaced only when it is missing or expires within 30 days. Its name
// constraints limit it to localhost and loopback addresses, so trusting it
// cannot vouch for any other site. The leaf (ECDSA P-256, 396 days, server
// auth) is re-issued from the same CA when missing, unreadable, not signed by
// the CA, expiring within 30 days of now, or missing one of the names.
//
// Private keys are written with mode 0600, certificates with 0644, each
// atomically. A CA certificate without its key is an error naming the
// missing file rather than silently replaced, since a person may trust it.
// EnsureLocal is meant for one process starting on a data directory; it does
// not lock against another process generating at the same moment.
func EnsureLocal(dir string, now time.Time) (LocalFiles, bool, error) {
	files := LocalFiles{
		CACert: filepath.Join(dir, CACertFile),
		CAKey:  filepath.Join(dir, CAKeyFile),
		Cert:   filepath.Join(dir, CertFile),
		Key:    filepath.Join(dir, KeyFile),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return files, false, fmt.Errorf("tlsconf: creating %s: %w", dir, err)
	}

	created := false
	ca, caKey, err := loadCA(files, now)
	if err != nil {
		return files, false, err
	}
	if ca == nil {
		if ca, caKey, err = newCA(files, now); err != nil {
			return files, false, err
		}
		created = true
	}
	if leafOK(files, ca, now) && !created {
		return files, false, nil
	}
	if err := newLeaf(files, ca, caKey, now); err != nil {
		return files, created, err
	}
	return files, true, nil
}

// loadCA returns the stored CA, or nil without error when a new one should be
// made (none stored, or it is about to expire).
func loadCA(files LocalFiles, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(files.CACert)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: reading local CA: %w", err)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: local CA %s: %w (delete it to generate a new CA)", files.CACert, err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("tlsconf: local CA %s is not a CA certificate (delete it to generate a new CA)", files.CACert)
	}
	if now.Add(renewBefore).After(cert.NotAfter) {
		return nil, nil, nil
	}
	keyPEM, err := os.ReadFile(files.CAKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: local CA key: %w (delete %s to generate a new CA)", err, files.CACert)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: local CA key %s: %w", files.CAKey, err)
	}
	if !publicKeyEqual(cert.PublicKey, key.Public()) {
		return nil, nil, fmt.Errorf("tlsconf: local CA key %s does not match %s", files.CAKey, files.CACert)
	}
	return cert, key, nil
}

func newCA(files LocalFiles, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: generating CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caName, Organization: []string{"Gatehouse"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// RFC 5280 §4.2.1.10: everything it signs must be localhost or loopback.
		PermittedDNSDomains: []string{"localhost"},
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsconf: creating CA certificate: %w", err)
	}
	// Key first: a crash in between leaves a key without certificate, which
	// the next start treats as no CA at all.
	if err := writeKey(files.CAKey, key); err != nil {
		return nil, nil, err
	}
	if err := writeCert(files.CACert, der); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// leafOK reports whether the stored leaf can be used as it is.
func leafOK(files LocalFiles, ca *x509.Certificate, now time.Time) bool {
	certPEM, err := os.ReadFile(files.Cert)
	if err != nil {
		return false
	}
	keyPEM, err := os.ReadFile(files.Key)
	if err != nil {
		return false
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return false
	}
	key, err := parseKey(keyPEM)
	if err != nil || !publicKeyEqual(cert.PublicKey, key.Public()) {
		return false
	}
	if now.Add(renewBefore).After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return false
	}
	if cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	for _, h := range localHosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func newLeaf(files LocalFiles, ca *x509.Certificate, caKey crypto.Signer, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tlsconf: generating server key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return err
	}
	notAfter := now.Add(leafLifetime)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Gatehouse"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("tlsconf: creating server certificate: %w", err)
	}
	if err := writeKey(files.Key, key); err != nil {
		return err
	}
	return writeCert(files.Cert, der)
}

// serialNumber returns a random positive 128-bit serial (RFC 5280 §4.1.2.2
// allows up to 20 octets; CA/B BR §7.1 asks for 64 random bits at least).
func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func parseCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PKCS #8 private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsconf: encoding %s: %w", path, err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeCert(path string, der []byte) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile replaces path atomically: a temporary file (created 0600) is
// written, synced, given its mode and renamed into place.
func writeFile(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("tlsconf: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("tlsconf: writing %s: %w", path, err)
	}
	return nil
}
