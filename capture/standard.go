package capture

import (
	"net/http"
)

// StandardForm returns the standard hosted form of a type, the one the
// hosted vault's API serves at /v1/capture/iframe/pcd (a card) and
// /v1/capture/iframe/ach (a US bank account) without any configuration:
// every field of the type with its default options, no callbacks, no CSS,
// the default frame ancestors. Its ID is the type itself ("pcd", "ach"),
// which no configured form can have (see ValidFormID). ok is false for any
// other type: a custom form shows nothing until configured, so it has no
// standard form.
func StandardForm(t FormType) (f Form, ok bool) {
	if t != FormCard && t != FormBank {
		return Form{}, false
	}
	return Form{ID: string(t), Type: t, Fields: defaultFields(t)}, true
}

// ServeStandardFormPage answers GET /v1/capture/iframe/<type>?unique_id=<grant
// id>&secret=<grant secret> for the standard form of formType ("pcd" or
// "ach"; 404 for anything else) exactly as ServeFormPage answers for a
// configured form: the grant and its secret are checked with
// [Service.Check] (which counts nothing), and a grant that cannot take a
// capture gets the page's "expired" notice.
func (s *Service) ServeStandardFormPage(w http.ResponseWriter, r *http.Request, formType FormType, capturePath string) {
	f, ok := StandardForm(formType)
	if !ok {
		noSuchForm(w)
		return
	}
	s.serveCheckedPage(w, r, f, capturePath)
}
