package capture_test

// The hosted form in a real browser: a merchant page on one site frames the
// form served by a "vault" on another site, whose capture endpoint is a fake
// written here (the grants come later; the form only needs an endpoint that
// answers like the real one). Headless Chromium runs it all through
// internal/browsertest, which also fails a test on any CSP violation it did
// not expect.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/internal/browsertest"
	"github.com/cardvault/cardvault/securetoken"
)

// grant is a fake capture endpoint: its secret, expiry and canned reply.
type grant struct {
	secret    string
	expiresAt time.Time // zero: never
	status    int       // reply status; 0 means 200
	reply     string    // reply body; "" means {"user","token","reference"}
}

// post is what the fake endpoint received.
type post struct {
	grantID, secret, contentType, referer string
	body                                  []byte
}

// fakeVault serves forms at /v1/capture/iframe/{id} and fake capture endpoints
// at /v1/capture/{id}.
type fakeVault struct {
	srv    *httptest.Server
	mu     sync.Mutex
	forms  map[string]capture.Form
	grants map[string]grant
	posts  []post
}

func newFakeVault(t *testing.T) *fakeVault {
	v := &fakeVault{forms: map[string]capture.Form{}, grants: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/capture/iframe/{form}", func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		form, ok := v.forms[r.PathValue("form")]
		g, known := v.grants[r.URL.Query().Get("unique_id")]
		v.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		form.ServePage(w, r, capture.PageOptions{GrantExpiresAt: g.expiresAt, GrantClosed: !known})
	})
	mux.HandleFunc("POST /v1/capture/{grant}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := r.PathValue("grant")
		v.mu.Lock()
		v.posts = append(v.posts, post{grantID: id, secret: r.Header.Get("X-PCIVault-Capture-Secret"),
			contentType: r.Header.Get("Content-Type"), referer: r.Header.Get("Referer"), body: body})
		g, ok := v.grants[id]
		v.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case !ok || r.Header.Get("X-PCIVault-Capture-Secret") != g.secret:
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error": "wrong capture secret"}`)
		case g.status != 0:
			w.WriteHeader(g.status)
			fmt.Fprint(w, g.reply)
		default:
			fmt.Fprint(w, `{"user": "test-user", "token": "44c93045e3cf54d23792c7821c42c2386e3040680caaa1ab512aa45091ad8fd1", "reference": "my-reference"}`)
		}
	})
	v.srv = httptest.NewServer(mux)
	t.Cleanup(v.srv.Close)
	return v
}

func (v *fakeVault) addForm(t *testing.T, formType, body string) capture.Form {
	t.Helper()
	f, err := capture.ParseForm(formType, []byte(body), time.Now())
	require.NoError(t, err)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.forms[f.ID] = f
	return f
}

// addGrant registers a fake grant and returns the form link for it.
func (v *fakeVault) addGrant(f capture.Form, id string, g grant) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.grants[id] = g
	return v.srv.URL + "/v1/capture/iframe/" + f.ID + "?unique_id=" + url.QueryEscape(id) + "&secret=" + url.QueryEscape(g.secret)
}

func (v *fakeVault) postsTo(id string) []post {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []post
	for _, p := range v.posts {
		if p.grantID == id {
			out = append(out, p)
		}
	}
	return out
}

func formBody(t *testing.T, fields map[string]any) string {
	t.Helper()
	b, err := json.Marshal(fields)
	require.NoError(t, err)
	return string(b)
}

// seedFormBody is the seed's create-form request: only the CVV shows, and
// the success callback sends the visitor to successURL with the reference
// the vault returned. The frame ancestors are the default when none are
// given.
func seedFormBody(t *testing.T, successURL string, frameAncestors ...string) string {
	t.Helper()
	callback := "function(responseData, requestData) {\n" +
		"const reference = responseData.reference;\n" +
		"window.location.replace(`" + successURL + "?reference=${reference}`);\n}"
	body := map[string]any{
		"success_callback": b64(callback),
		"field_options": map[string]any{
			"reference": map[string]bool{"visible": false}, "card_holder": map[string]bool{"visible": false},
			"expiry": map[string]bool{"visible": false}, "card_number": map[string]bool{"visible": false},
		},
	}
	if len(frameAncestors) > 0 {
		body["frame_ancestors"] = frameAncestors
	}
	return formBody(t, body)
}

// requireJSON compares a posted body with want, key by key. A mismatch names
// the key, never the value: they are card data, if only test cards.
func requireJSON(t *testing.T, want map[string]string, body []byte) {
	t.Helper()
	var got map[string]string
	require.True(t, json.Unmarshal(body, &got) == nil, "the post is a JSON object of strings")
	requireFields(t, want, got, "the posted fields")
}

