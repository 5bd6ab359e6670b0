package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/casegate/casegate/store"
)

// gonePurged answers 410 Gone for a raw mail or attachment whose bytes
// were purged, with the stable code "purged" (policy.retention) or
// "erased" (the sender's data was erased), and reports whether it did.
func gonePurged(w http.ResponseWriter, what string, id int64, why string, at *time.Time) bool {
	if why == "" {
		return false
	}
	when := ""
	if at != nil {
		when = " on " + at.UTC().Format(time.RFC3339)
	}
	code, msg := "purged", fmt.Sprintf("the content of %s %d was purged%s under policy.retention", what, id, when)
	if why == store.PurgedErased {
		code, msg = "erased", fmt.Sprintf("the content of %s %d was erased%s with its sender's personal data", what, id, when)
	}
	writeJSONError(w, http.StatusGone, code, msg)
	return true
}
