package securetoken

import (
	"github.com/tidwall/gjson"
)

// ParseCreateRequest parses and validates the body of a create-secure-token
// request.
//
// The body first passes internal/jsonx.Check (at most [MaxBodyBytes], [MaxDepth]
// levels, no duplicate member, valid UTF-8); then every member the contract
// lists is read, and every fault — wrong JSON type, broken constraint — is
// reported in one *cardvault.InvalidError. Members the contract does not
// list are ignored, as the publisher's API ignores them. An oversized body
// gives [ErrTooLarge]. On error the request is the zero value.
func ParseCreateRequest(body []byte) (CreateRequest, error) {
	d, root, err := open(body, false)
	if err != nil {
		return CreateRequest{}, err
	}
	var req CreateRequest
	if root != nil {
		req = CreateRequest{
			SecureTokenID: root.text("secureTokenId"),
			Operator:      root.text("operator"),
			MITAgreement:  MITAgreement(root.str("mitAgreement")),
			IPAddress:     d.ipAddress(root),
			Source:        d.paymentSource(root),
			ThreeDSecure:  d.threeDSecure(root),
			CustomFields:  d.customFields(root),
		}
		if c, ok := root.obj("customer"); ok {
			req.Customer = d.customer(c)
		}
	}
	if err := result(d.errs, req.Validate()); err != nil {
		return CreateRequest{}, err
	}
	return req, nil
}

// ParseSingleUseTokenRequest parses and validates the body of a
// create-single-use-token request, as [ParseCreateRequest] does.
func ParseSingleUseTokenRequest(body []byte) (SingleUseTokenRequest, error) {
	d, root, err := open(body, false)
	if err != nil {
		return SingleUseTokenRequest{}, err
	}
	var req SingleUseTokenRequest
	if root != nil {
		req = SingleUseTokenRequest{
			Channel:  Channel(root.str("channel")),
			Operator: root.text("operator"),
			Source:   d.paymentSource(root),
		}
	}
	if err := result(d.errs, req.Validate()); err != nil {
		return SingleUseTokenRequest{}, err
	}
	return req, nil
}

// ParseAccountUpdateRequest parses and validates the body of an
// update-account request, as [ParseCreateRequest] does.
func ParseAccountUpdateRequest(body []byte) (AccountUpdateRequest, error) {
	d, root, err := open(body, false)
	if err != nil {
		return AccountUpdateRequest{}, err
	}
	var req AccountUpdateRequest
	if root != nil {
		req = AccountUpdateRequest{Type: SourceType(root.str("type")), Token: root.str("token")}
	}
	if err := result(d.errs, req.Validate()); err != nil {
		return AccountUpdateRequest{}, err
	}
	return req, nil
}

// open gates a document and returns a decoder on its root object. A root
// that is not an object is a fault (root is nil then); a gate failure is
// returned as err.
func open(body []byte, strict bool) (*decoder, *object, error) {
	if err := gate(body); err != nil {
		return nil, nil, err
	}
	d := &decoder{strict: strict}
	v := gjson.ParseBytes(body)
	if !v.IsObject() {
		d.fault("", "wrong type", "the document must be a JSON object")
		return d, nil, nil
	}
	root, _ := d.object("", v)
	return d, root, nil
}
