package securetoken

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/patch"
	"github.com/cardvault/cardvault/store"
	"github.com/tidwall/gjson"
)

// Create saves the payment details of req under a new secure token of
// terminal and returns its resource. req.SecureTokenID names it, or an id
// is generated; an id in use is refused with ErrExists and the id of a
// deleted token with ErrIDRetired. A singleUseToken source is redeemed in
// the same transaction that saves the token, so it is used exactly once
// and only if the save succeeds.
func (s *Service) Create(ctx context.Context, terminal string, req CreateRequest) (Resource, error) {
	if err := checkTerminal(terminal); err != nil {
		return Resource{}, err
	}
	if err := req.Validate(); err != nil {
		return Resource{}, err
	}
	id := req.SecureTokenID
	if id == "" {
		id = newID()
	} else if err := checkID("secureTokenId", id, 1, 200); err != nil {
		return Resource{}, err
	}
	kek, err := s.kek(ctx, terminal, true)
	if err != nil {
		return Resource{}, err
	}
	for attempt := 0; ; attempt++ {
		tok, err := s.newToken(ctx)
		if err != nil {
			return Resource{}, err
		}
		build := func(src Source) Record {
			rec := NewRecord(req, src)
			rec.SecureTokenID, rec.ProcessingTerminalID, rec.Token = id, terminal, tok
			return rec
		}
		var rec Record
		save := func(tx store.Tx, src Source) error {
			rec = build(src)
			if err := rec.Validate(); err != nil {
				return err
			}
			key := recordKey(terminal, id)
			if _, err := tx.Get(bucketRetired, key); err == nil {
				return ErrIDRetired
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if _, err := tx.Get(bucketRecords, key); err == nil {
				return ErrExists
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if _, err := tx.Get(bucketTokens, []byte(tok)); err == nil {
				return errTokenTaken
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := tx.Put(bucketTokens, []byte(tok), key); err != nil {
				return err
			}
			return s.put(tx, kek, rec, &envelope{}, nil)
		}
		if req.Source.Type == SourceSingleUseToken {
			err = s.redeem(ctx, terminal, req.Source.SingleUseToken.Token, "/source/token", nil, save)
		} else {
			src, ok := req.Source.StoredSource()
			if !ok {
				return Resource{}, fmt.Errorf("securetoken: the source cannot be saved: %w", cardvault.ErrInvalid)
			}
			err = s.st.Update(ctx, func(tx store.Tx) error { return save(tx, src) })
		}
		if errors.Is(err, errTokenTaken) && attempt < 8 {
			continue // another process drew the same token a moment ago
		}
		if err != nil {
			return Resource{}, err
		}
		return rec.Public(), nil
	}
}

// redeem uses up a single-use token of terminal with fn, inside one store
// transaction, mapping its errors to a fault at field — except an unknown
// token (or another terminal's), which is unknown when that is not nil.
func (s *Service) redeem(ctx context.Context, terminal, token, field string, unknown error, fn func(tx store.Tx, src Source) error) error {
	if s.capture == nil {
		return ErrNoSingleUse
	}
	err := s.capture.RedeemSingleUse(ctx, terminal, token, func(tx store.Tx, details []byte) error {
		var src Source
		if err := src.UnmarshalBinary(details); err != nil {
			return err
		}
		return fn(tx, src)
	})
	switch {
	case (errors.Is(err, capture.ErrTokenNotFound) || errors.Is(err, capture.ErrTerminal)) && unknown != nil:
		return unknown
	case errors.Is(err, capture.ErrTokenNotFound), errors.Is(err, capture.ErrTerminal):
		return singleUseFault(field, "unknown", "is not a single-use token of this processing terminal")
	case errors.Is(err, capture.ErrUsed):
		return singleUseFault(field, "already used", "was used already; a single-use token works once")
	case errors.Is(err, capture.ErrExpired):
		return singleUseFault(field, "expired", "has expired; single-use tokens last 30 minutes")
	}
	return err
}

func singleUseFault(field, detail, message string) error {
	bad := &cardvault.InvalidError{}
	bad.Add(field, detail, message)
	return bad
}

// Retrieve returns the secure token id of terminal.
func (s *Service) Retrieve(ctx context.Context, terminal, id string) (Resource, error) {
	if checkTerminal(terminal) != nil || checkID("secureTokenId", id, 1, 200) != nil {
		return Resource{}, ErrNotFound
	}
	kek, err := s.kek(ctx, terminal, false)
	if err != nil {
		return Resource{}, err
	}
	var res Resource
	err = s.st.View(ctx, func(tx store.Tx) error {
		rec, _, err := s.open(tx, kek, terminal, id)
		res = rec.Public()
		return err
	})
	if err != nil {
		return Resource{}, err
	}
	return res, nil
}

// Delete deletes the secure token id of terminal: its sealed record and
// data key go (crypto-shredding), its index entries go, and its id and token
// are retired for good.
func (s *Service) Delete(ctx context.Context, terminal, id string) error {
	if checkTerminal(terminal) != nil || checkID("secureTokenId", id, 1, 200) != nil {
		return ErrNotFound
	}
	kek, err := s.kek(ctx, terminal, false)
	if err != nil {
		return err
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		rec, _, err := s.open(tx, kek, terminal, id)
		if err != nil {
			return err
		}
		key := recordKey(terminal, id)
		if err := s.unindex(tx, rec); err != nil {
			return err
		}
		if err := tx.Delete(bucketRecords, key); err != nil {
			return err
		}
		// The token stays in bucketTokens, pointing at a retired id: a
		// token is never handed out twice.
		return tx.Put(bucketRetired, key, nil)
	})
}

// Patch applies the RFC 6902 JSON Patch ops to the public representation of
// the secure token id of terminal, under the path policy of its source
// type, validates the result and saves it, all in one transaction — so
// concurrent patches serialize and a "test" op is a precondition on the
// state it runs against. Errors:
//
//   - a malformed patch, paths the resource's schema does not have (one
//     fault for each, in any op, naming the nearest path that exists), a
//     path the document lacks when applied, a patched resource that breaks
//     the contract: a *cardvault.InvalidError (cardvault.ErrInvalid);
//   - an op naming an immutable member: a *ImmutableError
//     (cardvault.ErrConflict, the publisher's 409 cannot-be-modified);
//   - a failed "test": an error wrapping patch.ErrTestFailed
//     (cardvault.ErrConflict).
//
// Nothing changes on any error.
func (s *Service) Patch(ctx context.Context, terminal, id string, ops []byte) (Resource, error) {
	if checkTerminal(terminal) != nil || checkID("secureTokenId", id, 1, 200) != nil {
		return Resource{}, ErrNotFound
	}
	kek, err := s.kek(ctx, terminal, false)
	if err != nil {
		return Resource{}, err
	}
	var res Resource
	err = s.st.Update(ctx, func(tx store.Tx) error {
		old, env, err := s.open(tx, kek, terminal, id)
		if err != nil {
			return err
		}
		pol, err := patchPolicy(old.Source.Type)
		if err != nil {
			return err
		}
		p, err := patch.DecodeWith(ops, patch.Options{Policy: pol})
		if err != nil {
			return patchFault(err, PolicyFor(old.Source.Type))
		}
		if err := unknownPaths(ops, PolicyFor(old.Source.Type)); err != nil {
			return err
		}
		doc, err := old.PublicJSON()
		if err != nil {
			return err
		}
		patched, err := p.Apply(doc)
		if err != nil {
			return patchFault(err, PolicyFor(old.Source.Type))
		}
		rec, err := ApplyPublic(old, patched)
		if err != nil {
			return err
		}
		res = rec.Public()
		return s.put(tx, kek, rec, env, &old)
	})
	if err != nil {
		return Resource{}, err
	}
	return res, nil
}

// unknownPaths reports every pointer of a decoded patch (each op's path,
// and the from of move and copy) that names no member of the resource,
// each with the nearest that does — all of them at once, where applying
// the patch would stop at the first.
func unknownPaths(ops []byte, pol PathPolicy) error {
	bad := &cardvault.InvalidError{}
	for i, op := range gjson.ParseBytes(ops).Array() {
		name := op.Get("op").Str // one of the six: the patch decoded
		keys := []string{"path"}
		if name == "move" || name == "copy" {
			keys = append(keys, "from")
		}
		for _, key := range keys {
			ptr := op.Get(key)
			if ptr.Type != gjson.String || pol.Exists(ptr.Str) {
				continue
			}
			var unknown *cardvault.InvalidError
			if errors.As(pol.unknown(ptr.Str), &unknown) {
				for _, f := range unknown.Fields {
					f.Message = fmt.Sprintf("op %d (%s), its %s: %s", i, name, key, f.Message)
					bad.Fields = append(bad.Fields, f)
				}
			}
		}
	}
	return bad.Err()
}

// policies are the compiled patch policies per source type.
var policies sync.Map // SourceType → *patch.Policy

func patchPolicy(t SourceType) (*patch.Policy, error) {
	if p, ok := policies.Load(t); ok {
		return p.(*patch.Policy), nil
	}
	p, err := patch.NewPolicy(nil, PolicyFor(t).ImmutablePaths())
	if err != nil {
		return nil, fmt.Errorf("securetoken: the path policy of %s: %w", t, err)
	}
	policies.Store(t, p)
	return p, nil
}

// patchFault turns an error of package patch into the fault a client can
// act on: the op's pointer as the field, and for a path that does not
// exist, the nearest one that does. An op on an immutable member is an
// ImmutableError, like the one ApplyPublic gives for a change it finds.
func patchFault(err error, pol PathPolicy) error {
	var oe *patch.OpError
	if !errors.As(err, &oe) {
		bad := &cardvault.InvalidError{}
		detail := "invalid patch"
		var je *jsonx.Error
		if errors.Is(err, jsonx.ErrTooDeep) && errors.As(err, &je) {
			// Nesting is not size: a patch of a few hundred bytes nested
			// too deeply is a bad request, as it is in a create body, not
			// a payload too large.
			bad.Add("body", "nested too deeply", fmt.Sprintf("the patch is nested too deeply at offset %d (%s)", je.Offset, je.Detail))
			return bad
		}
		if errors.Is(err, patch.ErrTooLarge) {
			return err
		}
		bad.Add("body", detail, "must be an RFC 6902 JSON Patch document: "+err.Error())
		return bad
	}
	where := "/" + strconv.Itoa(oe.Index) + "/path"
	ptr := oe.Path
	if oe.From != "" && !pol.Exists(oe.From) && errors.Is(err, patch.ErrPathNotFound) {
		where, ptr = "/"+strconv.Itoa(oe.Index)+"/from", oe.From
	}
	switch {
	case errors.Is(err, patch.ErrPathNotAllowed):
		imm := &ImmutableError{}
		imm.add(ptr)
		return imm
	case errors.Is(err, patch.ErrTestFailed), errors.Is(err, patch.ErrTooLarge):
		return err
	case errors.Is(err, patch.ErrPathNotFound):
		bad := &cardvault.InvalidError{}
		msg := oe.Error()
		if n := pol.Nearest(ptr); n != "" && n != ptr {
			msg += "; the nearest valid path is " + n
		}
		bad.Fields = append(bad.Fields, cardvault.FieldError{Field: ptr, Detail: "path not found", Message: msg})
		return bad
	}
	bad := &cardvault.InvalidError{}
	bad.Add(where, "invalid operation", oe.Error())
	return bad
}

// UpdateAccount replaces the payment details of the secure token id of
// terminal with those a single-use token stands for, using the token up in
// the same transaction; contact details, mitAgreement and custom fields
// stay. The token is not used up if the update fails. Errors: ErrNotFound
// for a secure token terminal does not have; ErrSingleUseNotFound for a
// single-use token that does not exist or is another terminal's; a
// *cardvault.InvalidError at /token for one used or expired already.
func (s *Service) UpdateAccount(ctx context.Context, terminal, id string, req AccountUpdateRequest) (Resource, error) {
	if checkTerminal(terminal) != nil || checkID("secureTokenId", id, 1, 200) != nil {
		return Resource{}, ErrNotFound
	}
	if err := req.Validate(); err != nil {
		return Resource{}, err
	}
	kek, err := s.kek(ctx, terminal, false)
	if err != nil {
		return Resource{}, err
	}
	var res Resource
	err = s.redeem(ctx, terminal, req.Token, "/token", ErrSingleUseNotFound, func(tx store.Tx, src Source) error {
		old, env, err := s.open(tx, kek, terminal, id)
		if err != nil {
			return err
		}
		rec := old.WithSource(src)
		if err := rec.Validate(); err != nil {
			return err
		}
		res = rec.Public()
		return s.put(tx, kek, rec, env, &old)
	})
	if err != nil {
		return Resource{}, err
	}
	return res, nil
}

// CreateSingleUseToken saves the payment details of req for terminal under
// a single-use token (128 characters, 30 minutes, usable once) and returns
// the publisher's reply with the details masked.
func (s *Service) CreateSingleUseToken(ctx context.Context, terminal string, req SingleUseTokenRequest) (SingleUseTokenResponse, error) {
	if s.capture == nil {
		return SingleUseTokenResponse{}, ErrNoSingleUse
	}
	if err := checkTerminal(terminal); err != nil {
		return SingleUseTokenResponse{}, err
	}
	if err := req.Validate(); err != nil {
		return SingleUseTokenResponse{}, err
	}
	src, ok := req.Source.StoredSource()
	if !ok {
		return SingleUseTokenResponse{}, fmt.Errorf("securetoken: the source cannot be saved: %w", cardvault.ErrInvalid)
	}
	details, err := src.MarshalBinary()
	if err != nil {
		return SingleUseTokenResponse{}, err
	}
	defer clear(details)
	su, err := s.capture.MintSingleUse(ctx, terminal, details)
	if err != nil {
		return SingleUseTokenResponse{}, err
	}
	return NewSingleUseTokenResponse(terminal, su.Token, su.ExpiresAt, src), nil
}
