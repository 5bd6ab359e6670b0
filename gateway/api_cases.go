package gateway

import "net/http"

// registerCaseRoutes adds the case API of SPEC §5 under /api/v1.
func (g *Gateway) registerCaseRoutes(mux *http.ServeMux) {
}
