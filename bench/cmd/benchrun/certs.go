package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the set of certificate files a bench run uses: a server CA and leaf
// for the gateways, and an origin-pull CA and client leaf standing in for
// Cloudflare's authenticated origin pulls.
type pki struct {
	ServerCA, ServerCert, ServerKey string
	PullCA, PullCert, PullKey       string
}

func makePKI(dir string) (pki, error) {
	p := pki{
		ServerCA: filepath.Join(dir, "server-ca.pem"), ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey: filepath.Join(dir, "server-key.pem"), PullCA: filepath.Join(dir, "pull-ca.pem"),
		PullCert: filepath.Join(dir, "pull.pem"), PullKey: filepath.Join(dir, "pull-key.pem"),
	}
	srvCA, srvCAKey, err := issue(nil, nil, "bench server CA", p.ServerCA, "", true, 0)
	if err != nil {
		return p, err
	}
	if _, _, err := issue(srvCA, srvCAKey, "localhost", p.ServerCert, p.ServerKey, false,
		x509.ExtKeyUsageServerAuth); err != nil {
		return p, err
	}
	pullCA, pullCAKey, err := issue(nil, nil, "bench origin-pull CA", p.PullCA, "", true, 0)
	if err != nil {
		return p, err
	}
	_, _, err = issue(pullCA, pullCAKey, "bench edge", p.PullCert, p.PullKey, false,
		x509.ExtKeyUsageClientAuth)
	return p, err
}

// issue makes a certificate signed by parent (self-signed when parent is
// nil) and writes it, and its key when keyFile is set, as PEM.
func issue(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn, certFile, keyFile string,
	isCA bool, eku x509.ExtKeyUsage,
) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{eku}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return nil, nil, err
	}
	if keyFile != "" {
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		if err := writePEM(keyFile, "EC PRIVATE KEY", kder); err != nil {
			return nil, nil, err
		}
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
