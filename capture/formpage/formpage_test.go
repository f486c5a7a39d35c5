package formpage_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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
			Fields:             []formpage.Field{{Name: "cvv", Validate: true}},
			CaptureURL:         "/v1/capture/NjUDoEi3z8zFB33WEwSRg",
			ResultURL:          "?view=result",
			HasSuccessCallback: true,
			FrameAncestors:     []string{"https://mywebsite.com"},
		},
		"card_full": {
			Nonce: fixedNonce, Type: "pcd",
			Fields: []formpage.Field{
				{Name: "card_number", Validate: true}, {Name: "card_holder", Validate: true},
				{Name: "expiry", Validate: true}, {Name: "cvv", Validate: true}, {Name: "reference", Validate: false},
			},
			CaptureURL:         "/v1/capture/abc",
			ResultURL:          "?view=result",
			HasSuccessCallback: true,
			HasErrorCallback:   true,
			CSS:                "#cv-submit { background: rebeccapurple; }",
			FrameAncestors:     []string{"'self'", "https:"},
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
			Fields:             []formpage.Field{{Name: "cvv", Validate: true}},
			HasSuccessCallback: true,
			Notice:             "This form has expired. Ask for a new link.",
		},
	}
}

// hostileCallback is the review's load-time callback: on the old page,
// spliced into a script as "(" + callback + ")", it ran as the page loaded.
const hostileCallback = "0);window.__pwned=1;document.title='pwned';(0"

func goldenResultPages() map[string]formpage.ResultPage {
	return map[string]formpage.ResultPage{
		"result_seed": {
			Nonce: fixedNonce, Type: "pcd",
			SuccessCallback: seedCallback,
			FrameAncestors:  []string{"https://mywebsite.com"},
		},
		// Text that would have ended the old page's script element, and
		// the review's load-time callback: data, escaped.
		"result_hostile": {
			Nonce: fixedNonce, Type: "custom",
			SuccessCallback: hostileCallback,
			ErrorCallback:   "function(){ '</script><script>alert(1)</script><!--' }",
			CSS:             "#cv-status { color: teal; }",
		},
	}
}

func TestRenderGolden(t *testing.T) {
	check := func(t *testing.T, name string, got []byte) {
		golden := filepath.Join("testdata", name+".golden")
		if *update {
			require.NoError(t, os.WriteFile(golden, got, 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run go test ./capture/formpage -update to create the golden files")
		require.Equal(t, string(want), string(got), "the page changed: if on purpose, run go test ./capture/formpage -update and review the diff")
	}
	for name, p := range goldenPages() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, formpage.Render(&buf, &p))
			check(t, name, buf.Bytes())
		})
	}
	for name, p := range goldenResultPages() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, formpage.RenderResult(&buf, &p))
			check(t, name, buf.Bytes())
		})
	}
}

// scriptElements returns the script start tags of a page.
func scriptElements(html string) []string {
	return regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1)
}

func TestCardPageHoldsNoCallback(t *testing.T) {
	p := goldenPages()["card_full"]
	var buf bytes.Buffer
	require.NoError(t, formpage.Render(&buf, &p))
	html := buf.String()
	require.Contains(t, html, `data-result-url="?view=result" data-success-callback data-error-callback>`)
	require.Equal(t, []string{
		`<script nonce="` + fixedNonce + `" id="cv-messages">`,
		`<script nonce="` + fixedNonce + `" id="cv-script">`,
	}, scriptElements(html), "only cardvault's own scripts")
	require.NotContains(t, html, "cardvaultForm", "no callback hook")

	p.HasSuccessCallback, p.HasErrorCallback = false, false
	buf.Reset()
	require.NoError(t, formpage.Render(&buf, &p))
	require.Contains(t, buf.String(), `<form id="cv-form" class="cv-form" novalidate data-capture-url="/v1/capture/abc">`,
		"no callback: no hand-over")
}

