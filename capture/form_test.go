package capture_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/internal/testkit"
)

var created = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// seedCallback is the success callback of the seed's configured form.
const seedCallback = "function(responseData, requestData) {\n" +
	"const reference = responseData.reference;\n" +
	"window.location.replace(`https://mywebsite.com/update/success?reference=${reference}`);\n}"

// seedBody is the body the seed's Python sends to create the CVV-only form.
func seedBody() string {
	return `{"success_callback": "` + b64(seedCallback) + `", "field_options": {"reference": {"visible": false}, ` +
		`"card_holder": {"visible": false}, "expiry": {"visible": false}, "card_number": {"visible": false}}}`
}

func TestParseFormSeed(t *testing.T) {
	f, err := capture.ParseForm("pcd", []byte(seedBody()), created)
	require.NoError(t, err)
	require.Equal(t, capture.FormCard, f.Type)
	require.Equal(t, []string{"cvv"}, f.VisibleFields())
	require.Equal(t, seedCallback, f.SuccessCallback)
	require.Empty(t, f.ErrorCallback)
	require.Nil(t, f.FrameAncestors)
	require.True(t, capture.ValidFormID(f.ID), f.ID)
	require.Equal(t, created, f.CreatedAt)
	for _, o := range f.Fields {
		require.True(t, o.Validate, "validate is on by default: %s", o.Name)
	}
}

func TestParseFormDefaults(t *testing.T) {
	cases := []struct {
		typ     string
		body    string
		visible []string
		all     []string
	}{
		{"pcd", ``, []string{"card_number", "card_holder", "expiry", "cvv"},
			[]string{"card_number", "card_holder", "expiry", "cvv", "reference"}},
		{"pcd", `{}`, []string{"card_number", "card_holder", "expiry", "cvv"}, nil},
		{"pcd", `{"field_options": {"reference": {"visible": true}}}`,
			[]string{"card_number", "card_holder", "expiry", "cvv", "reference"}, nil},
		{"ach", ``, []string{"account_holder", "routing_number", "account_number", "account_type"},
			[]string{"account_holder", "routing_number", "account_number", "account_type", "reference"}},
		{"custom", `{"field_options": {"cvv": {"visible": true}, "account_type": {"visible": true}}}`,
			[]string{"cvv", "account_type"},
			[]string{"card_number", "card_holder", "expiry", "cvv", "account_holder", "routing_number",
				"account_number", "account_type", "reference"}},
		{"pcd", `{"field_options": null, "success_callback": null, "error_callback": "", "embedded_css": null, "frame_ancestors": null}`,
			[]string{"card_number", "card_holder", "expiry", "cvv"}, nil},
	}
	for _, c := range cases {
		t.Run(c.typ+" "+c.body, func(t *testing.T) {
			f, err := capture.ParseForm(c.typ, []byte(c.body), created)
			require.NoError(t, err)
			require.Equal(t, c.visible, f.VisibleFields())
			if c.all != nil {
				var names []string
				for _, o := range f.Fields {
					names = append(names, o.Name)
				}
				require.Equal(t, c.all, names)
			}
		})
	}
}

func TestParseFormOptions(t *testing.T) {
	body := `{
		"field_options": {"card_number": {"validate": false}, "expiry": {"visible": false, "validate": true}},
		"success_callback": "` + strings.TrimRight(b64("(r) => r"), "=") + `",
		"error_callback": "` + b64("function (e) { console.log(e.code) }") + `",
		"embedded_css": "` + b64("#cv-cvv { color: red }") + `",
		"frame_ancestors": ["https://Shop.Example", "https://shop.example:443", "http://localhost:3000", "http://127.0.0.1:8080", "'self'"]
	}`
	f, err := capture.ParseForm("pcd", []byte(body), created)
	require.NoError(t, err)
	require.Equal(t, []string{"card_number", "card_holder", "cvv"}, f.VisibleFields())
	require.Equal(t, capture.FieldOption{Name: "card_number", Visible: true, Validate: false}, f.Fields[0])
	require.Equal(t, capture.FieldOption{Name: "expiry", Visible: false, Validate: true}, f.Fields[2])
	require.Equal(t, "(r) => r", f.SuccessCallback, "unpadded base64 is accepted")
	require.Equal(t, "function (e) { console.log(e.code) }", f.ErrorCallback)
	require.Equal(t, "#cv-cvv { color: red }", f.CSS)
	require.Equal(t, []string{"https://shop.example", "http://localhost:3000", "http://127.0.0.1:8080", "'self'"}, f.FrameAncestors,
		"origins are lower-cased, the default port dropped, duplicates removed")
}

