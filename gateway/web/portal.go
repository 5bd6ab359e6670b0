package web

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

// The customer's pages. A person reaches a case page in one of two ways:
//
//	/c/{token}              the link in every notification, signed for its
//	                        recipient and case: that one case, nothing else
//	/portal/cases/{number}  signed in through /portal (a one-time link
//	                        mailed to her): any case of hers
//
// Both serve the same page and the same actions under the same rules
// (gateway.Customer); the base path of the forms says which way she came.

func (h *Handler) registerPortalRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal", h.portalHome)
	mux.HandleFunc("POST /portal/signin", h.posted("portal", h.portalRequestSignIn))
	mux.HandleFunc("GET /signin/{token}", h.signInPage(gateway.KindCustomer))
	mux.HandleFunc("POST /signin/{token}", h.posted("portal", h.signInAction(gateway.KindCustomer)))
	mux.HandleFunc("POST /signout", h.posted("portal", h.signOut))
	for _, base := range []string{"/c/{token}", "/portal/cases/{number}"} {
		mux.HandleFunc("GET "+base, h.casePage)
		mux.HandleFunc("GET "+base+"/attachments/{id}", h.caseAttachment)
		for action, fn := range map[string]func(*gateway.Customer, *http.Request, string) (string, error){
			"comment": h.doComment, "accept": h.doAccept, "reject": h.doReject, "close": h.doClose,
			"rate": h.doRate, "watchers/add": h.doAddWatcher, "watchers/remove": h.doRemoveWatcher, "followup": h.doFollowUp,
		} {
			mux.HandleFunc("POST "+base+"/"+action, h.posted("portal", h.customerAction(fn)))
		}
	}
}

