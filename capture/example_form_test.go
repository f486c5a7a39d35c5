package capture_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/cardvault/cardvault/capture"
)

// The seed's configured hosted form: every field hidden but the CVV, and a
// success callback that sends the visitor on with the stored reference.
func ExampleParseForm() {
	callback := "function(responseData, requestData) {\n" +
		"const reference = responseData.reference;\n" +
		"window.location.replace(`https://mywebsite.com/update/success?reference=${reference}`);\n}"
	// What POST /v1/capture/iframe?form_type=pcd receives.
	body := `{"success_callback": "` + base64.StdEncoding.EncodeToString([]byte(callback)) + `", ` +
		`"field_options": {"reference": {"visible": false}, "card_holder": {"visible": false}, ` +
		`"expiry": {"visible": false}, "card_number": {"visible": false}}}`

	form, err := capture.ParseForm("pcd", []byte(body), time.Now())
	if err != nil {
		panic(err)
	}
	fmt.Println(form.Type, form.VisibleFields(), capture.ValidFormID(form.ID))

	// The server keeps the form, and serves its link with a grant's id and
	// secret in the query string.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v1/capture/iframe/"+form.ID+
		"?unique_id=NjUDoEi3z8zFB33WEwSRg&secret=S2TRYkjufkfwf8oItW2G_j1HcZ1ftMvURZwZJlbzb2BylPEPo8536sqdkO6J9i3x", nil)
	form.ServePage(rec, req, capture.PageOptions{GrantExpiresAt: time.Now().Add(10 * time.Minute)})
	page := rec.Body.String()
	fmt.Println(rec.Code, rec.Header().Get("Referrer-Policy"), rec.Header().Get("Cache-Control"))
	fmt.Println(strings.Contains(page, `id="cv-cvv"`), strings.Contains(page, `id="cv-card-number"`))
	fmt.Println(strings.Contains(page, `data-capture-url="/v1/capture/NjUDoEi3z8zFB33WEwSRg"`))
	// Output:
	// pcd [cvv] true
	// 200 no-referrer no-store
	// true false
	// true
}

// How a server answers GET /v1/capture/iframe/{id}?unique_id=&secret=: it
// loads the form, looks the grant up to tell the page what it knows about
// it, and lets ServePage write the page and its headers.
func ExampleForm_ServePage() {
	form, err := capture.ParseForm("pcd", nil, time.Now())
	if err != nil {
		panic(err)
	}
	forms := map[string]capture.Form{form.ID: form}
	// What the server's grant store says: grant id → expiry.
	grants := map[string]time.Time{
		"live-grant":    time.Now().Add(time.Hour),
		"expired-grant": time.Now().Add(-time.Minute),
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/capture/iframe/{id}", func(w http.ResponseWriter, r *http.Request) {
		f, ok := forms[r.PathValue("id")]
		if !capture.ValidFormID(r.PathValue("id")) || !ok {
			http.NotFound(w, r)
			return
		}
		expiresAt, known := grants[r.URL.Query().Get("unique_id")]
		f.ServePage(w, r, capture.PageOptions{GrantExpiresAt: expiresAt, GrantClosed: !known})
	})

	for _, grant := range []string{"live-grant", "expired-grant", "deleted-grant"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/capture/iframe/"+form.ID+"?unique_id="+grant+"&secret=s3cret", nil))
		fmt.Println(grant, rec.Code, strings.Contains(rec.Body.String(), `<p id="cv-notice"`))
	}
	// Output:
	// live-grant 200 false
	// expired-grant 410 true
	// deleted-grant 410 true
}
