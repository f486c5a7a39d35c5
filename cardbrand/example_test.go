package cardbrand_test

import (
	"fmt"

	"github.com/cardvault/cardvault/cardbrand"
)

// The brand needs only the first six digits, so a masked number has one too.
func ExampleDetect() {
	fmt.Println(cardbrand.Detect("378282246310005").Name)
	fmt.Println(cardbrand.Detect("453985******7062").Name)
	fmt.Printf("%q\n", cardbrand.Detect("0000000000000000").Code)
	// Output:
	// American Express
	// Visa
	// ""
}