func (h *Handler) portalHome(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(r, gateway.KindCustomer)
	if !ok {
		h.render(w, r, http.StatusOK, "portal", view{Title: "Sign in", Area: "portal"})
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	const page = 25
	cases, err := h.g.AsCustomer(s.Email, "").Cases(r.Context(), after, page+1)
	if err != nil {
		code, msg := h.actionError(r, err)
		h.message(w, r, code, "portal", "Please try again", msg, "")
		return
	}
	data := map[string]any{"Cases": cases}
	if len(cases) > page {
		data["Cases"], data["Next"] = cases[:page], cases[page-1].ID
	}
	h.render(w, r, http.StatusOK, "portal", view{Title: "My cases", Area: "portal", Who: s.Email, Data: data})
}

// portalRequestSignIn mails a sign-in link; the answer is the same
// whether or not the address has cases.
func (h *Handler) portalRequestSignIn(w http.ResponseWriter, r *http.Request) {
	h.requestSignIn(w, r, gateway.KindCustomer, "portal",
		"If we have cases for that address, a sign-in link is on its way to it. It works once, within 15 minutes.")
}

func (h *Handler) requestSignIn(w http.ResponseWriter, r *http.Request, kind, area, done string) {
	email := strings.TrimSpace(r.FormValue("email"))
	err := h.g.RequestSignIn(h.clientCtx(r), kind, email)
	if errors.Is(err, gateway.ErrInvalid) {
		h.message(w, r, http.StatusBadRequest, area, "Check the address", "“"+email+"” is not an address we can mail.", "/"+area)
		return
	}
	if err != nil {
		code, msg := h.actionError(r, err)
		h.message(w, r, code, area, "Please try again", msg, "/"+area)
		return
	}
	h.message(w, r, http.StatusOK, area, "Check your mail", done, "")
}

// signInPage shows whom a sign-in link signs in, with a button: a mail
// scanner that follows the link signs nobody in.
func (h *Handler) signInPage(kind string) http.HandlerFunc {
	area := areaOf(kind)
	return func(w http.ResponseWriter, r *http.Request) {
		l, err := h.g.SignInInfo(r.Context(), r.PathValue("token"))
		if err != nil || l.Kind != kind {
			h.message(w, r, http.StatusGone, area, "This link no longer works",
				"Sign-in links work once, within 15 minutes. Ask for a new one.", "/"+area)
			return
		}
		h.render(w, r, http.StatusOK, "message", view{Title: "Sign in", Area: area,
			Data: map[string]string{"Text": "Sign in as " + l.Email + "?", "Button": "Sign in"}})
	}
}

func (h *Handler) signInAction(kind string) http.HandlerFunc {
	area := areaOf(kind)
	return func(w http.ResponseWriter, r *http.Request) {
		if l, err := h.g.SignInInfo(r.Context(), r.PathValue("token")); err != nil || l.Kind != kind {
			h.message(w, r, http.StatusGone, area, "This link no longer works",
				"Sign-in links work once, within 15 minutes. Ask for a new one.", "/"+area)
			return
		}
		secret, _, err := h.g.SignIn(r.Context(), r.PathValue("token"), h.cfg.SessionLifetime)
		if err != nil {
			h.message(w, r, http.StatusGone, area, "This link no longer works",
				"Sign-in links work once, within 15 minutes. Ask for a new one.", "/"+area)
			return
		}
		h.startSession(w, r, secret)
		http.Redirect(w, r, "/"+area, http.StatusSeeOther)
	}
}

func areaOf(kind string) string {
	if kind == gateway.KindAgent {
		return "console"
	}
	return "portal"
}

// customer is the person a case page request acts as, the case number and
// the base path of the page's forms; ok false when it answered already.
func (h *Handler) customer(w http.ResponseWriter, r *http.Request) (*gateway.Customer, string, string, string, bool) {
	if token := r.PathValue("token"); token != "" {
		cu, number, err := h.g.OpenCaseLink(r.Context(), token)
		if err != nil {
			status, msg := http.StatusForbidden, "This link is not valid, or no longer gives access to the case. Please use the link from the latest mail about your case."
			if !errors.Is(err, gateway.ErrBadLink) {
				status, msg = h.actionError(r, err)
			}
			h.message(w, r, status, "portal", "Link not valid", msg, "/portal")
			return nil, "", "", "", false
		}
		return cu, number, "/c/" + token, "", true
	}
	s, ok := h.session(r, gateway.KindCustomer)
	if !ok {
		http.Redirect(w, r, "/portal", http.StatusSeeOther)
		return nil, "", "", "", false
	}
	number := strings.ToUpper(r.PathValue("number"))
	return h.g.AsCustomer(s.Email, ""), number, "/portal/cases/" + number, s.Email, true
}

// caseView is what the case page shows.
type caseView struct {
	gateway.CustomerCase
	Base                                    string
	RoleText                                string
	IsContact, MayComment, Closed, Resolved bool
	SurveyOpen                              bool
	Rated                                   int
	Ratings                                 []int
}

func (h *Handler) casePage(w http.ResponseWriter, r *http.Request) {
	cu, number, base, who, ok := h.customer(w, r)
	if !ok {
		return
	}
	v, err := cu.View(r.Context(), number)
	if err != nil {
		status, msg := h.actionError(r, err)
		if status == http.StatusNotFound {
			msg = "There is no case " + number + " of yours."
		}
		h.message(w, r, status, "portal", "Case not found", msg, "/portal")
		return
	}
	cv := caseView{CustomerCase: v, Base: base, IsContact: v.Role == gateway.RoleContact,
		MayComment: v.Role == gateway.RoleContact || v.Role == gateway.RoleWatcher,
		Closed:     v.State == store.StateClosed, Resolved: v.State == store.StateResolved, Ratings: []int{1, 2, 3, 4, 5}}
	cv.RoleText = map[string]string{gateway.RoleContact: "the contact", gateway.RoleWatcher: "a watcher",
		gateway.RoleAccount: "of the same account (read only)"}[v.Role]
	if v.Survey != nil {
		cv.SurveyOpen, cv.Rated = v.Survey.RatedAt == nil, v.Survey.Rating
	}
	h.render(w, r, http.StatusOK, "case", view{Title: v.Number + " " + v.Subject, Area: "portal", Who: who,
		Notice: notices[r.URL.Query().Get("done")], Data: cv})
}

// notices are what the case page says after an action (PRG: ?done=).
var notices = map[string]string{
	"comment": "Your comment was added.", "accept": "Thank you! The case is closed.", "reject": "The case is open again; an analyst will look at it.",
	"close": "The case is closed.", "rate": "Thank you for your rating!", "watcher-added": "The watcher was added.",
	"watcher-removed": "The watcher was removed.", "opened": "Your new case is open; a confirmation is on its way.",
	"reply": "Sent.", "note": "The internal note was added.", "state": "The state was changed.", "update": "Saved.",
	"contact": "The contact was changed.", "watcher": "The watch list was changed.",
}

// customerAction runs a customer's action and redirects to the case page
// (post, redirect, get), or shows why it failed.
func (h *Handler) customerAction(fn func(*gateway.Customer, *http.Request, string) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cu, number, base, _, ok := h.customer(w, r)
		if !ok {
			return
		}
		done, err := fn(cu, r, number)
		if err != nil {
			status, msg := h.actionError(r, err)
			h.message(w, r, status, "portal", "Not done", msg, base)
			return
		}
		if strings.HasPrefix(done, "/") {
			http.Redirect(w, r, done, http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, base+"?done="+done, http.StatusSeeOther)
	}
}

// maxFiles bounds the files of one comment.
const maxFiles = 10

func (h *Handler) doComment(cu *gateway.Customer, r *http.Request, number string) (string, error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return "", invalidReq("the form could not be read (too large?)")
	}
	var files []gateway.Upload
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["files"] {
			if len(files) == maxFiles {
				return "", invalidReq("at most 10 files per comment")
			}
			f, err := fh.Open()
			if err != nil {
				return "", err
			}
			data, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return "", err
			}
			if fh.Filename == "" && len(data) == 0 {
				continue
			}
			files = append(files, gateway.Upload{Filename: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data})
		}
	}
	return "comment", cu.Comment(h.clientCtx(r), number, r.FormValue("body"), files)
}

