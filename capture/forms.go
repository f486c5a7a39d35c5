package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/store"
)

const bucketForms = "capture.forms" // form id → ownedForm

// ErrFormNotFound: no form has that id (for that owner).
var ErrFormNotFound = fmt.Errorf("capture: no such form: %w", cardvault.ErrNotFound)

type ownedForm struct {
	Owner string `json:"owner"`
	Form  Form   `json:"form"`
}

// CreateForm parses a create-form request (see ParseForm) and keeps the
// form for owner. Forms hold no secrets: the page they render gets its
// grant's id and secret from its own URL.
func (s *Service) CreateForm(ctx context.Context, owner, formType string, body []byte) (Form, error) {
	f, err := ParseForm(formType, body, s.now().UTC())
	if err != nil {
		return Form{}, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(bucketForms, []byte(f.ID)); err == nil {
			return fmt.Errorf("capture: form id collision: %w", cardvault.ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := putJSON(tx, bucketForms, []byte(f.ID), ownedForm{Owner: owner, Form: f}); err != nil {
			return err
		}
		return audit.RecordIn(ctx, s.cfg.Audit, tx, formEvent(audit.OpFormConfigured, owner, f.ID))
	})
	if err != nil {
		return Form{}, err
	}
	return f, nil
}

// Form returns the form id, whoever owns it: a form page is public.
func (s *Service) Form(ctx context.Context, id string) (Form, error) {
	rec, err := s.form(ctx, id)
	return rec.Form, err
}

func (s *Service) form(ctx context.Context, id string) (ownedForm, error) {
	var rec ownedForm
	if !ValidFormID(id) {
		return rec, ErrFormNotFound
	}
	err := s.st.View(ctx, func(tx store.Tx) (err error) {
		rec, err = getForm(tx, id)
		return err
	})
	return rec, err
}

// getForm returns the stored form id, whoever owns it.
func getForm(tx store.Tx, id string) (ownedForm, error) {
	var rec ownedForm
	raw, err := getStored(tx, bucketForms, []byte(id), ErrFormNotFound)
	if err != nil {
		return rec, err
	}
	err = json.Unmarshal(raw, &rec)
	return rec, err
}

// DeleteForm deletes owner's form id.
func (s *Service) DeleteForm(ctx context.Context, owner, id string) error {
	if !ValidFormID(id) {
		return ErrFormNotFound
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		rec, err := getForm(tx, id)
		if err != nil {
			return err
		}
		if rec.Owner != owner {
			return ErrFormNotFound
		}
		if err := tx.Delete(bucketForms, []byte(id)); err != nil {
			return err
		}
		return audit.RecordIn(ctx, s.cfg.Audit, tx, formEvent(audit.OpFormDeleted, owner, id))
	})
}

// formEvent is an event about owner's form id.
func formEvent(op audit.Op, owner, id string) audit.Event {
	return audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: owner, Resource: id}
}

// ServeFormPage answers GET <link>?unique_id=<grant id>&secret=<grant
// secret> for the form formID: it loads the form (404 when unknown), checks
// the grant and its secret with [Service.Check], which counts nothing (a
// page anyone can load must not lock an endpoint; a server limits such
// checks per client), and serves the page with [Form.ServePage]. A grant
// that cannot take a capture — expired, used, deleted, locked, unknown, or
// a wrong secret — gets the page's "expired" notice, which tells nobody
// which of these it was. capturePath is where the server serves capture
// endpoints ("" for DefaultCapturePath).
func (s *Service) ServeFormPage(w http.ResponseWriter, r *http.Request, formID, capturePath string) {
	f, err := s.Form(r.Context(), formID)
	if errors.Is(err, ErrFormNotFound) {
		noSuchForm(w)
		return
	}
	if err != nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "capture: the form could not be loaded", http.StatusInternalServerError)
		return
	}
	s.serveCheckedPage(w, r, f, capturePath)
}

// noSuchForm is the 404 of a form page: nothing cached, no referrer.
func noSuchForm(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Error(w, "capture: no such form", http.StatusNotFound)
}

// serveCheckedPage serves f's page for the grant the query names
// (unique_id, secret), if any: checked with [Service.Check], which counts
// nothing, and told as closed when it cannot take a capture.
func (s *Service) serveCheckedPage(w http.ResponseWriter, r *http.Request, f Form, capturePath string) {
	opt := PageOptions{CapturePath: capturePath, Now: s.now()}
	q := r.URL.Query()
	if id, secret := q.Get("unique_id"), q.Get("secret"); id != "" && secret != "" && r.Method == http.MethodGet {
		info, err := s.Check(r.Context(), id, secret)
		opt.GrantExpiresAt = info.ExpiresAt
		opt.GrantClosed = err != nil
	}
	f.ServePage(w, r, opt)
}
