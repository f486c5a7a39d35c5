package luhn_test

import (
	"fmt"
	"log"

	"github.com/cardvault/cardvault/luhn"
)

// Check digits, and a random numeric token that passes the same check.
func Example() {
	fmt.Println(luhn.Valid("4242424242424242"), luhn.Valid("4242424242424241"))
	d, err := luhn.CheckDigit("424242424242424")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(d))
	tok, err := luhn.Generate("296753", 16, nil) // random, Luhn-valid, starts with 296753
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(tok), tok[:6], luhn.Valid(tok))
	// Output:
	// true false
	// 2
	// 16 296753 true
}
