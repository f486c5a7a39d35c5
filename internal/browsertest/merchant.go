package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cardvault/cardvault/internal/testkit"
)

// Merchant is the merchant's site of a browser test, on another site than
// the vault's (localhost against 127.0.0.1). /embed?src= frames a form in
// the iframe #cv and keeps what frames post to it in window.received, as
// a merchant's page that listens to its form would; /blank is an empty
// page; /update/... records where the form's callbacks sent the visitor.
type Merchant struct {
	Origin string // http://localhost:<port>
	hits   testkit.List[*http.Request]
}

// NewMerchant starts a Merchant, closed when the test ends.
func NewMerchant(t testing.TB) *Merchant {
	m := &Merchant{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /embed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><title>Checkout</title><h1>Update your card</h1>`+
			`<script>window.received = []; addEventListener("message", (e) => received.push({origin: e.origin, data: e.data}));</script>`+
			`<iframe id="cv" title="Card form" width="480" height="600" src="%s"></iframe>`,
			strings.ReplaceAll(r.URL.Query().Get("src"), `"`, "&quot;"))
	})
	mux.HandleFunc("GET /blank", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><title>Merchant</title><p>merchant`)
	})
	mux.HandleFunc("GET /update/", func(w http.ResponseWriter, r *http.Request) {
		m.hits.Add(r)
		fmt.Fprint(w, "<!DOCTYPE html><title>Done</title><p>Thank you")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	m.Origin = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	return m
}

// Embed is the URL of the merchant's page that frames link.
func (m *Merchant) Embed(link string) string {
	return m.Origin + "/embed?src=" + url.QueryEscape(link)
}

// HitsTo returns the requests the merchant got for path, oldest first.
func (m *Merchant) HitsTo(path string) []*http.Request {
	var out []*http.Request
	for _, r := range m.hits.All() {
		if r.URL.Path == path {
			out = append(out, r)
		}
	}
	return out
}
