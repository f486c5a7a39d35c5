package webhook_test

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/cardvault/cardvault/webhook"
)

// A merchant's endpoint checks every webhook before it acts on it: the
// secret it chose, then the signature over the body and the time, which
// refuses a forged body and an old request sent again. It answers 2xx once
// it has the notification (cardvault tries again otherwise), and
// de-duplicates by the delivery id.
func Example_receiver() {
	const secret = "the-secret-the-merchant-chose"
	seen := map[string]bool{}
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(webhook.SecretHeader)), []byte(secret)) != 1 {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		err = webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute)
		switch {
		case errors.Is(err, webhook.ErrStale):
			http.Error(w, "stale", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(webhook.DeliveryHeader)
		if !seen[id] {
			seen[id] = true
			// ... act on the notification ...
		}
		w.WriteHeader(http.StatusNoContent)
	})

	send := func(body string, at time.Time) int {
		r := httptest.NewRequest("POST", "/hook", strings.NewReader(body))
		r.Header.Set(webhook.SecretHeader, secret)
		r.Header.Set(webhook.DeliveryHeader, "0187f3c2a9b1d4e5f6a7b8c9d0e1f2a3")
		r.Header.Set(webhook.SignatureHeader, webhook.Sign(secret, at, []byte(body)))
		w := httptest.NewRecorder()
		receiver.ServeHTTP(w, r)
		return w.Code
	}
	body := `{"metadata":{"capture_id":"abc","reference":"my-reference"}}`
	fmt.Println("fresh:", send(body, time.Now()))
	fmt.Println("an hour old:", send(body, time.Now().Add(-time.Hour)))
	// Output:
	// fresh: 204
	// an hour old: 401
}