// A callback is data, never part of a script: text that would end a
// script element or start a comment is kept as it is.
func TestParseFormKeepsAnyCallbackText(t *testing.T) {
	for _, js := range []string{
		"function(){ return '</script><script>alert(1)</script>'; }",
		"function(){ '<!--' }",
		"0);window.__pwned=1;document.title='pwned';(0",
	} {
		f, err := capture.ParseForm("pcd", []byte(`{"success_callback": "`+b64(js)+`", "error_callback": "`+b64(js)+`"}`), created)
		require.NoError(t, err, "%q", js)
		require.Equal(t, js, f.SuccessCallback)
		require.Equal(t, js, f.ErrorCallback)
	}
}

func TestParseFormRefuses(t *testing.T) {
	cases := []struct {
		name, typ, body string
		fields          []string // every bad field, in order
	}{
		{"unknown type", "pan", `{}`, []string{"form_type"}},
		{"unknown type still checks the body", "", `{"colour": 1}`, []string{"form_type", "/colour"}},
		{"not an object", "pcd", `[]`, []string{"body"}},
		{"not JSON", "pcd", `{"a":`, []string{"/a"}},
		{"not JSON at the root", "pcd", `nope`, []string{"body"}},
		{"duplicate key", "pcd", `{"field_options": {}, "field_options": {}}`, []string{"body"}},
		{"too deep", "pcd", `{"field_options": {"cvv": {"visible": [true]}}}`, []string{"/field_options/cvv/visible"}},
		{"unknown member", "pcd", `{"field_option": {"card_number": {"visible": false}}}`, []string{"/field_option"}},
		{"bank field on a card form", "pcd", `{"field_options": {"account_number": {"visible": true}}}`, []string{"/field_options/account_number"}},
		{"card field on a bank form", "ach", `{"field_options": {"cvv": {"visible": true}}}`, []string{"/field_options/cvv"}},
		{"card_expiry is not a form field", "pcd", `{"field_options": {"card_expiry": {}}}`, []string{"/field_options/card_expiry"}},
		{"option not an object", "pcd", `{"field_options": {"cvv": true}}`, []string{"/field_options/cvv"}},
		{"option not a bool", "pcd", `{"field_options": {"cvv": {"visible": "yes", "validate": null}}}`,
			[]string{"/field_options/cvv/validate", "/field_options/cvv/visible"}},
		{"unknown option", "pcd", `{"field_options": {"cvv": {"required": true}}}`, []string{"/field_options/cvv/required"}},
		{"field_options not an object", "pcd", `{"field_options": []}`, []string{"/field_options"}},
		{"nothing visible", "pcd", `{"field_options": {"card_number": {"visible": false}, "card_holder": {"visible": false}, "expiry": {"visible": false}, "cvv": {"visible": false}}}`,
			[]string{"/field_options"}},
		{"custom shows nothing by default", "custom", `{}`, []string{"/field_options"}},
		{"callback not a string", "pcd", `{"success_callback": 1}`, []string{"/success_callback"}},
		{"callback not base64", "pcd", `{"success_callback": "not base64!"}`, []string{"/success_callback"}},
		{"callback url-safe base64", "pcd", `{"success_callback": "` + strings.NewReplacer("+", "-", "/", "_").Replace(b64("(r)=>{r>>>0;}???")) + `"}`,
			[]string{"/success_callback"}},
		{"callback non-zero trailing bits", "pcd", `{"success_callback": "YR=="}`, []string{"/success_callback"}},
		{"callback invalid UTF-8", "pcd", `{"error_callback": "` + b64("f\xff") + `"}`, []string{"/error_callback"}},
		{"callback not UTF-8", "pcd", `{"success_callback": "` + b64("function(){ '\xff' }") + `"}`, []string{"/success_callback"}},
		{"callback with a NUL", "pcd", `{"error_callback": "` + b64("function(){}\x00") + `"}`, []string{"/error_callback"}},
		{"callback blank", "pcd", `{"error_callback": "` + b64(" \n\t") + `"}`, []string{"/error_callback"}},
		{"callback too long", "pcd", `{"success_callback": "` + b64(strings.Repeat("x", capture.MaxCallback+1)) + `"}`, []string{"/success_callback"}},
		{"callback blank", "pcd", `{"success_callback": "` + b64("  \n") + `"}`, []string{"/success_callback"}},
		{"css ends the style", "pcd", `{"embedded_css": "` + b64("a{}</STYLE>") + `"}`, []string{"/embedded_css"}},
		{"css too long", "pcd", `{"embedded_css": "` + b64(strings.Repeat("a", capture.MaxCSS+1)) + `"}`, []string{"/embedded_css"}},
		{"frame_ancestors not a list", "pcd", `{"frame_ancestors": "https://a.example"}`, []string{"/frame_ancestors"}},
		{"frame_ancestors empty", "pcd", `{"frame_ancestors": []}`, []string{"/frame_ancestors"}},
		{"frame_ancestors too many", "pcd", `{"frame_ancestors": [` + strings.TrimSuffix(strings.Repeat(`"https://a.example",`, capture.MaxFrameAncestors+1), ",") + `]}`,
			[]string{"/frame_ancestors"}},
		{"bad frame ancestors", "pcd", `{"frame_ancestors": [
			"https://a.example/path", "http://shop.example", "ftp://a.example", "https://a.example:0", "https://a.example:99999",
			"https://", "*", "https://*.a.example", "https://[::1]"]}`,
			[]string{"/frame_ancestors/0", "/frame_ancestors/1", "/frame_ancestors/2", "/frame_ancestors/3", "/frame_ancestors/4",
				"/frame_ancestors/5", "/frame_ancestors/6", "/frame_ancestors/7", "/frame_ancestors/8"}},
		{"more bad frame ancestors", "pcd", `{"frame_ancestors": [
			"https://a..example", "https://-a.example", "https://user@a.example", "https://a.example;script-src *",
			"https://a.example?x", "https://a.example#x", "'unsafe-inline'", 7, "https://a.example:08"]}`,
			[]string{"/frame_ancestors/0", "/frame_ancestors/1", "/frame_ancestors/2", "/frame_ancestors/3", "/frame_ancestors/4",
				"/frame_ancestors/5", "/frame_ancestors/6", "/frame_ancestors/7", "/frame_ancestors/8"}},
		{"'none' with others", "pcd", `{"frame_ancestors": ["'none'", "https://a.example"]}`, []string{"/frame_ancestors"}},
		{"every fault at once", "pcd", `{"field_options": {"pan": {}}, "success_callback": "!", "embedded_css": 3, "x": 1}`,
			[]string{"/embedded_css", "/field_options/pan", "/success_callback", "/x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := capture.ParseForm(c.typ, []byte(c.body), created)
			require.ErrorIs(t, err, capture.ErrInvalidForm)
			require.Equal(t, c.fields, testkit.InvalidFields(t, err), "%v", err)
			require.True(t, strings.HasPrefix(err.Error(), "capture: invalid form: "), err.Error())
		})
	}
}

