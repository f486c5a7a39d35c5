package patch_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/patch"
)

// The three kinds of patch, on raw bytes: a JSON Patch, a JSON Patch under
// a path policy, and a merge patch.
func Example() {
	doc := []byte(`{"customer":{"lastName":"Smith"},"billing":{"zip":"60056","country":"US"}}`)
	out, err := patch.Apply(doc, []byte(`[{"op":"replace","path":"/customer/lastName","value":"Hopper"}]`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))

	pol, err := patch.NewPolicy(nil, []string{"/token", "/source/cardNumber"}) // deny-list, path and from alike
	if err != nil {
		log.Fatal(err)
	}
	ops := []byte(`[{"op":"copy","from":"/source/cardNumber","path":"/customer/referenceNumber"}]`)
	_, err = patch.DecodeWith(ops, patch.Options{Policy: pol})
	fmt.Println(err)

	merged, err := patch.Merge(doc, []byte(`{"customer":{"email":"sarah@example.com"},"billing":{"zip":null}}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(merged))
	// Output:
	// {"customer":{"lastName":"Hopper"},"billing":{"zip":"60056","country":"US"}}
	// op 0 (copy /customer/referenceNumber from /source/cardNumber): from: path not allowed
	// {"customer":{"lastName":"Smith","email":"sarah@example.com"},"billing":{"country":"US"}}
}

func ExampleApply() {
	doc := []byte(`{"customer": {"firstName": "Sarah", "lastName": "Hopper"}, "customFields": []}`)
	ops := []byte(`[
		{"op": "test", "path": "/customer/firstName", "value": "Sarah"},
		{"op": "replace", "path": "/customer/lastName", "value": "Smith"},
		{"op": "add", "path": "/customFields/-", "value": {"name": "tier", "value": "gold"}}
	]`)
	out, err := patch.Apply(doc, ops)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	// Output:
	// {"customer": {"firstName": "Sarah", "lastName": "Smith"}, "customFields": [{"name": "tier", "value": "gold"}]}
}

func ExampleApply_error() {
	doc := []byte(`{"customer": {"firstName": "Sarah"}}`)
	ops := []byte(`[
		{"op": "remove", "path": "/customer/firstName"},
		{"op": "replace", "path": "/customer/lastName", "value": "Smith"}
	]`)
	_, err := patch.Apply(doc, ops)
	fmt.Println(err)

	var opErr *patch.OpError
	if errors.As(err, &opErr) {
		fmt.Println(opErr.Index, opErr.Op, opErr.Path)
	}
	fmt.Println(errors.Is(err, patch.ErrPathNotFound), errors.Is(err, cardvault.ErrInvalid))
	// Output:
	// op 1 (replace /customer/lastName): path not found: no member "lastName" in /customer
	// 1 replace /customer/lastName
	// true true
}

func ExampleMerge() {
	doc := []byte(`{"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["example", "sample"]}`)
	mergePatch := []byte(`{"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": null}, "tags": ["example"]}`)
	out, err := patch.Merge(doc, mergePatch)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	// Output:
	// {"title":"Hello!","author":{"givenName": "John"},"tags":["example"],"phoneNumber":"+01-123-456-7890"}
}

func ExampleNewPolicy() {
	policy, err := patch.NewPolicy(
		[]string{"/customer", "/customFields/*", "/mitAgreement"},           // may change
		[]string{"/source/cardNumber", "/token", "/status", "/source/type"}, // never
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ops := range []string{
		`[{"op": "replace", "path": "/customer/lastName", "value": "Smith"}]`,
		`[{"op": "replace", "path": "/token", "value": "296753999999"}]`,
		`[{"op": "copy", "from": "/source/cardNumber", "path": "/customer/referenceNumber"}]`,
		`[{"op": "test", "path": "/source", "value": {}}]`,
	} {
		_, err := patch.DecodeWith([]byte(ops), patch.Options{Policy: policy})
		fmt.Println(err)
	}
	// Output:
	// <nil>
	// op 0 (replace /token): path not allowed
	// op 0 (copy /customer/referenceNumber from /source/cardNumber): from: path not allowed
	// op 0 (test /source): path not allowed
}

func ExampleParsePointer() {
	p, err := patch.ParsePointer("/a~1b/m~0n/0")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q %s\n", []string(p), p)
	// Output:
	// ["a/b" "m~n" "0"] /a~1b/m~0n/0
}
