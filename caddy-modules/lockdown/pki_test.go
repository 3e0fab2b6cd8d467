package lockdown

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCert is a certificate with its key.
type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// certOpts shapes a generated certificate.
type certOpts struct {
	cn        string
	isCA      bool
	eku       []x509.ExtKeyUsage
	notBefore time.Time
	notAfter  time.Time
	dnsNames  []string
	ips       []net.IP
}

var serial int64

// issue makes a certificate signed by parent (self-signed when nil).
func issue(t *testing.T, parent *testCert, o certOpts) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	now := time.Now()
	if o.notBefore.IsZero() {
		o.notBefore = now.Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: o.cn},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  o.isCA,
		ExtKeyUsage:           o.eku,
		DNSNames:              o.dnsNames,
		IPAddresses:           o.ips,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if o.isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

func newCA(t *testing.T, cn string) *testCert {
	return issue(t, nil, certOpts{cn: cn, isCA: true})
}

func (c *testCert) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func (c *testCert) keyPEM(t *testing.T) []byte {
	der, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func (c *testCert) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}
}

// writePEM writes the certificate to a file in dir and returns its path.
func (c *testCert) writePEM(t *testing.T, dir, name string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, c.certPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