func TestParseFormTooLarge(t *testing.T) {
	body := `{"embedded_css": "` + strings.Repeat("A", capture.MaxFormRequest) + `"}`
	_, err := capture.ParseForm("pcd", []byte(body), created)
	require.ErrorIs(t, err, capture.ErrFormTooLarge)
	require.ErrorIs(t, err, cardvault.ErrTooLarge)
	require.NotErrorIs(t, err, cardvault.ErrInvalid)
}

func TestParseFormErrorsDoNotQuoteValues(t *testing.T) {
	// A callback is not secret, but messages follow one rule for every
	// value: name the field, never echo the input.
	const marker = "MARKER0123456789"
	body := `{"success_callback": "` + b64("function(){ '"+marker+"' }\x00") + `", "frame_ancestors": ["https://` + marker + `.example/x"]}`
	_, err := capture.ParseForm("pcd", []byte(body), created)
	require.Error(t, err)
	require.NotContains(t, strings.ToLower(err.Error()), strings.ToLower(marker))
}

func TestFormJSONRoundTrip(t *testing.T) {
	body := `{"field_options": {"reference": {"visible": true, "validate": false}}, "success_callback": "` + b64(seedCallback) +
		`", "embedded_css": "` + b64("body{}") + `", "frame_ancestors": ["https://shop.example"]}`
	f, err := capture.ParseForm("pcd", []byte(body), created)
	require.NoError(t, err)
	data, err := json.Marshal(f)
	require.NoError(t, err)

	var back capture.Form
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, f, back)

	// A record that a bug or an attacker with write access damaged does not
	// reach the page.
	var rec map[string]any
	require.NoError(t, json.Unmarshal(data, &rec))
	damage := map[string]func(m map[string]any){
		"version":         func(m map[string]any) { m["v"] = 2 },
		"id":              func(m map[string]any) { m["id"] = "short" },
		"type":            func(m map[string]any) { m["type"] = "pan" },
		"callback":        func(m map[string]any) { m["success_callback"] = "function(){}\x00" },
		"css":             func(m map[string]any) { m["css"] = "</style>" },
		"unknown field":   func(m map[string]any) { m["fields"].(map[string]any)["pan"] = map[string]any{"visible": true} },
		"missing field":   func(m map[string]any) { delete(m["fields"].(map[string]any), "cvv") },
		"frame ancestor":  func(m map[string]any) { m["frame_ancestors"] = []any{"https://a.example; script-src *"} },
		"unknown member":  func(m map[string]any) { m["extra"] = true },
		"callback length": func(m map[string]any) { m["error_callback"] = strings.Repeat("x", capture.MaxCallback+1) },
	}
	for name, mutate := range damage {
		t.Run(name, func(t *testing.T) {
			m := testkit.Object(t, data)
			mutate(m)
			bad, err := json.Marshal(m)
			require.NoError(t, err)
			var got capture.Form
			require.ErrorIs(t, json.Unmarshal(bad, &got), capture.ErrInvalidForm)
			require.Empty(t, got.ID, "nothing is decoded from a bad record")
		})
	}
}

