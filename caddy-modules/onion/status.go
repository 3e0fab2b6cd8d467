package onion

import (
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	onionsvc "github.com/picket-edge/picket/onion"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// registerMetrics adds gauges for tor's state to the configuration's
// metrics registry. They read the pooled supervisor, so they stay right
// across restarts of tor.
func registerMetrics(ctx caddy.Context, e *poolEntry) {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return
	}
	read := func(f func(st statusView) float64) func() float64 {
		return func() float64 {
			s := e.supervisor()
			if s == nil {
				return 0
			}
			return f(view(s.Status()))
		}
	}
	collectors := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "picket_onion_tor_up",
			Help: "1 when tor runs with an authenticated control connection.",
		}, read(func(st statusView) float64 { return b2f(st.Running) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "picket_onion_bootstrap_percent",
			Help: "tor's last reported bootstrap progress.",
		}, read(func(st statusView) float64 { return float64(st.Bootstrap) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "picket_onion_descriptors_uploaded",
			Help: "Descriptor uploads tor completed since the process started.",
		}, read(func(st statusView) float64 { return float64(st.DescriptorsUploaded) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "picket_onion_tor_restarts_total",
			Help: "Times tor was started again after it exited.",
		}, read(func(st statusView) float64 { return float64(st.Restarts) })),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			ctx.Logger().Warn("registering onion metric", zap.Error(err))
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// statusView is the JSON shape of the onion service's state on the admin
// API.
type statusView struct {
	Address             string `json:"address"`
	Running             bool   `json:"running"`
	Healthy             bool   `json:"healthy"`
	Bootstrap           int    `json:"bootstrap_percent"`
	DescriptorsUploaded int    `json:"descriptors_uploaded"`
	Restarts            int    `json:"restarts"`
}

func view(st onionsvc.Status) statusView {
	return statusView{
		Address:             st.Address,
		Running:             st.Running,
		Bootstrap:           st.Bootstrap,
		DescriptorsUploaded: st.DescriptorsUploaded,
		Restarts:            st.Restarts,
	}
}

// adminAPI serves GET /picket/onion on Caddy's admin endpoint.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.picket_onion",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns the admin routes.
func (adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{
		Pattern: "/picket/onion",
		Handler: caddy.AdminHandlerFunc(serveStatus),
	}}
}

func serveStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed}
	}
	st, ok := Status()
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Message: "no onion service configured"}
	}
	v := view(st)
	v.Healthy = Healthy()
	w.Header().Set("Content-Type", "application/json")
	if !v.Healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var _ caddy.AdminRouter = (*adminAPI)(nil)
