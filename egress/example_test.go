package egress_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/egress"
)

func Example() {
	// The operator's -egress-allow: here, the test server on 127.0.0.1.
	allow, err := egress.ParseAllowList("127.0.0.1")
	if err != nil {
		panic(err)
	}
	g, err := egress.New(egress.Config{Allow: allow, AllowHTTP: true})
	if err != nil {
		panic(err)
	}

	// When a webhook URL is configured: refused at once, naming the host
	// and never the path or query.
	fmt.Println(g.CheckURL("https://169.254.169.254/latest/meta-data?token=s3cr3t"))
	fmt.Println(g.CheckURL("https://hooks.example/capture#frag"))

	// When it is used: every dial is checked.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "delivered")
	}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/hook?secret=s3cr3t", nil)
	resp, err := g.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	// localhost is a name: CheckURL does not resolve it, the dialer does.
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodPost, "http://localhost:1/hook?secret=s3cr3t", nil)
	_, err = g.Do(req)
	fmt.Println(errors.Is(err, egress.ErrRefused), errors.Is(err, cardvault.ErrForbidden))
	// Output:
	// egress: destination refused: 169.254.169.254 is a link-local address, not in the egress allow-list
	// egress: invalid URL: a fragment (#...) is not allowed
	// delivered
	// true true
}

func ExampleParseAllowList() {
	entries, err := egress.ParseAllowList("psp.internal:8443, 10.20.0.0/16, [fd00::7]")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Println(e)
	}
	_, err = egress.ParseAllowList("10.20.1.0/16")
	fmt.Println(err)
	// Output:
	// psp.internal:8443
	// 10.20.0.0/16
	// fd00::7
	// egress: invalid configuration: allow-list entry 1 "10.20.1.0/16": host bits set: did you mean 10.20.0.0/16?
}