func TestNewFormID(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		id := capture.NewFormID()
		require.True(t, capture.ValidFormID(id), id)
		require.False(t, seen[id])
		seen[id] = true
		for _, r := range id {
			counts[r]++
		}
	}
	// 44,000 characters over 58 symbols: each appears ~759 times. A
	// modulo bias or a stuck symbol would show far outside this band.
	require.Len(t, counts, 58)
	for r, n := range counts {
		require.True(t, n > 550 && n < 1000, "symbol %q appeared %d times", r, n)
	}
	require.True(t, capture.ValidFormID("MmRMVP4UjYD8g5kVUcmx4Z"), "the seed's id")
	for _, bad := range []string{"", "MmRMVP4UjYD8g5kVUcmx4", "MmRMVP4UjYD8g5kVUcmx4Z1", "0mRMVP4UjYD8g5kVUcmx4Z", "MmRMVP4UjYD8g5kVUcmx/Z"} {
		require.False(t, capture.ValidFormID(bad), bad)
	}
}

func seedForm(t *testing.T) capture.Form {
	t.Helper()
	f, err := capture.ParseForm("pcd", []byte(seedBody()), created)
	require.NoError(t, err)
	return f
}

func TestServePage(t *testing.T) {
	f := seedForm(t)
	const link = "/v1/capture/iframe/MmRMVP4UjYD8g5kVUcmx4Z"
	const query = "?unique_id=NjUDoEi3z8zFB33WEwSRg&secret=S2TRYkjufkfwf8oItW2G_j1HcZ1ftMvURZwZJlbzb2BylPEPo8536sqdkO6J9i3x"
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	serve := func(method, target string, opt capture.PageOptions) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		f.ServePage(rec, httptest.NewRequest(method, target, nil), opt)
		return rec
	}
	nonceOf := func(t *testing.T, csp string) string {
		_, rest, ok := strings.Cut(csp, "script-src 'nonce-")
		require.True(t, ok, csp)
		nonce, _, _ := strings.Cut(rest, "'")
		return nonce
	}

	t.Run("form", func(t *testing.T) {
		rec := serve("GET", link+query, capture.PageOptions{GrantExpiresAt: now.Add(time.Minute), Now: now})
		require.Equal(t, http.StatusOK, rec.Code)
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		nonce := nonceOf(t, csp)
		require.Len(t, nonce, 22)
		require.Equal(t, "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; connect-src 'self'; "+
			"img-src data:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self' https:", csp)
		require.NotContains(t, csp, "'unsafe-eval'", "no eval while card fields exist")
		require.NotContains(t, csp, "'unsafe-inline'")
		require.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
		require.Equal(t, "no-store", h.Get("Cache-Control"))
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
		require.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))

		html := rec.Body.String()
		require.Contains(t, html, `data-capture-url="/v1/capture/NjUDoEi3z8zFB33WEwSRg"`)
		require.Contains(t, html, `id="cv-cvv"`)
		require.NotContains(t, html, `id="cv-card-number"`)
		require.Contains(t, html, `data-result-url="?view=result" data-success-callback>`)
		require.NotContains(t, html, "mywebsite.com/update/success", "the card page does not hold the callback's code")
		require.Equal(t, 2, strings.Count(html, "<script"), "cardvault's two scripts, nothing else")
		require.False(t, strings.Contains(html, "S2TRYkjufkfwf8oItW2G"), "the secret never goes into the HTML")

		again := serve("GET", link+query, capture.PageOptions{})
		require.NotEqual(t, nonce, nonceOf(t, again.Header().Get("Content-Security-Policy")), "a fresh nonce per response")
	})
	t.Run("result page", func(t *testing.T) {
		// What the card page navigates to: ?view=result, relative to its own
		// link. The grant does not matter, and a closed one changes nothing.
		rec := serve("GET", link+"?view=result", capture.PageOptions{GrantClosed: true})
		require.Equal(t, http.StatusOK, rec.Code)
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		nonce := nonceOf(t, csp)
		require.Equal(t, "sandbox allow-scripts; default-src 'none'; script-src 'nonce-"+nonce+"' 'unsafe-eval'; worker-src blob:; "+
			"style-src 'nonce-"+nonce+"'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self' https:", csp)
		require.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
		require.Equal(t, "no-store", h.Get("Cache-Control"))
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
		html := rec.Body.String()
		require.Contains(t, html, `<script type="application/json" id="cv-callbacks">{"success":"function(responseData, requestData) {\nconst reference`)
		for _, s := range []string{"<input", "<select", "<form", "data-capture-url"} {
			require.NotContains(t, html, s)
		}

		head := serve("HEAD", link+"?view=result", capture.PageOptions{})
		require.Equal(t, http.StatusOK, head.Code)
		require.Zero(t, head.Body.Len())
		require.Equal(t, rec.Header().Get("Content-Length"), head.Header().Get("Content-Length"))
		require.Equal(t, http.StatusMethodNotAllowed, serve("POST", link+"?view=result", capture.PageOptions{}).Code)
	})
	t.Run("capture path and escaping", func(t *testing.T) {
		rec := serve("GET", link+"?unique_id=a%2Fb%20c&secret=s", capture.PageOptions{CapturePath: "/vault/capture/"})
		require.Equal(t, http.StatusOK, rec.Code)
		require.Contains(t, rec.Body.String(), `data-capture-url="/vault/capture/a%2Fb%20c"`)
	})
	t.Run("frame ancestors", func(t *testing.T) {
		g := f
		g.FrameAncestors = []string{"https://shop.example", "http://localhost:3000"}
		rec := httptest.NewRecorder()
		g.ServePage(rec, httptest.NewRequest("GET", link+query, nil), capture.PageOptions{})
		require.True(t, strings.HasSuffix(rec.Header().Get("Content-Security-Policy"),
			"; frame-ancestors https://shop.example http://localhost:3000"))
	})
	for name, opt := range map[string]capture.PageOptions{
		"expired":        {GrantExpiresAt: now, Now: now},
		"long expired":   {GrantExpiresAt: now.Add(-time.Hour), Now: now},
		"closed":         {GrantClosed: true},
		"closed, future": {GrantClosed: true, GrantExpiresAt: now.Add(time.Hour), Now: now},
	} {
		t.Run(name, func(t *testing.T) {
			rec := serve("GET", link+query, opt)
			require.Equal(t, http.StatusGone, rec.Code)
			html := rec.Body.String()
			require.Contains(t, html, "This form has expired.")
			require.NotContains(t, html, "<form")
			require.NotContains(t, html, "<input")
			require.NotContains(t, html, "<script")
			require.NotEmpty(t, rec.Header().Get("Content-Security-Policy"))
			require.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
		})
	}
	for name, target := range map[string]string{
		"no secret":    link + "?unique_id=NjUDoEi3z8zFB33WEwSRg",
		"no unique_id": link + "?secret=x",
		"nothing":      link,
		"huge id":      link + "?secret=x&unique_id=" + strings.Repeat("a", 300),
	} {
		t.Run(name, func(t *testing.T) {
			rec := serve("GET", target, capture.PageOptions{})
			require.Equal(t, http.StatusBadRequest, rec.Code)
			require.Contains(t, rec.Body.String(), "This form link is incomplete")
			require.NotContains(t, rec.Body.String(), "<input")
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		get := serve("GET", link+query, capture.PageOptions{})
		head := serve("HEAD", link+query, capture.PageOptions{})
		require.Equal(t, http.StatusOK, head.Code)
		require.Zero(t, head.Body.Len())
		require.Equal(t, get.Header().Get("Content-Length"), head.Header().Get("Content-Length"))
	})
	t.Run("POST", func(t *testing.T) {
		rec := serve("POST", link+query, capture.PageOptions{})
		require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		require.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
		require.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
	})
	t.Run("damaged form", func(t *testing.T) {
		g := f
		g.SuccessCallback = "function(){ '\xff' }" // only reachable by building a Form by hand
		for _, target := range []string{link + query, link + "?view=result"} {
			rec := httptest.NewRecorder()
			g.ServePage(rec, httptest.NewRequest("GET", target, nil), capture.PageOptions{})
			require.Equal(t, http.StatusInternalServerError, rec.Code, target)
			require.NotContains(t, rec.Body.String(), "<input")
			require.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
		}
	})
}
