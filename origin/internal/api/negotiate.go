package api

import (
	"net/http"
	"strconv"
	"strings"
)

// wantsJSON reports whether the client prefers application/json over
// text/html by its Accept header. Browsers (and a missing Accept) get HTML;
// the app sends Accept: application/json.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return false
	}
	return acceptQuality(accept, "application", "json") > acceptQuality(accept, "text", "html")
}

// acceptQuality is the q value the Accept header gives to type/subtype,
// taking the most specific matching range.
func acceptQuality(accept []string, typ, sub string) float64 {
	best, bestSpec := 0.0, -1
	for _, line := range accept {
		for _, rng := range strings.Split(line, ",") {
			q, spec, ok := matchRange(strings.TrimSpace(rng), typ, sub)
			if ok && spec > bestSpec {
				best, bestSpec = q, spec
			}
		}
	}
	return best
}

func matchRange(rng, typ, sub string) (q float64, specificity int, ok bool) {
	media, params, _ := strings.Cut(rng, ";")
	t, s, _ := strings.Cut(strings.ToLower(strings.TrimSpace(media)), "/")
	switch {
	case t == typ && s == sub:
		specificity = 2
	case t == typ && s == "*":
		specificity = 1
	case t == "*" && s == "*":
		specificity = 0
	default:
		return 0, 0, false
	}

	q = 1
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "q") {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
	}
	return q, specificity, true
}
