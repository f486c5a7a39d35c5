package capture_test

// The seed's hosted-form flow end to end, with nothing faked: a real vault
// and capture service behind a small HTTP mux (what the reference server
// does), a merchant page on another site framing the configured CVV-only
// form, and headless Chromium typing into it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/internal/browsertest"
	"github.com/cardvault/cardvault/internal/teststores"
)

// serve puts the capture routes the form needs on an httptest server.
func serve(t *testing.T, svc *capture.Service) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/capture/iframe/{form}", func(w http.ResponseWriter, r *http.Request) {
		svc.ServeFormPage(w, r, r.PathValue("form"), "")
	})
	mux.HandleFunc("POST /v1/capture/{grant}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 300<<10))
		res, err := svc.Redeem(r.Context(), r.PathValue("grant"), r.Header.Get("X-PCIVault-Capture-Secret"), body)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			status := http.StatusBadRequest
			switch {
			case errors.Is(err, cardvault.ErrUnauthorized), errors.Is(err, cardvault.ErrNotFound):
				status = http.StatusForbidden
			case errors.Is(err, cardvault.ErrExpired):
				status = http.StatusGone
			}
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"user": res.User, "token": res.Item.Token, "reference": res.Item.Reference})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestSeedFormFlowInBrowser(t *testing.T) {
	b := browsertest.Start(t)
	m := browsertest.NewMerchant(t)
	for _, be := range teststores.All() {
		t.Run(be.Name, func(t *testing.T) {
			e := newEnv(t, be.Open(t))
			srv := serve(t, e.svc)
			const timeout = 15 * time.Second

			// Step 1: an endpoint locked to the card, 10 minutes.
			g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "PT10M", Lock: &e.card})
			require.NoError(t, err)
			// Step 2: the configured form that shows only the CVV.
			callback := "function(responseData, requestData) {\n" +
				"const reference = responseData.reference;\n" +
				"window.location.replace(`" + m.Origin + "/update/success?reference=${reference}`);\n}"
			f, err := e.svc.CreateForm(ctx, "acct", "pcd", []byte(formBody(t, map[string]any{
				"success_callback": b64(callback),
				"field_options": map[string]any{
					"reference": map[string]bool{"visible": false}, "card_holder": map[string]bool{"visible": false},
					"expiry": map[string]bool{"visible": false}, "card_number": map[string]bool{"visible": false},
				},
				"frame_ancestors": []string{m.Origin},
			})))
			require.NoError(t, err)
			// Step 3: the link with the endpoint's id and secret.
			link := fmt.Sprintf("%s/v1/capture/iframe/%s?unique_id=%s&secret=%s", srv.URL, f.ID, url.QueryEscape(g.ID), url.QueryEscape(g.Secret))

			before := len(m.HitsTo("/update/success"))
			tab := b.NewTab(t, timeout)
			tab.Do(chromedp.Navigate(m.Embed(link)))
			frame := tab.Frame("#cv", srv.URL)
			require.Equal(t, 1, evalIn[int](t, frame, `document.querySelectorAll("input, select").length`), "only the CVV shows")
			frame.Do(
				chromedp.SendKeys(chromedp.CSS("#cv-cvv"), "145", frame.Query...),
				chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
			)
			require.Eventually(t, func() bool { return len(m.HitsTo("/update/success")) > before }, timeout, 20*time.Millisecond,
				"the success callback redirects to the merchant")
			hits := m.HitsTo("/update/success")
			require.Equal(t, "my-reference", hits[len(hits)-1].URL.Query().Get("reference"))

			got := e.retrieve(t, e.card)
			require.Equal(t, "145", got["cvv"], "the CVV was updated")
			require.Equal(t, "4111111111111111", got["card_number"], "the card number is unchanged")
			require.Equal(t, "06-2024", got["card_expiry"], "the hidden fields are unchanged")
			require.Empty(t, tab.ConsoleErrors())

			// The same link after the endpoint expired: a clear notice, no fields.
			e.clock.Advance(11 * time.Minute)
			tab2 := b.NewTab(t, timeout)
			tab2.Do(chromedp.Navigate(m.Embed(link)))
			frame2 := tab2.Frame("#cv", srv.URL)
			require.Equal(t, "This form has expired. Ask for a new link.", text(t, frame2, "#cv-notice"))
			require.Zero(t, evalIn[int](t, frame2, `document.querySelectorAll("form, input, select, button").length`))
		})
	}
}
