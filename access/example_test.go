package access_test

import (
	"fmt"
	"log"
	"time"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/crypto"
)

// An API key for two terminals, exchanged for a bearer token that acts for
// them and no other.
func ExampleKeys() {
	list, err := access.ParseAPIKeys("a-long-random-api-key:1234001,1234002")
	if err != nil {
		log.Fatal(err)
	}
	// The deployment's key: every process that shares it accepts the
	// others' tokens. (cardvault's server keeps one in its store.)
	hasher := crypto.NewHasherFromKey(crypto.NewDataKey())
	keys, err := access.NewKeys(list, hasher, time.Hour, time.Now)
	if err != nil {
		log.Fatal(err)
	}
	client, ok := keys.Lookup("a-long-random-api-key") // the key's id (client.ID), never the key
	fmt.Println(ok)
	token, expiresIn := keys.Issue(client) // an HS256 JWT, valid in every process of the deployment
	fmt.Println(expiresIn)

	c, ok := keys.Verify(token)
	fmt.Println(ok, c.MayUse("1234002"), c.MayUse("1234003"))
	_, ok = keys.Verify(token + "x")
	fmt.Println(ok)
	// Output:
	// true
	// 3600
	// true true false
	// false
}

// Basic credentials: a wrong password still names the account it counts
// against.
func ExampleAccounts() {
	accounts, err := access.NewAccounts([]access.Account{{Name: "alice", Password: "a-long-random-password"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(accounts.Check("alice", "a-long-random-password"))
	fmt.Println(accounts.Check("alice", "a-guess"))
	fmt.Println(accounts.Check("bob", "a-long-random-password"))
	// Output:
	// alice true
	// alice false
	//  false
}
