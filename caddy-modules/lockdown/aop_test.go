package lockdown

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const (
	msgOnlyGlobal = "only Cloudflare's global origin-pull CA is trusted"
	msgExpiry     = "trusted origin-pull CA expires soon or has expired"
)

func TestAOPPoolReport(t *testing.T) {
	// the only-global warning is a provisioning step, tested separately.
	zone := newCA(t, "test zone CA") // valid for 24h
	tests := []struct {
		name     string
		global   bool
		zone     bool
		now      time.Time
		expiring int
		label    string
		days     float64
	}{
		{
			name: "global only, far from expiry", global: true,
			now:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			label: "origin-pull.cloudflare.net", days: 1400,
		},
		{
			name: "global only, 12 days left", global: true,
			now: time.Date(2029, 10, 20, 17, 0, 0, 0, time.UTC), expiring: 1,
			label: "origin-pull.cloudflare.net", days: 12,
		},
		{
			name: "global and zone CA, zone CA expires tomorrow", global: true, zone: true,
			now: time.Now(), expiring: 1, label: "test zone CA", days: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			p := &AOPPool{
				CloudflareGlobal: tt.global,
				WarnBefore:       caddy.Duration(defaultExpiryWarning),
				pool:             x509.NewCertPool(),
				now:              func() time.Time { return tt.now },
				logger:           zap.New(core),
			}
			if tt.global {
				if err := p.addPEM(cloudflareGlobalCAPEM, "embedded"); err != nil {
					t.Fatal(err)
				}
			}
			if tt.zone {
				if err := p.addPEM(zone.certPEM(), "zone"); err != nil {
					t.Fatal(err)
				}
			}
			p.report()

			if got := logs.FilterMessage(msgExpiry).Len(); got != tt.expiring {
				t.Fatalf("expiry warnings: got %d, want %d", got, tt.expiring)
			}
			var label string
			for _, c := range p.certs {
				if c.Subject.CommonName == tt.label {
					label = caLabel(c)
				}
			}
			got := testutil.ToFloat64(aopExpiryDays.WithLabelValues(label))
			if tt.days >= 1000 {
				if got < tt.days {
					t.Fatalf("days left: got %v, want at least %v", got, tt.days)
				}
				return
			}
			if got != tt.days {
				t.Fatalf("days left: got %v, want %v", got, tt.days)
			}
		})
	}
}

func TestAOPPoolProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	leaf := clientLeaf(t, ca, certOpts{})
	tests := []struct {
		name string
		pool AOPPool
		want string
	}{
		{"nothing trusted", AOPPool{}, "no origin-pull CA configured"},
		{"leaf as CA", AOPPool{PEMFiles: []string{leaf.writePEM(t, dir, "leaf.pem")}}, "not a CA certificate"},
		{"missing file", AOPPool{PEMFiles: []string{dir + "/nope.pem"}}, "reading origin-pull CA file"},
		{"ok", AOPPool{PEMFiles: []string{ca.writePEM(t, dir, "ca.pem")}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			tt.pool.logger = zap.NewNop()
			err := tt.pool.Provision(ctx)
			if tt.want == "" {
				if err != nil || len(tt.pool.Certificates()) != 1 {
					t.Fatalf("got %v, %d certs; want no error, 1 cert", err, len(tt.pool.Certificates()))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEmbeddedCloudflareCA(t *testing.T) {
	p := &AOPPool{pool: x509.NewCertPool()}
	if err := p.addPEM(cloudflareGlobalCAPEM, "embedded"); err != nil {
		t.Fatal(err)
	}
	c := p.certs[0]
	if got, want := c.Subject.CommonName, "origin-pull.cloudflare.net"; got != want {
		t.Fatalf("CN: got %q, want %q", got, want)
	}
	if got, want := c.NotAfter, time.Date(2029, 11, 1, 17, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("not after: got %v, want %v", got, want)
	}
}

func TestAOPPoolWarnsWhenOnlyGlobal(t *testing.T) {
	dir := t.TempDir()
	zone := newCA(t, "test zone CA").writePEM(t, dir, "zone.pem")
	tests := []struct {
		name  string
		pool  AOPPool
		warns int
	}{
		{"global only", AOPPool{CloudflareGlobal: true}, 1},
		{"global and zone CA", AOPPool{CloudflareGlobal: true, PEMFiles: []string{zone}}, 0},
		{"zone CA only", AOPPool{PEMFiles: []string{zone}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			tt.pool.logger = zap.New(core)
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			if err := tt.pool.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			if got := logs.FilterMessageSnippet(msgOnlyGlobal).Len(); got != tt.warns {
				t.Fatalf("only-global warnings: got %d, want %d", got, tt.warns)
			}
		})
	}
}
