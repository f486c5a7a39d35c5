package formpage_test

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/capture/formpage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedNonce makes the golden files stable; a server uses NewNonce.
const fixedNonce = "dGVzdC1ub25jZS0wMDAx"

const seedCallback = "function(responseData, requestData) {\n" +
	"const reference = responseData.reference;\n" +
	"window.location.replace(`https://mywebsite.com/update/success?reference=${reference}`);\n}"

func goldenPages() map[string]formpage.Page {
	return map[string]formpage.Page{
		// The seed's configured form: only the CVV, a redirecting callback.
		"cvv_only": {
			Nonce: fixedNonce, Type: "pcd",
			Fields:          []formpage.Field{{Name: "cvv", Validate: true}},
			CaptureURL:      "/v1/capture/NjUDoEi3z8zFB33WEwSRg",
			SuccessCallback: seedCallback,
			FrameAncestors:  []string{"https://mywebsite.com"},
		},
		"card_full": {
			Nonce: fixedNonce, Type: "pcd",
			Fields: []formpage.Field{
				{Name: "card_number", Validate: true}, {Name: "card_holder", Validate: true},
				{Name: "expiry", Validate: true}, {Name: "cvv", Validate: true}, {Name: "reference", Validate: false},
			},
			CaptureURL:      "/v1/capture/abc",
			SuccessCallback: "(res, req) => console.log(res.token)",
			ErrorCallback:   "function (err, req) { console.log(err.code); }",
			CSS:             "#cv-submit { background: rebeccapurple; }",
			FrameAncestors:  []string{"'self'", "https:"},
		},
		"bank": {
			Nonce: fixedNonce, Type: "ach",
			Fields: []formpage.Field{
				{Name: "account_holder", Validate: true}, {Name: "routing_number", Validate: true},
				{Name: "account_number", Validate: true}, {Name: "account_type", Validate: true},
			},
			CaptureURL: "/v1/capture/bank%2Fid",
		},
		"expired": {
			Nonce: fixedNonce, Type: "pcd",
			Fields:          []formpage.Field{{Name: "cvv", Validate: true}},
			SuccessCallback: seedCallback,
			Notice:          "This form has expired. Ask for a new link.",
		},
	}
}

func TestRenderGolden(t *testing.T) {
	for name, p := range goldenPages() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, formpage.Render(&buf, &p))
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./capture/formpage -update to create the golden files")
			require.Equal(t, string(want), buf.String(), "the page changed: if on purpose, run go test ./capture/formpage -update and review the diff")
		})
	}
}

func TestRenderShowsOnlyTheGivenFields(t *testing.T) {
	p := goldenPages()["cvv_only"]
	var buf bytes.Buffer
	require.NoError(t, formpage.Render(&buf, &p))
	html := buf.String()
	require.Contains(t, html, `<label class="cv-label" for="cv-cvv">`)
	require.Contains(t, html, `id="cv-cvv"`)
	for _, id := range []string{"cv-card-number", "cv-card-holder", "cv-expiry", "cv-reference", "cv-card-brand"} {
		require.NotContains(t, html, `id="`+id+`"`)
	}
	// Every script and style element carries the nonce; nothing else runs.
	require.Equal(t, strings.Count(html, "<script"), strings.Count(html, `<script nonce="`+fixedNonce+`"`))
	require.Equal(t, strings.Count(html, "<style"), strings.Count(html, `<style nonce="`+fixedNonce+`"`))
	require.NotContains(t, html, " style=")
	require.NotRegexp(t, `<[^>]*\son[a-z]+=`, html, "no inline event handler")
}

func TestRenderNoticeHasNoFormAndNoScript(t *testing.T) {
	p := goldenPages()["expired"]
	var buf bytes.Buffer
	require.NoError(t, formpage.Render(&buf, &p))
	html := buf.String()
	require.Contains(t, html, `<p id="cv-notice" class="cv-notice" role="alert">This form has expired. Ask for a new link.</p>`)
	require.NotContains(t, html, "<form")
	require.NotContains(t, html, "<input")
	require.NotContains(t, html, "<script")
}

func TestRenderEscapes(t *testing.T) {
	p := formpage.Page{
		Nonce: fixedNonce, Type: "pcd",
		Fields:     []formpage.Field{{Name: "cvv", Validate: true}},
		CaptureURL: `/v1/capture/"><script>alert(1)</script>`,
	}
	var buf bytes.Buffer
	require.NoError(t, formpage.Render(&buf, &p))
	require.NotContains(t, buf.String(), `"><script>alert(1)`)
	require.Contains(t, buf.String(), `data-capture-url="/v1/capture/%22%3e%3cscript%3ealert%281%29%3c/script%3e"`)

	p.Fields, p.Notice = nil, "<b>gone</b>"
	buf.Reset()
	require.NoError(t, formpage.Render(&buf, &p))
	require.Contains(t, buf.String(), "&lt;b&gt;gone&lt;/b&gt;")
}

