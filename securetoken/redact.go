package securetoken

import (
	"fmt"
	"strings"
)

// fmt renderings. The types that hold personal data or payment details
// print a summary that names no person and no number beyond the public
// mask, whatever the verb, so that logging one by mistake leaks nothing.

// Format prints the token's identifiers and its masked source.
func (r Record) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.Record{secureTokenId: %q, processingTerminalId: %q, status: %s, source: %s}",
		r.SecureTokenID, r.ProcessingTerminalID, r.Status, r.Source.summary())
}

// Format prints the token's identifiers and its masked source.
func (r Resource) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.Resource{secureTokenId: %q, processingTerminalId: %q, status: %s, source: %s}",
		r.SecureTokenID, r.ProcessingTerminalID, r.Status, r.Source.summary())
}

// Format prints the source's type and masked number.
func (s Source) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.summary()) }

func (s Source) summary() string {
	switch {
	case s.Card != nil:
		return "card " + s.Card.CardNumber.Masked()
	case s.ACH != nil:
		return "ach " + s.ACH.AccountNumber.Masked()
	case s.PAD != nil:
		return "pad " + s.PAD.AccountNumber.Masked()
	}
	return "none"
}

// Format prints nothing of the customer.
func (c Customer) Format(f fmt.State, verb rune) { fmt.Fprint(f, "securetoken.Customer{"+redacted+"}") }

// Format prints the request's identifier and source type.
func (r CreateRequest) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.CreateRequest{secureTokenId: %q, source: %s}", r.SecureTokenID, r.Source.summary())
}

// Format prints the request's channel and source type.
func (r SingleUseTokenRequest) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.SingleUseTokenRequest{channel: %s, source: %s}", r.Channel, r.Source.summary())
}

// Format prints the request's type, not its single-use token: whoever holds
// one can redeem it.
func (r AccountUpdateRequest) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.AccountUpdateRequest{type: %s, token: %s}", r.Type, Sensitive(r.Token))
}

// Format prints the source's type and, for a card, its entry method.
func (p PaymentSource) Format(f fmt.State, verb rune) { fmt.Fprint(f, p.summary()) }

func (p PaymentSource) summary() string {
	var b strings.Builder
	b.WriteString(string(p.Type))
	if p.Card != nil && p.Card.CardDetails.EntryMethod != "" {
		b.WriteString(" " + string(p.Card.CardDetails.EntryMethod))
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
