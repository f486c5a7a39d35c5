package proxy

import (
	"slices"

	"github.com/cardvault/cardvault/luhn"
)

// testNumbers are the card and bank account numbers payment service
// providers publish for their test modes (Stripe, Adyen, Braintree,
// Authorize.Net, Checkout.com, Worldpay): the only numbers a debug call
// may show in its populated_template. The list is fixed in code on
// purpose: an operator flag that let debug show any card would put live
// card numbers in replies, and in whatever logs the merchant keeps of
// them.
var testNumbers = []string{
	// Visa
	"4242424242424242", "4000056655665556", "4111111111111111", "4012888888881881", "4222222222222",
	"4000000000000002", "4000000000009995", "4000000000009987", "4000000000000069", "4000000000000127",
	"4000000000000119", "4000002500003155", "4000002760003184", "4000000000003220", "4000000000000077",
	"4000000000000341", "4000008260003178", "4111111145551142", "4444333322221111", "4005519200000004",
	"4009348888881881", "4012000033330026", "4012000077777777", "4217651111111119", "4500600000000061",
	"4917610000000000", "4484070000000000", "4007000000027", "4012881888818888", "4543474002249996",
	// Mastercard
	"5555555555554444", "2223003122003222", "5200828282828210", "5105105105105100", "5555444433331111",
	"5454545454545454", "2223000048400011", "5436031030606378", "5424000000000015", "2221000000000009",
	// American Express
	"378282246310005", "371449635398431", "370000000000002", "340000000000009", "345436849253786",
	// Discover, Diners Club, JCB, UnionPay
	"6011111111111117", "6011000990139424", "6011000000000012", "3056930009020004", "36227206271667",
	"38520000023237", "30569309025904", "3566002020360505", "3530111333300000", "3566111111111113",
	"6200000000000005", "6205500000000000004",
	// Bank accounts (Stripe's US test accounts)
	"000123456789", "000111111116", "000111111113", "000222222227", "000333333335", "000444444440",
}

// testData reports whether every number of an item (its number fields) and
// every card number its rendered request holds are test numbers, so that
// debug may show the request.
func testData(doc []byte, r Rendered) bool {
	for _, n := range itemNumbers(doc) {
		if !slices.Contains(testNumbers, n) {
			return false
		}
	}
	if len(itemNumbers(doc)) == 0 {
		return false // a number that is not one the vault recognizes
	}
	ok := true
	r.eachRun(12, func(_, digits string) {
		if luhn.IsCardNumber(digits) && !slices.Contains(testNumbers, digits) {
			ok = false
		}
	})
	return ok
}