func (h *Handler) doAccept(cu *gateway.Customer, r *http.Request, number string) (string, error) {
	return "accept", cu.Accept(h.clientCtx(r), number)
}

func (h *Handler) doReject(cu *gateway.Customer, r *http.Request, number string) (string, error) {
	return "reject", cu.Reject(h.clientCtx(r), number, r.FormValue("reason"))
}

func (h *Handler) doClose(cu *gateway.Customer, r *http.Request, number string) (string, error) {
	return "close", cu.Close(h.clientCtx(r), number)
}

func (h *Handler) doRate(cu *gateway.Customer, r *http.Request, number string) (string, error) {
	n, _ := strconv.Atoi(r.FormValue("rating"))
	return "rate", cu.Rate(h.clientCtx(r), number, n, r.FormValue("comment"))
}

func (h *Handler) doAddWatcher(cu *gateway.Customer, r *http.Request, number string) (string, error) {
	return "watcher-added", cu.AddWatcher(h.clientCtx(r), number, r.FormValue("email"))
}

func (h *Handler) doRemoveWatcher(cu *gateway.Customer, r *http.Request, number string) (string, error) {
	return "watcher-removed", cu.RemoveWatcher(h.clientCtx(r), number, r.FormValue("email"))
}

// doFollowUp opens a new case about a closed one; the contact then sees
// the new case: on her portal, or, from a case link, the link's own page
// (the new case's link comes in its confirmation).
func (h *Handler) doFollowUp(cu *gateway.Customer, r *http.Request, number string) (string, error) {
	c, err := cu.OpenAbout(h.clientCtx(r), number, r.FormValue("subject"), r.FormValue("body"))
	if err != nil {
		return "", err
	}
	if cu.Scope == "" {
		return "/portal/cases/" + c.Number + "?done=opened", nil
	}
	return "opened", nil
}

func (h *Handler) caseAttachment(w http.ResponseWriter, r *http.Request) {
	cu, number, base, _, ok := h.customer(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.message(w, r, http.StatusNotFound, "portal", "Not found", "There is no such attachment.", base)
		return
	}
	a, err := cu.Attachment(r.Context(), number, id)
	if err != nil {
		status, msg := h.actionError(r, err)
		h.message(w, r, status, "portal", "Not found", msg, base)
		return
	}
	h.writeAttachment(w, r, a)
}

// invalidReq is a request the page cannot take.
func invalidReq(msg string) error { return errors.Join(gateway.ErrInvalid, errors.New(msg)) }
