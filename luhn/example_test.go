package luhn_test

import (
	"fmt"

	"github.com/cardvault/cardvault/luhn"
)

func ExampleValid() {
	fmt.Println(luhn.Valid("4242424242424242"))
	fmt.Println(luhn.Valid("4242424242424241"))
	// Output:
	// true
	// false
}

func ExampleCheckDigit() {
	d, err := luhn.CheckDigit("424242424242424")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(d))
	// Output: 2
}

func ExampleGenerate() {
	// A 16-digit token that starts with the secure-token prefix.
	token, err := luhn.Generate("296753", 16, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(token), token[:6], luhn.Valid(token))
	// Output: 16 296753 true
}