func TestRenderRefuses(t *testing.T) {
	good := func() formpage.Page {
		return formpage.Page{
			Nonce: fixedNonce, Type: "pcd",
			Fields:     []formpage.Field{{Name: "cvv", Validate: true}},
			CaptureURL: "/v1/capture/x",
		}
	}
	cases := map[string]func(p *formpage.Page){
		"short nonce":               func(p *formpage.Page) { p.Nonce = "abc" },
		"nonce with quote":          func(p *formpage.Page) { p.Nonce = "abcdefghijklmnop'" },
		"unknown type":              func(p *formpage.Page) { p.Type = "pan" },
		"unknown field":             func(p *formpage.Page) { p.Fields = []formpage.Field{{Name: "pan"}} },
		"field twice":               func(p *formpage.Page) { p.Fields = append(p.Fields, p.Fields[0]) },
		"no field":                  func(p *formpage.Page) { p.Fields = nil },
		"absolute capture URL":      func(p *formpage.Page) { p.CaptureURL = "https://evil.example/x" },
		"scheme-relative URL":       func(p *formpage.Page) { p.CaptureURL = "//evil.example/x" },
		"callback ends script":      func(p *formpage.Page) { p.SuccessCallback = "function(){}</SCRIPT><script>" },
		"callback opens comment":    func(p *formpage.Page) { p.ErrorCallback = "function(){ '<!--' }" },
		"callback invalid UTF-8":    func(p *formpage.Page) { p.SuccessCallback = "function(){ '\xff' }" },
		"css ends style":            func(p *formpage.Page) { p.CSS = "a{}</Style>" },
		"css NUL":                   func(p *formpage.Page) { p.CSS = "a{}\x00" },
		"callback only white space": func(p *formpage.Page) { p.SuccessCallback = " \n" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := good()
			mutate(&p)
			var buf bytes.Buffer
			err := formpage.Render(&buf, &p)
			require.ErrorIs(t, err, formpage.ErrInvalidPage)
			require.Zero(t, buf.Len(), "nothing is written for an invalid page")
		})
	}
}

func TestSetHeaders(t *testing.T) {
	p := goldenPages()["cvv_only"]
	h := http.Header{}
	require.NoError(t, p.SetHeaders(h))
	require.Equal(t, "default-src 'none'; script-src 'nonce-"+fixedNonce+"'; style-src 'nonce-"+fixedNonce+"'; "+
		"connect-src 'self'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; "+
		"frame-ancestors https://mywebsite.com", h.Get("Content-Security-Policy"))
	require.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	require.Equal(t, "no-store", h.Get("Cache-Control"))
	require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	require.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))

	p.FrameAncestors = nil
	csp, err := p.ContentSecurityPolicy()
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(csp, "frame-ancestors 'none'"), "no ancestors configured fails closed")

	for _, bad := range []string{"https://a.example; script-src *", "https://a.example, *", "", "a b"} {
		p.FrameAncestors = []string{bad}
		h := http.Header{}
		require.ErrorIs(t, p.SetHeaders(h), formpage.ErrInvalidPage, "%q", bad)
		require.Empty(t, h, "no header is set for a bad policy")
	}
}

func TestNewNonce(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n := formpage.NewNonce()
		require.Len(t, n, 22)
		require.False(t, seen[n])
		seen[n] = true
		p := formpage.Page{Nonce: n}
		_, err := p.ContentSecurityPolicy()
		require.NoError(t, err)
	}
}

func TestCheckCallback(t *testing.T) {
	ok := []string{
		seedCallback,
		"(r) => { if (a < b && c > d) {} }",
		"function(){ var s = '</scrip' + 't>'; }",
		"function(){ /* <script> alone is harmless */ }",
		"function(){ '\u212a' }", // Kelvin sign: not an ASCII K
	}
	for _, js := range ok {
		require.NoError(t, formpage.CheckCallback(js), "%q", js)
	}
	bad := []string{"</script>", "a </ScRiPt", "<!-- x", "\xc3", "a\x00b", "", "\t"}
	for _, js := range bad {
		err := formpage.CheckCallback(js)
		require.Error(t, err, "%q", js)
	}
	require.NotContains(t, formpage.CheckCallback("secret</script>").Error(), "secret", "the message never quotes the callback")
}

func TestCheckCSS(t *testing.T) {
	require.NoError(t, formpage.CheckCSS("#cv-cvv { color: red } /* <!-- is fine in CSS */"))
	require.Error(t, formpage.CheckCSS("a{}</STYLE"))
	require.Error(t, formpage.CheckCSS("\xff"))
}

func TestKnownField(t *testing.T) {
	for _, f := range []string{"card_number", "card_holder", "expiry", "cvv", "reference",
		"account_holder", "routing_number", "account_number", "account_type"} {
		require.True(t, formpage.KnownField(f), f)
	}
	require.False(t, formpage.KnownField("card_expiry"))
}