// requireFields compares fields with want, naming keys, never values.
func requireFields(t *testing.T, want, got map[string]string, what string) {
	t.Helper()
	require.ElementsMatch(t, slices.Collect(maps.Keys(want)), slices.Collect(maps.Keys(got)), what)
	for k, w := range want {
		require.True(t, got[k] == w, "%s: %s is not the expected value", what, k)
	}
}

// text returns the trimmed text of the element sel in the frame.
func text(t *testing.T, f *browsertest.Frame, sel string) string {
	t.Helper()
	s, err := chromedp.Run(f.Ctx, chromedp.Text(chromedp.CSS(sel), f.Query...))
	require.NoError(t, err, sel)
	return strings.TrimSpace(s)
}

// evalIn evaluates a JavaScript expression in the frame's own document.
// The merchant and the vault are different sites, so the frame is a
// target of its own.
func evalIn[T any](t *testing.T, f *browsertest.Frame, expr string) T {
	t.Helper()
	require.Empty(t, f.Query, "the form must run in a cross-site frame for evalIn")
	v, err := chromedp.Run(f.Ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// setValue sets a field's value in the frame's document as a script would,
// and fires the input event the page listens to. (chromedp.SetValue does not
// reach into a cross-site frame's target.)
func setValue(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const el = document.getElementById(%q);
		el.value = %q;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		if (el.value !== %q) { throw new Error("the value did not stick"); }
	})()`, id, value, value))
}

// evalTab evaluates a JavaScript expression in the tab's top document.
func evalTab[T any](t *testing.T, tab *browsertest.Tab, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// received waits until the merchant's page got a message from a frame, and
// returns the first as JSON: {"origin", "data"}.
func received(t *testing.T, tab *browsertest.Tab, timeout time.Duration) string {
	t.Helper()
	s, err := chromedp.Run(tab.Ctx, chromedp.Poll[string](`received.length ? JSON.stringify(received[0]) : null`,
		chromedp.WithPollingTimeout(timeout)))
	require.NoError(t, err, "no message from the frame")
	return s
}

// waitFor evaluates expr in a tab's or frame's target (ctx) until it is
// true, across the navigation from the card page to the result page.
func waitFor(t *testing.T, ctx context.Context, expr string, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		return err == nil && ok
	}, timeout, 20*time.Millisecond, expr)
}

// requireResultPage checks that the frame shows a form's result page, and
// what it is: no field of any kind, no secret in its URL, the fragment
// read and dropped, and an opaque origin without the vault's storage.
func requireResultPage(t *testing.T, f *browsertest.Frame) {
	t.Helper()
	waitFor(t, f.Ctx, `location.search === "?view=result" && document.readyState === "complete"`, 10*time.Second)
	require.Zero(t, evalIn[int](t, f, `document.querySelectorAll("input, select, textarea, form, button").length`),
		"the result page has no field")
	require.False(t, evalIn[bool](t, f, `location.href.includes("secret")`), "the secret does not travel to the result page")
	require.Empty(t, evalIn[string](t, f, `location.hash`), "the fragment is read and dropped")
	require.Equal(t, "null", evalIn[string](t, f, `self.origin`), "the sandbox makes the origin opaque")
	require.Equal(t, "SecurityError", evalIn[string](t, f, `(() => { try { localStorage.length; return "storage"; } catch (e) { return e.name; } })()`),
		"and keeps the vault origin's storage out of reach")
}

func TestFormInBrowser(t *testing.T) {
	started := time.Now()
	b := browsertest.Start(t)
	v := newFakeVault(t)
	m := browsertest.NewMerchant(t)
	nextYear := fmt.Sprintf("%02d/%02d", int(time.Now().Month()), (time.Now().Year()+1)%100)
	const timeout = 15 * time.Second
	// open opens a tab on the merchant's page framing link, expecting the
	// CSP violations csp (if any), and returns it with the form's frame.
	open := func(t *testing.T, link string, csp ...string) (*browsertest.Tab, *browsertest.Frame) {
		tab := b.NewTab(t, timeout)
		for _, c := range csp {
			tab.ExpectCSPViolation(c)
		}
		tab.Do(chromedp.Navigate(m.Embed(link)))
		return tab, tab.Frame("#cv", v.srv.URL)
	}
	// submitExpiryAndCVV fills in a form that shows the expiry and the CVV,
	// and submits it.
	submitExpiryAndCVV := func(frame *browsertest.Frame) {
		frame.Do(
			chromedp.SendKeys(chromedp.CSS("#cv-expiry"), nextYear, frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "321", frame.Query...),
			chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
		)
	}

	// typeCard types a whole card into a standard card form, without
	// submitting it.
	typeCard := func(frame *browsertest.Frame) {
		frame.Do(
			chromedp.SendKeys(chromedp.CSS("#cv-card-number"), "4242 4242 4242 4242", frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-card-holder"), "Ada Lovelace", frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-expiry"), nextYear, frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "123", frame.Query...),
		)
	}
	// skimmer is the review's finding 1: spliced into a script, as the old
	// page did, it ran as the page loaded, read the fields as they were
	// typed and posted them to another capture endpoint ("skim").
	skimmer := "0);window.__pwned=1;document.title='pwned';" +
		"setInterval(function(){ var v = Array.prototype.map.call(document.querySelectorAll('input'), function(i){ return i.value; }).join('');" +
		" if (v) { fetch('/v1/capture/skim', {method: 'POST', headers: {'X-PCIVault-Capture-Secret': 'skim-secret'}, body: JSON.stringify({leak: v})}); } }, 10);(0"
	const notPwned = `window.__pwned === undefined && document.title !== "pwned"`

	// (a) The seed's flow: a CVV-only form whose success callback redirects
	// with the reference the vault returned.
	t.Run("seed CVV update redirects", func(t *testing.T) {
		f := v.addForm(t, "pcd", seedFormBody(t, m.Origin+"/update/success", m.Origin))
		g := grant{secret: "S2TRYkjufkfwf8oItW2G_j1HcZ1ftMvURZwZJlbzb2BylPEPo8536sqdkO6J9i3x", expiresAt: time.Now().Add(10 * time.Minute)}
		link := v.addGrant(f, "NjUDoEi3z8zFB33WEwSRg", g)

		tab, frame := open(t, link)
		require.Equal(t, 1, evalIn[int](t, frame, `document.querySelectorAll("input, select").length`), "only the CVV shows")
		require.Equal(t, "Security code (CVV)", evalIn[string](t, frame, `document.querySelector('label[for="cv-cvv"]').textContent`))
		frame.Do(
			chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "145", frame.Query...),
			chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
		)
		require.Eventually(t, func() bool { return len(m.HitsTo("/update/success")) == 1 }, timeout, 20*time.Millisecond,
			"the success callback redirects to the merchant")

		posts := v.postsTo("NjUDoEi3z8zFB33WEwSRg")
		require.Len(t, posts, 1)
		requireJSON(t, map[string]string{"cvv": "145"}, posts[0].body)
		require.True(t, g.secret == posts[0].secret, "the secret travels in X-PCIVault-Capture-Secret")
		require.Equal(t, "application/json", posts[0].contentType)
		require.Empty(t, posts[0].referer, "no Referer: the page's URL holds the secret")

		hit := m.HitsTo("/update/success")[0]
		require.Equal(t, "my-reference", hit.URL.Query().Get("reference"))
		require.Empty(t, hit.Header.Get("Referer"), "the redirect leaks no Referer either")
		require.Empty(t, tab.ConsoleErrors())
	})

	// (b) The full card form: checks in the browser, brand detection, and a
	// post of exactly the visible fields.
	t.Run("card form checks before it posts", func(t *testing.T) {
		f := v.addForm(t, "pcd", formBody(t, map[string]any{"frame_ancestors": []string{m.Origin}}))
		link := v.addGrant(f, "open-grant", grant{secret: "open-secret-0123456789"}) + "&reference=order-42"

		tab, frame := open(t, link)
		for _, id := range []string{"cv-card-number", "cv-card-holder", "cv-expiry", "cv-cvv"} {
			require.True(t, evalIn[bool](t, frame, `(() => { const el = document.getElementById("`+id+`");
				const label = document.querySelector('label[for="`+id+`"]');
				return !!el && !!label && label.textContent.length > 0; })()`), "%s has a label", id)
		}
		require.False(t, evalIn[bool](t, frame, `!!document.getElementById("cv-reference")`), "reference is hidden by default")

		// Brand detection, shown to the visitor as they type.
		for number, brand := range map[string]string{
			"4242424242424242": "Visa", "5555555555554444": "Mastercard", "2223003122003222": "Mastercard",
			"378282246310005": "American Express", "6011111111111117": "Discover", "3530111333300000": "JCB",
			"36227206271667": "Diners Club", "6200000000000005": "UnionPay", "9999": "",
		} {
			frame.Do(
				setValue("cv-card-number", ""),
				chromedp.SendKeys(chromedp.CSS("#cv-card-number"), number, frame.Query...),
			)
			require.Equal(t, brand, text(t, frame, "#cv-card-brand"), number)
		}

		// A Luhn-invalid number, an expired date and a short CVV: three
		// inline errors and no post.
		frame.Do(
			setValue("cv-card-number", ""),
			chromedp.SendKeys(chromedp.CSS("#cv-card-number"), "4242 4242 4242 4241", frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-card-holder"), "Ada Lovelace", frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-expiry"), "01/20", frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "12", frame.Query...),
			chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
		)
		require.Equal(t, "This card number is not valid. Check it for typing mistakes.", text(t, frame, "#cv-card-number-error"))
		require.Equal(t, "This card has expired.", text(t, frame, "#cv-expiry-error"))
		require.Equal(t, "The security code of a Visa card has 3 digits.", text(t, frame, "#cv-cvv-error"))
		require.Empty(t, text(t, frame, "#cv-card-holder-error"))
		require.Equal(t, "true", evalIn[string](t, frame, `document.getElementById("cv-card-number").getAttribute("aria-invalid")`))
		require.Equal(t, "cv-card-number", evalIn[string](t, frame, `document.activeElement.id`), "focus moves to the first bad field")
		require.Equal(t, "alert", evalIn[string](t, frame, `document.getElementById("cv-card-number-error").getAttribute("role")`))

		// American Express wants four CVV digits.
		frame.Do(
			setValue("cv-card-number", ""),
			chromedp.SendKeys(chromedp.CSS("#cv-card-number"), "378282246310005", frame.Query...),
			setValue("cv-cvv", ""),
			chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "123", frame.Query...),
			chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
		)
		require.Equal(t, "The security code of a American Express card has 4 digits.", text(t, frame, "#cv-cvv-error"))
		require.Empty(t, text(t, frame, "#cv-card-number-error"), "the error went once the number was fixed")

		// Fixed: it posts exactly the visible fields, normalized, plus the
		// link's reference for the hidden reference field.
		frame.Do(
			setValue("cv-card-number", ""),
			chromedp.SendKeys(chromedp.CSS("#cv-card-number"), "4242 4242 4242 4242", frame.Query...),
			setValue("cv-expiry", ""),
			chromedp.SendKeys(chromedp.CSS("#cv-expiry"), nextYear, frame.Query...),
			chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
		)
		require.Eventually(t, func() bool { return text(t, frame, "#cv-status") == "Saved." }, timeout, 20*time.Millisecond)
		posts := v.postsTo("open-grant")
		require.Len(t, posts, 1, "the invalid attempts posted nothing")
		requireJSON(t, map[string]string{
			"card_number": "4242424242424242", "card_holder": "Ada Lovelace", "expiry": nextYear, "cvv": "123", "reference": "order-42",
		}, posts[0].body)
		require.True(t, posts[0].secret == "open-secret-0123456789", "the secret travels in X-PCIVault-Capture-Secret")
		require.Zero(t, evalIn[int](t, frame, `document.querySelectorAll("input, select, button").length`),
			"after success the fields and the button are gone: nothing left to read, no second post")
		require.Empty(t, tab.ConsoleErrors())
	})

	t.Run("bank form posts", func(t *testing.T) {
		f := v.addForm(t, "ach", formBody(t, map[string]any{"frame_ancestors": []string{m.Origin}}))
		link := v.addGrant(f, "bank-grant", grant{secret: "bank-secret"})
		tab, frame := open(t, link)
		frame.Do(
			chromedp.SendKeys(chromedp.CSS("#cv-account-holder"), "Grace Hopper", frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-routing-number"), "011000016", frame.Query...), // bad ABA check digit
			chromedp.SendKeys(chromedp.CSS("#cv-account-number"), "000123456789", frame.Query...),
			setValue("cv-account-type", "savings"),
			chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
		)
		require.Equal(t, "This routing number is not valid. Check it for typing mistakes.", text(t, frame, "#cv-routing-number-error"))
		frame.Do(
			setValue("cv-routing-number", ""),
			chromedp.SendKeys(chromedp.CSS("#cv-routing-number"), "011000015", frame.Query...),
			chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
		)
		require.Eventually(t, func() bool { return len(v.postsTo("bank-grant")) == 1 }, timeout, 20*time.Millisecond)
		requireJSON(t, map[string]string{
			"account_holder": "Grace Hopper", "routing_number": "011000015", "account_number": "000123456789", "account_type": "savings",
		}, v.postsTo("bank-grant")[0].body)
		require.Empty(t, tab.ConsoleErrors())
	})

	// (c) A grant known to have expired when the page is served.
	t.Run("expired grant shows a notice and no fields", func(t *testing.T) {
		f := v.addForm(t, "pcd", formBody(t, map[string]any{"frame_ancestors": []string{m.Origin}}))
		link := v.addGrant(f, "expired-grant", grant{secret: "expired-secret", expiresAt: time.Now().Add(-time.Minute)})
		tab, frame := open(t, link)
		require.Equal(t, "This form has expired. Ask for a new link.", text(t, frame, "#cv-notice"))
		require.Zero(t, evalIn[int](t, frame, `document.querySelectorAll("form, input, select, button").length`))
		require.Empty(t, v.postsTo("expired-grant"))
		// The page comes with status 410, which Chromium logs; nothing else.
		require.Len(t, tab.ConsoleErrors(), 1)
		require.Contains(t, tab.ConsoleErrors()[0], "status of 410 (Gone)")
	})

	// (d) The endpoint refuses. With an error_callback the card page removes
	// its fields and hands over to the result page, whose callback gets
	// {code, data} and the request without the CVV; it reports to the
	// merchant's page with parent.postMessage.
	t.Run("error reply runs the error callback after the fields are gone", func(t *testing.T) {
		f := v.addForm(t, "pcd", formBody(t, map[string]any{
			"error_callback": b64(`function(error, requestData) {
				window.parent.postMessage({code: error.code, data: error.data, request: requestData,
					document: typeof document}, "*");
			}`),
			"success_callback": b64(`function() { window.parent.postMessage("success", "*"); }`),
			"field_options":    map[string]any{"card_number": map[string]bool{"visible": false}, "card_holder": map[string]bool{"visible": false}},
			"frame_ancestors":  []string{m.Origin},
		}))
		for _, c := range []struct {
			name, reply, message string
			status               int
		}{
			{"gone", `{"error": "capture endpoint expired"}`, "This form has expired. Ask for a new link.", http.StatusGone},
			{"refused", `{"error": "expiry: must be MM/YY"}`, "The details were refused.", http.StatusBadRequest},
			{"not JSON", "upstream exploded\n", "Something went wrong on our side. Please try again.", http.StatusBadGateway},
		} {
			t.Run(c.name, func(t *testing.T) {
				id := "refusing-" + c.name
				link := v.addGrant(f, id, grant{secret: "s-" + c.name, status: c.status, reply: c.reply})
				tab, frame := open(t, link)
				submitExpiryAndCVV(frame)
				var got struct {
					Origin string `json:"origin"`
					Data   struct {
						Code     int               `json:"code"`
						Data     json.RawMessage   `json:"data"`
						Request  map[string]string `json:"request"`
						Document string            `json:"document"`
					} `json:"data"`
				}
				require.NoError(t, json.Unmarshal([]byte(received(t, tab, timeout)), &got))
				require.Equal(t, "null", got.Origin, "the callback's page has an opaque origin")
				require.Equal(t, c.status, got.Data.Code)
				if strings.HasPrefix(c.reply, "{") {
					require.JSONEq(t, c.reply, string(got.Data.Data), "data is the parsed reply")
				} else {
					require.JSONEq(t, fmt.Sprintf("%q", c.reply), string(got.Data.Data), "data is the reply's text")
				}
				requireFields(t, map[string]string{"expiry": nextYear}, got.Data.Request, "the callback's requestData, without the CVV")
				require.Equal(t, "undefined", got.Data.Document, "the callback has no DOM")

				requireResultPage(t, frame)
				require.Equal(t, c.message, text(t, frame, "#cv-status"), "the result page says what failed, from the code alone")
				require.Len(t, v.postsTo(id), 1)

				// Chromium logs the failed fetch; nothing else may fail.
				for _, e := range tab.ConsoleErrors() {
					require.Contains(t, e, fmt.Sprintf("status of %d", c.status))
				}
			})
		}
	})

	// Without an error_callback nothing is handed over: the visitor sees
	// what failed, with the reply's detail, and may try again.
	t.Run("error reply without a callback lets the visitor retry", func(t *testing.T) {
		f := v.addForm(t, "pcd", formBody(t, map[string]any{
			"success_callback": b64(`function() { window.parent.postMessage("success", "*"); }`),
			"field_options":    map[string]any{"card_number": map[string]bool{"visible": false}, "card_holder": map[string]bool{"visible": false}},
			"frame_ancestors":  []string{m.Origin},
		}))
		link := v.addGrant(f, "refusing-no-callback", grant{secret: "s-no-callback", status: http.StatusBadRequest, reply: `{"error": "expiry: must be MM/YY"}`})
		tab, frame := open(t, link)
		submitExpiryAndCVV(frame)
		require.Eventually(t, func() bool { return text(t, frame, "#cv-status") != "Saving…" && text(t, frame, "#cv-status") != "" },
			timeout, 20*time.Millisecond)
		require.Equal(t, "The details were refused. (expiry: must be MM/YY)", text(t, frame, "#cv-status"))
		require.False(t, evalIn[bool](t, frame, `document.getElementById("cv-submit").disabled`), "a 400 may be retried")
		require.Equal(t, 2, evalIn[int](t, frame, `document.querySelectorAll("input").length`), "the fields stay for the retry")
		require.Zero(t, evalTab[int](t, tab, `received.length`), "no callback ran")
		for _, e := range tab.ConsoleErrors() {
			require.Contains(t, e, "status of 400")
		}
	})

	// The review's finding 1. The old page spliced the callback into a
	// script, so this one ran as the page loaded, read the fields as they
	// were typed and posted them to another capture endpoint. Now it must
	// not run on load, nor while typing, nor anywhere a card field exists.
	t.Run("a load-time callback never runs with the card fields", func(t *testing.T) {
		v.addGrant(capture.Form{}, "skim", grant{secret: "skim-secret"})
		f := v.addForm(t, "pcd", formBody(t, map[string]any{
			"success_callback": b64(skimmer), "error_callback": b64(skimmer), "frame_ancestors": []string{m.Origin},
		}))
		link := v.addGrant(f, "hostile-grant", grant{secret: "hostile-secret"})
		_, frame := open(t, link)
		waitFor(t, frame.Ctx, `document.readyState === "complete"`, timeout)
		require.True(t, evalIn[bool](t, frame, notPwned), "nothing ran as the page loaded")
		require.Equal(t, "Card details", evalIn[string](t, frame, `document.title`))
		typeCard(frame)
		require.True(t, evalIn[bool](t, frame, notPwned), "nothing ran while the visitor typed")
		require.Empty(t, v.postsTo("skim"), "nothing read the fields")
		frame.Do(chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...))

		requireResultPage(t, frame)
		waitFor(t, frame.Ctx, `document.getElementById("cv-status").textContent === "Saved."`, timeout)
		require.True(t, evalIn[bool](t, frame, notPwned), "nor on the result page: the callback runs in a worker, with no DOM")
		require.Len(t, v.postsTo("hostile-grant"), 1)
		require.Empty(t, v.postsTo("skim"), "no field was ever sent elsewhere")
	})

	// The same for the error callback: it runs only after a failed
	// submission — not as the page loads, nor while the visitor types —
	// once the card fields are gone, and what it gets holds no card field:
	// the number masked, no CVV.
	t.Run("an error callback runs only after a failed submit, never with the card fields", func(t *testing.T) {
		v.addGrant(capture.Form{}, "skim", grant{secret: "skim-secret"})
		reporter := `function(error, requestData) {
			window.parent.postMessage({code: error.code, request: requestData, document: typeof document}, "*");
		}`
		for _, c := range []struct {
			name, callback string
			reports        bool // the callback posts what it got to the merchant's page
		}{
			{"a splice meant to run at load time", skimmer, false},
			{"a function that reports what it gets", reporter, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := v.addForm(t, "pcd", formBody(t, map[string]any{"error_callback": b64(c.callback), "frame_ancestors": []string{m.Origin}}))
				id := "refusing-" + strings.ReplaceAll(c.name, " ", "-")
				link := v.addGrant(f, id, grant{secret: "s-" + id, status: http.StatusBadRequest, reply: `{"error": "expiry: must be MM/YY"}`})
				tab, frame := open(t, link)
				waitFor(t, frame.Ctx, `document.readyState === "complete"`, timeout)
				require.True(t, evalIn[bool](t, frame, notPwned), "nothing ran as the page loaded")
				require.Zero(t, evalTab[int](t, tab, `received.length`), "the error callback did not run at load time")
				typeCard(frame)
				require.True(t, evalIn[bool](t, frame, notPwned), "nothing ran while the visitor typed")
				require.Zero(t, evalTab[int](t, tab, `received.length`), "nor while the visitor typed")
				require.Empty(t, v.postsTo(id), "nothing was submitted yet")
				frame.Do(chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...))

				requireResultPage(t, frame)
				waitFor(t, frame.Ctx, `document.getElementById("cv-status").textContent === "The details were refused."`, timeout)
				require.True(t, evalIn[bool](t, frame, notPwned), "nor on the result page: the callback runs in a worker, with no DOM")
				require.Len(t, v.postsTo(id), 1, "one failed submission")
				require.Empty(t, v.postsTo("skim"), "no field was ever sent elsewhere")
				if !c.reports {
					return
				}
				var got struct {
					Data struct {
						Code     int               `json:"code"`
						Request  map[string]string `json:"request"`
						Document string            `json:"document"`
					} `json:"data"`
				}
				require.NoError(t, json.Unmarshal([]byte(received(t, tab, timeout)), &got))
				require.Equal(t, http.StatusBadRequest, got.Data.Code, "it ran after the failed submission")
				requireFields(t, map[string]string{"card_number": "424242******4242", "card_holder": "Ada Lovelace", "expiry": nextYear},
					got.Data.Request, "the error callback's requestData: the number masked, no CVV")
				require.Equal(t, "undefined", got.Data.Document, "the callback has no DOM")
				require.Equal(t, 1, evalTab[int](t, tab, `received.length`), "it ran once")
			})
		}
	})

	// What a callback sees: no DOM, no network, the reply, and the request
	// without the CVV and with the card number masked as the secure-token
	// API masks it.
	t.Run("the callback sees the request masked and nothing else", func(t *testing.T) {
		observer := `function(responseData, requestData) {
			var seen = {response: responseData, request: requestData, document: typeof document, href: window.location.href};
			var report = function (outcome) { seen.fetched = outcome; window.parent.postMessage(seen, "*"); };
			window.location.replace("javascript:void(window.__pwned = 1)");
			fetch("` + v.srv.URL + `/v1/capture/skim", {method: "POST", headers: {"X-PCIVault-Capture-Secret": "skim-secret"},
				body: JSON.stringify(requestData)}).then(function () { report("sent"); }, function () { report("refused"); });
		}`
		f := v.addForm(t, "pcd", formBody(t, map[string]any{"success_callback": b64(observer), "frame_ancestors": []string{m.Origin}}))
		v.addGrant(f, "skim", grant{secret: "skim-secret"})
		link := v.addGrant(f, "observed-grant", grant{secret: "observed-secret"})
		tab, frame := open(t, link, "/v1/capture/skim") // the callback's fetch, refused by connect-src
		typeCard(frame)
		frame.Do(chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...))
		var got struct {
			Origin string `json:"origin"`
			Data   struct {
				Response map[string]string `json:"response"`
				Request  map[string]string `json:"request"`
				Document string            `json:"document"`
				Href     string            `json:"href"`
				Fetched  string            `json:"fetched"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(received(t, tab, timeout)), &got))
		require.Equal(t, "null", got.Origin)
		requireFields(t, map[string]string{
			"card_number": securetoken.CardNumber("4242424242424242").Masked(), "card_holder": "Ada Lovelace", "expiry": nextYear,
		}, got.Data.Request, "the callback's requestData: no CVV, the card number masked by the secure-token API's rule")
		require.Equal(t, "424242******4242", securetoken.CardNumber("4242424242424242").Masked())
		require.Equal(t, "my-reference", got.Data.Response["reference"])
		require.Equal(t, "undefined", got.Data.Document, "the callback has no DOM")
		require.Equal(t, "refused", got.Data.Fetched, "nor any network")
		require.Equal(t, v.srv.URL+"/v1/capture/iframe/"+f.ID+"?view=result", got.Data.Href, "its location is the result page's, without the secret")
		require.Empty(t, v.postsTo("skim"))

		requireResultPage(t, frame)
		require.True(t, evalIn[bool](t, frame, `window.__pwned === undefined`), "a javascript: URL is not followed")
		require.Equal(t, "Saved.", text(t, frame, "#cv-status"))
		var refused bool
		for _, e := range tab.ConsoleErrors() {
			refused = refused || strings.Contains(e, "may only navigate to an http or https URL")
		}
		require.True(t, refused, "the refused navigation is logged: %q", tab.ConsoleErrors())
	})

	t.Run("the callback sees a bank account masked", func(t *testing.T) {
		f := v.addForm(t, "ach", formBody(t, map[string]any{
			"success_callback": b64(`(res, req) => window.parent.postMessage(req, "*")`), "frame_ancestors": []string{m.Origin},
		}))
		link := v.addGrant(f, "observed-bank", grant{secret: "observed-bank-secret"})
		tab, frame := open(t, link)
		frame.Do(
			chromedp.SendKeys(chromedp.CSS("#cv-account-holder"), "Grace Hopper", frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-routing-number"), "011000015", frame.Query...),
			chromedp.SendKeys(chromedp.CSS("#cv-account-number"), "000123456789", frame.Query...),
			setValue("cv-account-type", "checking"),
			chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
		)
		var got struct {
			Data map[string]string `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(received(t, tab, timeout)), &got))
		requireFields(t, map[string]string{
			"account_holder": "Grace Hopper", "routing_number": "011000015", "account_type": "checking",
			"account_number": securetoken.AccountNumber("000123456789").Masked(),
		}, got.Data, "the callback's requestData: the account number masked by the secure-token API's rule")
		require.Equal(t, "*****6789", securetoken.AccountNumber("000123456789").Masked())
		requireJSON(t, map[string]string{
			"account_holder": "Grace Hopper", "routing_number": "011000015", "account_number": "000123456789", "account_type": "checking",
		}, v.postsTo("observed-bank")[0].body)
		requireResultPage(t, frame)
		require.Empty(t, tab.ConsoleErrors())
	})

	// The page's masks are ports of the Go ones: held to them here, edge
	// cases included (short numbers, a value already masked), through
	// unchecked fields that post what was typed.
	t.Run("the page masks as the secure-token API does", func(t *testing.T) {
		f := v.addForm(t, "custom", formBody(t, map[string]any{
			"success_callback": b64(`(res, req) => window.parent.postMessage(req, "*")`),
			"field_options": map[string]any{
				"card_number": map[string]bool{"visible": true, "validate": false}, "account_number": map[string]bool{"visible": true, "validate": false},
				"cvv": map[string]bool{"visible": true, "validate": false},
			},
			"frame_ancestors": []string{m.Origin},
		}))
		for i, c := range []struct{ card, account string }{
			{"378282246310005", "1234567"},
			{"12345678901", "1234"},
			{"6011000990139424123", "*****9876"},
		} {
			link := v.addGrant(f, fmt.Sprint("mask-", i), grant{secret: "mask-secret"})
			tab, frame := open(t, link)
			frame.Do(
				chromedp.SendKeys(chromedp.CSS("#cv-card-number"), c.card, frame.Query...),
				chromedp.SendKeys(chromedp.CSS("#cv-account-number"), c.account, frame.Query...),
				chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "1", frame.Query...),
				chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
			)
			var got struct {
				Data map[string]string `json:"data"`
			}
			require.NoError(t, json.Unmarshal([]byte(received(t, tab, timeout)), &got))
			requireFields(t, map[string]string{
				"card_number":    securetoken.CardNumber(c.card).Masked(),
				"account_number": securetoken.AccountNumber(c.account).Masked(),
			}, got.Data, fmt.Sprint("case ", i))
		}
	})

	// The seed's callback with the form as a page of its own (the visitor
	// was redirected to it): the result page replaces it, and the callback
	// sends the visitor on.
	t.Run("seed callback redirects a page of its own", func(t *testing.T) {
		f := v.addForm(t, "pcd", seedFormBody(t, m.Origin+"/update/top-success"))
		link := v.addGrant(f, "top-seed-grant", grant{secret: "top-seed-secret"})
		tab := b.NewTab(t, timeout)
		tab.Do(chromedp.Navigate(link))
		entries := evalTab[int](t, tab, `history.length`)
		tab.Do(
			chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "145"),
			chromedp.Click(chromedp.CSS("#cv-submit")),
		)
		require.Eventually(t, func() bool { return len(m.HitsTo("/update/top-success")) == 1 }, timeout, 20*time.Millisecond,
			"the success callback redirects to the merchant")
		hit := m.HitsTo("/update/top-success")[0]
		require.Equal(t, "my-reference", hit.URL.Query().Get("reference"))
		require.Empty(t, hit.Header.Get("Referer"))
		requireJSON(t, map[string]string{"cvv": "145"}, v.postsTo("top-seed-grant")[0].body)
		// location.replace twice: neither the card page (its URL holds the
		// secret) nor the result page is left in the history.
		waitFor(t, tab.Ctx, `location.pathname === "/update/top-success"`, timeout)
		require.Equal(t, entries, evalTab[int](t, tab, `history.length`))
		require.Empty(t, tab.ConsoleErrors())
	})

	// (e) frame-ancestors: a site the form does not list cannot frame it.
	t.Run("frame-ancestors blocks other sites", func(t *testing.T) {
		f := v.addForm(t, "pcd", formBody(t, map[string]any{"frame_ancestors": []string{"https://shop.example"}}))
		link := v.addGrant(f, "framed-grant", grant{secret: "framed-secret"})
		tab, frame := open(t, link, `"frame-ancestors https://shop.example"`)
		require.Eventually(t, func() bool { return len(tab.CSPViolations()) == 1 }, timeout, 20*time.Millisecond)
		require.Contains(t, tab.CSPViolations()[0], "frame-ancestors https://shop.example")
		require.True(t, evalIn[bool](t, frame, `location.href.startsWith("chrome-error:")`), "the frame shows the browser's error page")
		require.False(t, evalIn[bool](t, frame, `!!document.getElementById("cv-form")`))

		// The default policy ('self' https:) refuses a plain-http merchant too.
		g := v.addForm(t, "pcd", "")
		tab2 := b.NewTab(t, timeout)
		tab2.ExpectCSPViolation(`"frame-ancestors 'self' https:"`)
		tab2.Do(chromedp.Navigate(m.Embed(v.addGrant(g, "default-grant", grant{secret: "x"}))))
		require.Eventually(t, func() bool { return len(tab2.CSPViolations()) == 1 }, timeout, 20*time.Millisecond)
	})

	// The same page loaded by redirect, as the top document.
	t.Run("works as a top-level page", func(t *testing.T) {
		f := v.addForm(t, "pcd", formBody(t, map[string]any{
			"field_options": map[string]any{"card_number": map[string]bool{"visible": false}, "card_holder": map[string]bool{"visible": false}, "expiry": map[string]bool{"visible": false}},
		}))
		link := v.addGrant(f, "top-grant", grant{secret: "top-secret"})
		tab := b.NewTab(t, timeout)
		tab.Do(
			chromedp.Navigate(link),
			chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "999"),
			chromedp.Click(chromedp.CSS("#cv-submit")),
		)
		got, err := chromedp.Run(tab.Ctx, chromedp.Poll[string](`(() => { const s = document.getElementById("cv-status").textContent; return s === "Saved." ? s : null; })()`,
			chromedp.WithPollingTimeout(timeout)))
		require.NoError(t, err)
		require.Equal(t, "Saved.", got)
		requireJSON(t, map[string]string{"cvv": "999"}, v.postsTo("top-grant")[0].body)
		n, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("input, select, button").length`))
		require.NoError(t, err)
		require.Zero(t, n, "no callback: the page stays, without its fields")
		require.Empty(t, tab.ConsoleErrors())
	})

	t.Logf("browser tests took %v", time.Since(started).Round(time.Millisecond))
}
