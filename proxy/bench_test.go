package proxy_test

import (
	"testing"

	"github.com/cardvault/cardvault/proxy"
)

// BenchmarkRender: the Stripe call of the tests over a card item — the
// template work a synchronous proxy call adds before it sends.
func BenchmarkRender(b *testing.B) {
	c, err := proxy.ParseRequest([]byte(stripeCall), policy(b))
	if err != nil {
		b.Fatal(err)
	}
	doc := []byte(item)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proxy.Render(c, doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRequest: checking the call and parsing its templates.
func BenchmarkParseRequest(b *testing.B) {
	p := policy(b)
	body := []byte(stripeCall)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proxy.ParseRequest(body, p); err != nil {
			b.Fatal(err)
		}
	}
}
