package capture_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/capture/formpage"
)

// FuzzParseForm: any request either fails with a documented error or gives
// a form that survives the store (a JSON round trip) and renders.
func FuzzParseForm(f *testing.F) {
	f.Add("pcd", []byte(seedBody()))
	f.Add("pcd", []byte(``))
	f.Add("ach", []byte(`{"field_options": {"reference": {"visible": true, "validate": false}}}`))
	f.Add("custom", []byte(`{"field_options": {"cvv": {"visible": true}}, "frame_ancestors": ["https://a.example", "http://localhost:1"]}`))
	f.Add("pcd", []byte(`{"success_callback": "`+b64("function(a){}</script>")+`"}`))
	f.Add("pcd", []byte(`{"success_callback": "`+b64("0);window.__pwned=1;(0")+`", "error_callback": "`+b64("\x00")+`"}`))
	f.Add("pcd", []byte(`{"embedded_css": "`+b64("#cv-cvv{color:red}")+`", "error_callback": "KGUpID0+IGU"}`))
	f.Add("pcd", []byte(`{"frame_ancestors": ["'none'"]}`))
	f.Add("x", []byte(`{"field_options": {"a": {"visible": 1}}, "a": [1, {"b": null}]}`))
	f.Fuzz(func(t *testing.T, formType string, body []byte) {
		form, err := capture.ParseForm(formType, body, created)
		if err != nil {
			if !errors.Is(err, capture.ErrInvalidForm) && !errors.Is(err, capture.ErrFormTooLarge) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if len(form.VisibleFields()) == 0 || !capture.ValidFormID(form.ID) {
			t.Fatalf("accepted a form with no visible field or a bad id")
		}
		for _, js := range []string{form.SuccessCallback, form.ErrorCallback} {
			if js != "" && formpage.CheckCallback(js) != nil {
				t.Fatalf("accepted a callback the page refuses")
			}
		}
		data, err := json.Marshal(form)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back capture.Form
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("the stored form does not decode: %v", err)
		}
		if back.ID != form.ID || len(back.Fields) != len(form.Fields) || back.SuccessCallback != form.SuccessCallback ||
			back.CSS != form.CSS || len(back.FrameAncestors) != len(form.FrameAncestors) {
			t.Fatalf("the stored form changed in a round trip")
		}
		rec := httptest.NewRecorder()
		back.ServePage(rec, httptest.NewRequest("GET", "/v1/capture/iframe/"+back.ID+"?unique_id=g&secret=s", nil), capture.PageOptions{})
		if rec.Code != http.StatusOK {
			t.Fatalf("an accepted form does not render: %d", rec.Code)
		}
		// The result page holds the callbacks as data: whatever their text,
		// it ends no element, and the data block gives them back exactly.
		rec = httptest.NewRecorder()
		back.ServePage(rec, httptest.NewRequest("GET", "/v1/capture/iframe/"+back.ID+"?view=result", nil), capture.PageOptions{})
		if rec.Code != http.StatusOK {
			t.Fatalf("an accepted form's result page does not render: %d", rec.Code)
		}
		html := rec.Body.String()
		if n := strings.Count(strings.ToLower(html), "</script"); n != 3 {
			t.Fatalf("the result page has %d script ends, want 3", n)
		}
		_, rest, _ := strings.Cut(html, `<script type="application/json" id="cv-callbacks">`)
		block, _, _ := strings.Cut(rest, "</script>")
		var got struct{ Success, Error string }
		if err := json.Unmarshal([]byte(block), &got); err != nil {
			t.Fatalf("the callbacks' block is not JSON: %v", err)
		}
		if got.Success != back.SuccessCallback || got.Error != back.ErrorCallback {
			t.Fatalf("the callbacks' block does not give the callbacks back")
		}
	})
}
