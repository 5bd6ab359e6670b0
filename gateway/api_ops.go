package gateway

import "net/http"

// registerOpsRoutes adds the operator routes: outbox and quarantine.
func (g *Gateway) registerOpsRoutes(mux *http.ServeMux) {
}
