package onion

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/picket-edge/picket/caddy-modules/hygiene"
	"github.com/picket-edge/picket/internal/apierror"
	"github.com/picket-edge/picket/internal/edge"
)

func init() {
	caddy.RegisterModule(Source{})
}

// Source marks requests that arrived on the onion listener as source class
// onion with their circuit, removes every header a client could use to claim
// an address, and applies the read-only policy unless told not to.
//
// It decides by listener, never by address: a request whose connection does
// not carry the picket_onion listener's mark is refused with 500, because
// the server is then misconfigured and nothing about the sender is known.
type Source struct {
	// ReadWrite turns the read-only policy off for onion requests.
	ReadWrite bool `json:"read_write,omitempty"`

	// ClearnetURL is linked from the read-only refusal page.
	ClearnetURL string `json:"clearnet_url,omitempty"`

	hygiene *hygiene.Handler
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Source) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.picket_onion_source",
		New: func() caddy.Module { return new(Source) },
	}
}

// Provision prepares the header hygiene with its built-in list.
func (s *Source) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	s.hygiene = new(hygiene.Handler)
	return s.hygiene.Provision(ctx)
}

// Validate checks the configuration.
func (s *Source) Validate() error {
	return (&ReadOnly{ClearnetURL: s.ClearnetURL}).Validate()
}

// ServeHTTP classifies the request and calls the next handler.
func (s *Source) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ca, ok := circuitOf(r)
	if !ok {
		s.logger.Error("picket_onion_source on a server without the picket_onion listener wrapper")
		apierror.Write(w, http.StatusInternalServerError, "misconfigured",
			"the server is misconfigured", requestID(r))
		return nil
	}
	return s.hygiene.ServeHTTP(w, r, caddyhttp.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) error {
			edge.Set(r, &edge.Client{Source: edge.SourceOnion, Circuit: ca.Circuit})
			if !s.ReadWrite && refuseWrite(w, r, s.ClearnetURL) {
				return nil
			}
			return next.ServeHTTP(w, r)
		}))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Source)(nil)
	_ caddy.Validator             = (*Source)(nil)
	_ caddyhttp.MiddlewareHandler = (*Source)(nil)
)
