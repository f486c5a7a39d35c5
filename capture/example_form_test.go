package capture_test

import (
	"encoding/base64"
	"fmt"
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
