package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/casegate/casegate/store"
)

// CaseDetail is a case with what an agent reads: its watchers, its
// attachments, its survey and its activity thread, inbound mails with
// their visible reply, full text and decision trace.
type CaseDetail struct {
	store.Case
	Watchers    []store.Watcher  `json:"watchers"`
	Attachments []AttachmentView `json:"attachments"`
	Survey      *store.Survey    `json:"survey,omitempty"`
	Activity    []ActivityView   `json:"activity"`
}

// AttachmentView is an attachment's metadata and where to fetch it.
type AttachmentView struct {
	store.Attachment
	URL string `json:"url"`
}

// ActivityView is one entry of the thread; an inbound entry carries its
// message.
type ActivityView struct {
	store.Activity
	Message *MessageView `json:"message,omitempty"`
}

// MessageView is a stored inbound mail as the API shows it: the decision
// trace and headers as JSON, and where to fetch the raw original.
type MessageView struct {
	store.InboundMessage
	Headers  json.RawMessage `json:"headers"`
	Decision json.RawMessage `json:"decision"`
	RawURL   string          `json:"raw_url"`
}

// CaseDetail reads a case with its watchers, attachments, survey and
// thread.
func (g *Gateway) CaseDetail(ctx context.Context, number string) (CaseDetail, error) {
	c, err := g.store.CaseByNumber(ctx, number)
	if err != nil {
		return CaseDetail{}, err
	}
	d := CaseDetail{Case: c, Watchers: []store.Watcher{}, Attachments: []AttachmentView{}, Activity: []ActivityView{}}
	if ws, err := g.store.Watchers(ctx, c.ID); err != nil {
		return d, err
	} else if ws != nil {
		d.Watchers = ws
	}
	atts, err := g.store.CaseAttachments(ctx, c.ID)
	if err != nil {
		return d, err
	}
	for _, a := range atts {
		a.Filename = SafeFilename(a.Filename)
		d.Attachments = append(d.Attachments, AttachmentView{Attachment: a, URL: fmt.Sprintf("/api/v1/attachments/%d", a.ID)})
	}
	if s, err := g.store.Survey(ctx, c.ID); err == nil {
		d.Survey = &s
	} else if !errors.Is(err, store.ErrNotFound) {
		return d, err
	}
	d.Activity, err = g.thread(ctx, c.ID)
	return d, err
}

// thread joins a case's activity entries with its inbound messages.
func (g *Gateway) thread(ctx context.Context, caseID int64) ([]ActivityView, error) {
	acts, err := g.store.Activities(ctx, caseID)
	if err != nil {
		return nil, err
	}
	msgs, err := g.store.CaseMessages(ctx, caseID)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]store.InboundMessage, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
	}
	out := make([]ActivityView, 0, len(acts))
	for _, a := range acts {
		v := ActivityView{Activity: a}
		if m, ok := byID[a.MessageID]; ok && a.MessageID != 0 {
			v.Message = &MessageView{InboundMessage: m, Headers: rawJSON(m.Headers, "{}"), Decision: rawJSON(m.Decision, "[]"),
				RawURL: fmt.Sprintf("/api/v1/messages/%d/raw", m.ID)}
		}
		out = append(out, v)
	}
	return out, nil
}

// rawJSON passes stored JSON through as JSON, and anything that is not
// valid JSON as a string, so one bad row cannot break the answer.
func rawJSON(s, empty string) json.RawMessage {
	if s == "" {
		return json.RawMessage(empty)
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}
