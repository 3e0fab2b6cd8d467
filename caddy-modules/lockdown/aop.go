package lockdown

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"crypto/x509"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(AOPPool{})
	caddy.RegisterModule(AOPVerifier{})
}

// cloudflareGlobalCAPEM is Cloudflare's public CA for global (shared)
// authenticated origin pulls, as published in Cloudflare's documentation
// (CN origin-pull.cloudflare.net, valid until 2029-11-01).
//
//go:embed cloudflare_origin_pull_ca.pem
var cloudflareGlobalCAPEM []byte

// defaultExpiryWarning is how long before a trusted CA expires the
// warnings start.
const defaultExpiryWarning = 14 * 24 * time.Hour

// AOPPool is tls.ca_pool.source.picket_aop: the trust bundle for
// authenticated origin pulls. It holds any number of CA certificates from
// PEM files (zone-level or per-hostname custom CAs, preferred; several at
// once so a CA change needs no downtime) and, on request, Cloudflare's
// public global origin-pull CA.
//
// At provisioning it logs a warning when the global CA is the only one
// trusted (any Cloudflare customer's zone can present a certificate from
// it), sets the picket_lockdown_aop_ca_expiry_days gauge for every CA and
// warns about CAs that expire within 14 days.
type AOPPool struct {
	// Trust Cloudflare's global origin-pull CA.
	CloudflareGlobal bool `json:"cloudflare_global,omitempty"`

	// PEM files with one or more CA certificates each.
	PEMFiles []string `json:"pem_files,omitempty"`

	// How long before expiry to start warning. Default 14 days.
	WarnBefore caddy.Duration `json:"warn_before,omitempty"`

	pool   *x509.CertPool
	certs  []*x509.Certificate
	now    func() time.Time
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AOPPool) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.ca_pool.source.picket_aop",
		New: func() caddy.Module { return new(AOPPool) },
	}
}

// Provision loads the CAs and reports on them.
func (p *AOPPool) Provision(ctx caddy.Context) error {
	if p.logger == nil {
		p.logger = ctx.Logger()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	if p.WarnBefore <= 0 {
		p.WarnBefore = caddy.Duration(defaultExpiryWarning)
	}

	p.pool = x509.NewCertPool()
	p.certs = nil
	if p.CloudflareGlobal {
		if err := p.addPEM(cloudflareGlobalCAPEM, "cloudflare_global"); err != nil {
			return err
		}
	}
	for _, f := range p.PEMFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading origin-pull CA file: %w", err)
		}
		if err := p.addPEM(b, f); err != nil {
			return err
		}
	}
	if len(p.certs) == 0 {
		return errors.New("no origin-pull CA configured: set cloudflare_global or pem_files")
	}

	if p.CloudflareGlobal && len(p.certs) == 1 {
		p.logger.Warn("only Cloudflare's global origin-pull CA is trusted: " +
			"any Cloudflare customer's zone can pass authenticated origin pulls; " +
			"upload a zone-level or per-hostname CA and list it in pem_files")
	}
	p.report()
	go p.reportDaily(ctx)
	return nil
}

// reportDaily keeps the expiry gauge and warnings current for as long as the
// config runs, so a gateway that is never reloaded still warns in time.
func (p *AOPPool) reportDaily(ctx caddy.Context) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.report()
		}
	}
}

// addPEM adds every CA certificate in b; a non-CA certificate is an error.
func (p *AOPPool) addPEM(b []byte, from string) error {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("parsing origin-pull CA from %s: %w", from, err)
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return fmt.Errorf("origin-pull CA from %s is not a CA certificate", from)
		}
		p.pool.AddCert(c)
		p.certs = append(p.certs, c)
		n++
	}
	if n == 0 {
		return fmt.Errorf("no certificate in origin-pull CA from %s", from)
	}
	return nil
}

// report sets the expiry gauges and warns about CAs close to expiry.
func (p *AOPPool) report() {
	now := p.now()
	for _, c := range p.certs {
		days := math.Floor(c.NotAfter.Sub(now).Hours() / 24)
		label := caLabel(c)
		aopExpiryDays.WithLabelValues(label).Set(days)
		if c.NotAfter.Sub(now) <= time.Duration(p.WarnBefore) {
			p.logger.Warn("trusted origin-pull CA expires soon or has expired",
				zap.String("ca", label),
				zap.Float64("days_left", days),
				zap.Time("not_after", c.NotAfter))
		}
	}
}

// caLabel names a CA by its subject CN and a short fingerprint.
func caLabel(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return c.Subject.CommonName + " " + hex.EncodeToString(sum[:6])
}

// CertPool returns the trust bundle.
func (p *AOPPool) CertPool() *x509.CertPool { return p.pool }

// Certificates returns the CA certificates, for combined pools.
func (p *AOPPool) Certificates() []*x509.Certificate { return slices.Clone(p.certs) }

// UnmarshalCaddyfile reads the pool. Syntax:
//
//	trust_pool picket_aop {
//	    cloudflare_global
//	    pem_file    <path...>
//	    warn_before <duration>
//	}
func (p *AOPPool) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "cloudflare_global":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.CloudflareGlobal = true
		case "pem_file":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			p.PEMFiles = append(p.PEMFiles, args...)
		case "warn_before":
			if err := parseDuration(d, &p.WarnBefore); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q", d.Val())
		}
	}
	return nil
}

// AOPVerifier is tls.client_auth.verifier.picket_aop. Go's TLS stack
// already checks the chain, the validity period and, through the chain, the
// clientAuth extended key usage; this verifier adds what it leaves open for
// origin pulls: the leaf must not be a CA certificate and must name
// clientAuth explicitly (a certificate without any extended key usage would
// otherwise pass as "any").
type AOPVerifier struct{}

// CaddyModule returns the Caddy module information.
func (AOPVerifier) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.client_auth.verifier.picket_aop",
		New: func() caddy.Module { return new(AOPVerifier) },
	}
}

// Errors of the verifier.
var (
	errNoChain    = errors.New("origin pull: no verified client certificate chain")
	errLeafIsCA   = errors.New("origin pull: client certificate is a CA certificate")
	errNoClientEK = errors.New("origin pull: client certificate lacks the clientAuth usage")
)

// VerifyClientCertificate checks the verified leaf.
func (AOPVerifier) VerifyClientCertificate(_ [][]byte, chains [][]*x509.Certificate) error {
	if len(chains) == 0 || len(chains[0]) == 0 {
		refusedTotal.WithLabelValues("tls", "no_chain").Inc()
		return errNoChain
	}
	leaf := chains[0][0]
	if leaf.IsCA || (leaf.KeyUsage&x509.KeyUsageCertSign) != 0 {
		refusedTotal.WithLabelValues("tls", "leaf_is_ca").Inc()
		return errLeafIsCA
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		refusedTotal.WithLabelValues("tls", "no_client_auth_usage").Inc()
		return errNoClientEK
	}
	return nil
}

// UnmarshalCaddyfile takes no arguments: verifier picket_aop
func (AOPVerifier) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("picket_aop verifier takes no arguments")
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner                  = (*AOPPool)(nil)
	_ caddytls.CA                        = (*AOPPool)(nil)
	_ caddytls.CertificateProvider       = (*AOPPool)(nil)
	_ caddyfile.Unmarshaler              = (*AOPPool)(nil)
	_ caddytls.ClientCertificateVerifier = AOPVerifier{}
	_ caddyfile.Unmarshaler              = AOPVerifier{}
)
