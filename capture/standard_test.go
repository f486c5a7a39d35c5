package capture_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/store/memstore"
)

func TestStandardForm(t *testing.T) {
	card, ok := capture.StandardForm(capture.FormCard)
	require.True(t, ok)
	require.Equal(t, "pcd", card.ID)
	require.Equal(t, []string{"card_number", "card_holder", "expiry", "cvv"}, card.VisibleFields())
	require.False(t, capture.ValidFormID(card.ID), "no configured form can shadow a standard one")

	bank, ok := capture.StandardForm(capture.FormBank)
	require.True(t, ok)
	require.Equal(t, []string{"account_holder", "routing_number", "account_number", "account_type"}, bank.VisibleFields())

	for _, typ := range []capture.FormType{capture.FormCustom, "", "PCD", "pcd/"} {
		_, ok := capture.StandardForm(typ)
		require.False(t, ok, "%q has no standard form", typ)
	}
}

func TestServeStandardFormPage(t *testing.T) {
	e := newEnv(t, memstore.New())
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "PT10M", Lock: &e.card})
	require.NoError(t, err)

	serve := func(typ, query string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/v1/capture/iframe/"+typ+query, nil)
		e.svc.ServeStandardFormPage(rec, req, capture.FormType(typ), "")
		return rec
	}
	link := "?unique_id=" + url.QueryEscape(g.ID) + "&secret=" + url.QueryEscape(g.Secret)

	rec := serve("pcd", link)
	require.Equal(t, http.StatusOK, rec.Code)
	page := rec.Body.String()
	for _, id := range []string{"cv-card-number", "cv-card-holder", "cv-expiry", "cv-cvv"} {
		require.Contains(t, page, `id="`+id+`"`)
	}
	require.Contains(t, page, `data-capture-url="/v1/capture/`+g.ID+`"`)
	require.NotContains(t, page, g.Secret, "the secret stays in the URL, out of the HTML")
	require.Contains(t, rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'self' https:")

	rec = serve("ach", link)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `id="cv-routing-number"`)
	require.NotContains(t, rec.Body.String(), `id="cv-card-number"`)

	// A wrong secret and an unknown grant get the same "expired" page.
	wrong := serve("pcd", "?unique_id="+url.QueryEscape(g.ID)+"&secret=not-the-secret")
	unknown := serve("pcd", "?unique_id=nosuchgrant&secret=whatever")
	require.Equal(t, http.StatusGone, wrong.Code)
	require.Equal(t, http.StatusGone, unknown.Code)
	require.Contains(t, wrong.Body.String(), "This form has expired")
	require.NotContains(t, wrong.Body.String(), "<input")

	// After the grant's lifetime, the right secret also gets the notice.
	e.clock.Advance(11 * time.Minute)
	require.Equal(t, http.StatusGone, serve("pcd", link).Code)

	rec = serve("custom", link)
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	require.True(t, strings.HasPrefix(rec.Body.String(), "capture: no such form"))
}

// A configured form's page and a standard form's are served by one path:
// the same answers for a good link, a bad secret and an unknown form.
func TestFormPagesAnswerAlike(t *testing.T) {
	e := newEnv(t, memstore.New())
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "PT10M", Lock: &e.card})
	require.NoError(t, err)
	form, err := e.svc.CreateForm(ctx, "acct", "pcd", []byte(`{}`))
	require.NoError(t, err)

	configured := func(id string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { e.svc.ServeFormPage(w, r, id, "") }
	}
	standard := func(typ capture.FormType) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { e.svc.ServeStandardFormPage(w, r, typ, "") }
	}
	doors := []struct {
		name           string
		serve, unknown http.HandlerFunc
	}{
		{"configured", configured(form.ID), configured("nosuchform")},
		{"standard", standard(capture.FormCard), standard(capture.FormCustom)},
	}
	for _, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			get := func(serve http.HandlerFunc, query string) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				serve(rec, httptest.NewRequest(http.MethodGet, "/page"+query, nil))
				return rec
			}
			ok := get(d.serve, "?unique_id="+url.QueryEscape(g.ID)+"&secret="+url.QueryEscape(g.Secret))
			require.Equal(t, http.StatusOK, ok.Code)
			require.Contains(t, ok.Body.String(), `data-capture-url="/v1/capture/`+g.ID+`"`)

			wrong := get(d.serve, "?unique_id="+url.QueryEscape(g.ID)+"&secret=not-the-secret")
			require.Equal(t, http.StatusGone, wrong.Code)
			require.Contains(t, wrong.Body.String(), "This form has expired")

			missing := get(d.unknown, "")
			require.Equal(t, http.StatusNotFound, missing.Code)
			require.Equal(t, "no-store", missing.Header().Get("Cache-Control"))
			require.Equal(t, "no-referrer", missing.Header().Get("Referrer-Policy"))
			require.True(t, strings.HasPrefix(missing.Body.String(), "capture: no such form"))
		})
	}
}
