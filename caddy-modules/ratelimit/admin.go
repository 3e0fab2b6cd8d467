package ratelimit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(Admin{})
}

// Admin is the admin.api.picket_rate_limit module: it lists and lifts
// blocks. Keys appear only as their hex hashes, the same strings that Redis
// keys carry.
//
//	GET    /picket/rate_limit/blocks              list active blocks
//	DELETE /picket/rate_limit/blocks/<zone>/<key> lift one block
//	DELETE /picket/rate_limit/blocks[?zone=<zone>] lift all (of one zone)
type Admin struct{}

// CaddyModule returns the Caddy module information.
func (Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.picket_rate_limit",
		New: func() caddy.Module { return new(Admin) },
	}
}

const adminPrefix = "/picket/rate_limit/blocks"

// Routes returns the admin routes.
func (Admin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: adminPrefix, Handler: caddy.AdminHandlerFunc(serveAdmin)},
		{Pattern: adminPrefix + "/", Handler: caddy.AdminHandlerFunc(serveAdmin)},
	}
}

func serveAdmin(w http.ResponseWriter, r *http.Request) error {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, adminPrefix), "/")
	switch {
	case r.Method == http.MethodGet && rest == "":
		return adminList(w, r)
	case r.Method == http.MethodDelete && rest == "":
		return adminUnblockAll(w, r, r.URL.Query().Get("zone"))
	case r.Method == http.MethodDelete:
		zone, key, ok := strings.Cut(rest, "/")
		if !ok {
			return adminErr(http.StatusNotFound, "want /blocks/<zone>/<key>")
		}
		return adminUnblock(w, r, zone, key)
	}
	return adminErr(http.StatusMethodNotAllowed, "method not allowed")
}

func adminErr(status int, msg string) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf("%s", msg)}
}

func clockNow() time.Time {
	if testClock != nil {
		return testClock()
	}
	return time.Now()
}

// zoneStores returns the live zones' stores by name, one store per name
// (instances of a zone share their data).
func zoneStores(only string) map[string]store {
	out := make(map[string]store)
	for _, z := range liveStates.list() {
		if only != "" && z.name != only {
			continue
		}
		if s := z.current(); s != nil {
			out[z.name] = s
		}
	}
	return out
}

func adminList(w http.ResponseWriter, r *http.Request) error {
	now := clockNow()
	list := []blockEntry{}
	for name, s := range zoneStores("") {
		bs, err := s.blocks(r.Context(), now)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: err}
		}
		for i := range bs {
			bs[i].Zone = name
		}
		list = append(list, bs...)
	}
	slices.SortFunc(list, func(a, b blockEntry) int {
		return strings.Compare(a.Zone+a.Key, b.Zone+b.Key)
	})
	return writeJSON(w, map[string]any{"blocks": list})
}

func adminUnblock(w http.ResponseWriter, r *http.Request, zone, key string) error {
	k, ok := parseKeyHash(key)
	if !ok {
		return adminErr(http.StatusBadRequest, "key must be 32 hex digits")
	}
	s, ok := zoneStores(zone)[zone]
	if !ok {
		return adminErr(http.StatusNotFound, "no such zone")
	}
	done, err := s.unblock(r.Context(), k, clockNow())
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: err}
	}
	if !done {
		return adminErr(http.StatusNotFound, "no such block")
	}
	return writeJSON(w, map[string]int{"unblocked": 1})
}

func adminUnblockAll(w http.ResponseWriter, r *http.Request, zone string) error {
	stores := zoneStores(zone)
	if zone != "" && len(stores) == 0 {
		return adminErr(http.StatusNotFound, "no such zone")
	}
	n := 0
	for _, s := range stores {
		c, err := s.unblockAll(r.Context(), clockNow())
		n += c
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: err}
		}
	}
	return writeJSON(w, map[string]int{"unblocked": n})
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var _ caddy.AdminRouter = (*Admin)(nil)
