package securetoken

import (
	"errors"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/vault"
)

// CapturedSource turns the JSON object a hosted form posted to a
// single-use-token grant into the details the single-use token stands for
// (a [Source], in its sealed form). The form's field names are those of the
// vault/capture API:
//
//   - a card: card_number, card_holder, expiry ("MM/YY") or card_expiry
//     ("MM-YYYY"), and cvv (checked, then dropped like every CVV here);
//   - a US bank account: account_number, routing_number, account_type
//     (checking or savings), account_holder.
//
// Every fault is reported in a *cardvault.InvalidError naming the form
// field ("/card_number"), never its value. A server that serves both APIs
// sets it as capture.Config.SingleUseDetails.
func CapturedSource(captured []byte) ([]byte, error) {
	doc := gjson.ParseBytes(captured)
	str := func(k string) string {
		if r := doc.Get(k); r.Type == gjson.String {
			return strings.TrimSpace(r.Str)
		}
		return ""
	}
	c := &checker{}
	var src Source
	switch {
	case doc.Get("card_number").Exists():
		number := strings.NewReplacer(" ", "", "-", "").Replace(str("card_number"))
		c.cardNumber(whole("/card_number"), CardNumber(number))
		c.text(whole("/card_holder"), str("card_holder"), 1, 50, true)
		// The vault reads the expiry (expiry MM/YY, else card_expiry
		// MM-YYYY); a secure token keeps it as MMYY.
		expiry := ""
		exp, err := vault.ItemExpiry(captured)
		var bad *vault.ExpiryError
		switch {
		case err == nil:
			expiry = exp.MM() + exp.YY()
		case errors.As(err, &bad):
			c.fault(whole("/"+bad.Field), "invalid format", "must be "+bad.Layout+" with a month 01 to 12")
		default:
			c.required(whole("/expiry"))
		}
		c.digits(whole("/cvv"), str("cvv"), 3, 4, false)
		src = cardSource(str("card_holder"), CardNumber(number), expiry, "")
	case doc.Get("account_number").Exists():
		ach := &ACHSource{
			NameOnAccount: str("account_holder"),
			AccountNumber: AccountNumber(str("account_number")),
			RoutingNumber: str("routing_number"),
			AccountType:   AccountType(str("account_type")),
		}
		c.text(whole("/account_holder"), ach.NameOnAccount, 1, 50, true)
		c.digits(whole("/account_number"), string(ach.AccountNumber), 4, 17, true)
		c.routingNumber(whole("/routing_number"), ach.RoutingNumber)
		checkEnum(c, whole("/account_type"), ach.AccountType, accountTypes, false)
		src = Source{Type: SourceACH, ACH: ach}
	default:
		c.fault(whole("/card_number"), "required", "a card number (card_number) or a bank account (account_number) is required")
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return src.MarshalBinary()
}