func TestRenderResultKeepsCallbacksAsData(t *testing.T) {
	p := goldenResultPages()["result_hostile"]
	var buf bytes.Buffer
	require.NoError(t, formpage.RenderResult(&buf, &p))
	html := buf.String()
	require.Equal(t, []string{
		`<script type="application/json" id="cv-callbacks">`,
		`<script nonce="` + fixedNonce + `" id="cv-messages">`,
		`<script nonce="` + fixedNonce + `" id="cv-result-script">`,
	}, scriptElements(html), "the callbacks' block has no nonce: it is data")
	require.Equal(t, 3, strings.Count(html, "</script>"), "three elements end where they should: the text of a callback ends none")
	require.NotContains(t, html, "<input")
	require.NotContains(t, html, "<form")
	require.NotContains(t, html, "<!--")

	// The block parses back to exactly the callbacks.
	_, rest, _ := strings.Cut(html, `<script type="application/json" id="cv-callbacks">`)
	block, _, _ := strings.Cut(rest, "</script>")
	var got map[string]string
	require.NoError(t, json.Unmarshal([]byte(block), &got))
	require.Equal(t, map[string]string{"success": p.SuccessCallback, "error": p.ErrorCallback}, got)

	p.SuccessCallback, p.ErrorCallback = "", ""
	buf.Reset()
	require.NoError(t, formpage.RenderResult(&buf, &p))
	require.Contains(t, buf.String(), `<script type="application/json" id="cv-callbacks">{}</script>`)
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
		"short nonce":             func(p *formpage.Page) { p.Nonce = "abc" },
		"nonce with quote":        func(p *formpage.Page) { p.Nonce = "abcdefghijklmnop'" },
		"unknown type":            func(p *formpage.Page) { p.Type = "pan" },
		"unknown field":           func(p *formpage.Page) { p.Fields = []formpage.Field{{Name: "pan"}} },
		"field twice":             func(p *formpage.Page) { p.Fields = append(p.Fields, p.Fields[0]) },
		"no field":                func(p *formpage.Page) { p.Fields = nil },
		"absolute capture URL":    func(p *formpage.Page) { p.CaptureURL = "https://evil.example/x" },
		"scheme-relative URL":     func(p *formpage.Page) { p.CaptureURL = "//evil.example/x" },
		"backslash capture URL":   func(p *formpage.Page) { p.CaptureURL = `/\evil.example/x` },
		"callback, no result URL": func(p *formpage.Page) { p.HasSuccessCallback = true },
		"absolute result URL":     func(p *formpage.Page) { p.HasErrorCallback, p.ResultURL = true, "https://evil.example/r" },
		"backslash result URL":    func(p *formpage.Page) { p.HasErrorCallback, p.ResultURL = true, `/\evil.example/r` },
		"css ends style":          func(p *formpage.Page) { p.CSS = "a{}</Style>" },
		"css NUL":                 func(p *formpage.Page) { p.CSS = "a{}\x00" },
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

func TestRenderResultRefuses(t *testing.T) {
	cases := map[string]func(p *formpage.ResultPage){
		"short nonce":               func(p *formpage.ResultPage) { p.Nonce = "abc" },
		"unknown type":              func(p *formpage.ResultPage) { p.Type = "pan" },
		"callback invalid UTF-8":    func(p *formpage.ResultPage) { p.SuccessCallback = "function(){ '\xff' }" },
		"callback NUL":              func(p *formpage.ResultPage) { p.ErrorCallback = "function(){}\x00" },
		"callback only white space": func(p *formpage.ResultPage) { p.SuccessCallback = " \n" },
		"css ends style":            func(p *formpage.ResultPage) { p.CSS = "a{}</STYLE>" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := goldenResultPages()["result_seed"]
			mutate(&p)
			var buf bytes.Buffer
			require.ErrorIs(t, formpage.RenderResult(&buf, &p), formpage.ErrInvalidPage)
			require.Zero(t, buf.Len(), "nothing is written for an invalid page")
		})
	}
}

// requirePageHeaders checks the headers both pages have besides their
// policy.
func requirePageHeaders(t *testing.T, h http.Header) {
	t.Helper()
	require.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	require.Equal(t, "no-store", h.Get("Cache-Control"))
	require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	require.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
}

func TestSetHeaders(t *testing.T) {
	p := goldenPages()["cvv_only"]
	h := http.Header{}
	require.NoError(t, p.SetHeaders(h))
	require.Equal(t, "default-src 'none'; script-src 'nonce-"+fixedNonce+"'; style-src 'nonce-"+fixedNonce+"'; "+
		"connect-src 'self'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; "+
		"frame-ancestors https://mywebsite.com", h.Get("Content-Security-Policy"))
	requirePageHeaders(t, h)

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

// The card page's policy never allows inline or eval'd code, whatever the
// form; the result page's is sandboxed, connects nowhere, and allows eval
// only with its blob: worker.
func TestPolicies(t *testing.T) {
	for name, p := range goldenPages() {
		csp, err := p.ContentSecurityPolicy()
		require.NoError(t, err)
		require.NotContains(t, csp, "unsafe-", name)
		require.NotContains(t, csp, "sandbox", name)
	}
	p := goldenResultPages()["result_seed"]
	h := http.Header{}
	require.NoError(t, p.SetHeaders(h))
	require.Equal(t, "sandbox allow-scripts; default-src 'none'; script-src 'nonce-"+fixedNonce+"' 'unsafe-eval'; worker-src blob:; "+
		"style-src 'nonce-"+fixedNonce+"'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; "+
		"frame-ancestors https://mywebsite.com", h.Get("Content-Security-Policy"))
	requirePageHeaders(t, h)

	p.FrameAncestors = nil
	csp, err := p.ContentSecurityPolicy()
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(csp, "frame-ancestors 'none'"))
	p.FrameAncestors = []string{"https://a.example; script-src *"}
	h = http.Header{}
	require.ErrorIs(t, p.SetHeaders(h), formpage.ErrInvalidPage)
	require.Empty(t, h)
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
	// Only text is checked: a callback is data on the result page, so what
	// would have ended the old page's script element is fine now.
	ok := []string{
		seedCallback,
		hostileCallback,
		"(r) => { if (a < b && c > d) {} }",
		"function(){ var s = '</script><!--'; }",
		"function(){ '\u212a' }",
	}
	for _, js := range ok {
		require.NoError(t, formpage.CheckCallback(js), "%q", js)
	}
	bad := []string{"\xc3", "a\x00b", "", "\t"}
	for _, js := range bad {
		err := formpage.CheckCallback(js)
		require.Error(t, err, "%q", js)
	}
	require.NotContains(t, formpage.CheckCallback("secret\x00").Error(), "secret", "the message never quotes the callback")
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
