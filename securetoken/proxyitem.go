package securetoken

import (
	"context"

	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/store"
)

// ProxyItem returns the payment details of the secure token id of
// terminal as a flat JSON object, for the request templates of package
// proxy — the one place whole numbers leave the service, and only towards
// a payment service provider. Its members are named as the vault's items
// name them, so that one template serves both:
//
//   - every token: secure_token_id, token, processing_terminal_id;
//   - a card: card_number, expiry ("MM/YY", from which the proxy derives
//     expiry_month, expiry_year and expiry_year_short), card_holder,
//     card_type, and issue_number when the card has one;
//   - an ACH account: account_number, routing_number, account_holder,
//     account_type, sec_code;
//   - a PAD account: account_number, transit_number, institution_number,
//     account_holder, account_type.
//
// Members a token lacks are left out. There is never a CVV: the service
// does not keep one. The result is card data: the caller clears it after
// use and never logs it.
func (s *Service) ProxyItem(ctx context.Context, terminal, id string) ([]byte, error) {
	if checkTerminal(terminal) != nil || checkID("secureTokenId", id, 1, 200) != nil {
		return nil, ErrNotFound
	}
	kek, err := s.kek(ctx, terminal, false)
	if err != nil {
		return nil, err
	}
	var rec Record
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		rec, _, err = s.open(tx, kek, terminal, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	item := map[string]string{
		"secure_token_id": rec.SecureTokenID, "token": rec.Token, "processing_terminal_id": rec.ProcessingTerminalID,
	}
	set := func(k, v string) {
		if v != "" {
			item[k] = v
		}
	}
	switch src := rec.Source; {
	case src.Card != nil:
		c := src.Card
		set("card_number", string(c.CardNumber))
		if len(c.ExpiryDate) == 4 {
			set("expiry", c.ExpiryDate[:2]+"/"+c.ExpiryDate[2:])
		}
		set("card_holder", c.CardholderName)
		set("card_type", c.CardType)
		set("issue_number", c.IssueNumber)
	case src.ACH != nil:
		a := src.ACH
		set("account_number", string(a.AccountNumber))
		set("routing_number", a.RoutingNumber)
		set("account_holder", a.NameOnAccount)
		set("account_type", string(a.AccountType))
		set("sec_code", string(a.SECCode))
	case src.PAD != nil:
		a := src.PAD
		set("account_number", string(a.AccountNumber))
		set("transit_number", a.TransitNumber)
		set("institution_number", a.InstitutionNumber)
		set("account_holder", a.NameOnAccount)
		set("account_type", string(a.AccountType))
	}
	return jsonx.Marshal(item)
}
