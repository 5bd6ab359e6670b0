package gateway

import "net/http"

// registerLinkRoutes serves the pages signed links in mails lead to.
func (g *Gateway) registerLinkRoutes(mux *http.ServeMux) {
}
