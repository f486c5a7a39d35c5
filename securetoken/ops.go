package securetoken

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/patch"
	"github.com/cardvault/cardvault/store"
)

// Idempotent writes
//
// Every write of the Service — Create, Patch, UpdateAccount, Delete,
// CreateSingleUseToken — takes an *idempotency.Call (nil for none): its
// outcome is then kept under the call's principal and key in the very
// transaction that does the work, so that the same request sent again gets
// the first outcome without running again, even across a crash or from
// another process, and the same key with another request is
// idempotency.ErrKeyInUse. A request refused for the client's fault (a
// bad body, an unknown id) is kept too. See package idempotency.

// refuse answers a write that failed before its transaction (see
// idempotency.Keeper.Refuse).
func (s *Service) refuse(ctx context.Context, call *idempotency.Call, result any, err error) error {
	return s.idem.Refuse(ctx, call, result, err)
}

// Create saves the payment details of req under a new secure token of
// terminal and returns its resource. req.SecureTokenID names it, or an id
// is generated; an id in use is refused with ErrExists and the id of a
// deleted token with ErrIDRetired. A singleUseToken source is redeemed in
// the same transaction that saves the token, so it is used exactly once
// and only if the save succeeds.
func (s *Service) Create(ctx context.Context, terminal string, req CreateRequest, call *idempotency.Call) (Resource, error) {
	id, err := newTokenID(terminal, req)
	if err != nil {
		var res Resource
		return res, s.refuse(ctx, call, &res, err)
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
		c := creation{s: s, req: req, terminal: terminal, id: id, token: tok, kek: kek}
		res, err := c.create(ctx, call)
		if errors.Is(err, errTokenTaken) && attempt < 8 {
			continue // another process drew the same token a moment ago
		}
		return res, err
	}
}

// newTokenID checks a create request of terminal and returns the id of
// its secure token: the one it names, or a new one.
func newTokenID(terminal string, req CreateRequest) (string, error) {
	if err := checkTerminal(terminal); err != nil {
		return "", err
	}
	if err := req.Validate(); err != nil {
		return "", err
	}
	if req.SecureTokenID == "" {
		return newID(), nil
	}
	return req.SecureTokenID, checkID("secureTokenId", req.SecureTokenID, 1, 200)
}

// creation is one attempt of Create, with a token drawn for it.
type creation struct {
	s                   *Service
	req                 CreateRequest
	terminal, id, token string
	kek                 *crypto.DataKey
}

// create makes the record and saves it in the idempotent call's
// transaction. The record is built outside the transaction for a source
// the request carries, inside for a single-use token's, which only the
// transaction may redeem.
func (c *creation) create(ctx context.Context, call *idempotency.Call) (Resource, error) {
	var res Resource
	var prepared preparedRecord
	var public Resource
	if c.req.Source.Type != SourceSingleUseToken {
		src, ok := c.req.Source.StoredSource()
		if !ok {
			return res, c.s.refuse(ctx, call, &res, fmt.Errorf("securetoken: the source cannot be saved: %w", cardvault.ErrInvalid))
		}
		var err error
		if prepared, public, err = c.build(src); err != nil {
			return res, c.s.refuse(ctx, call, &res, err)
		}
	}
	err := c.s.idem.Run(ctx, call, &res, func(tx store.Tx) error {
		sr, pub := prepared, public
		if c.req.Source.Type == SourceSingleUseToken {
			src, err := c.s.redeem(ctx, tx, c.terminal, c.req.Source.SingleUseToken.Token, "/source/token", nil)
			if err != nil {
				return err
			}
			if sr, pub, err = c.build(src); err != nil {
				return err
			}
		}
		res = pub
		return c.save(ctx, tx, sr)
	})
	return res, err
}

// build makes the record of src and seals it.
func (c *creation) build(src Source) (preparedRecord, Resource, error) {
	rec := NewRecord(c.req, src)
	rec.SecureTokenID, rec.ProcessingTerminalID, rec.Token = c.id, c.terminal, c.token
	if err := rec.Validate(); err != nil {
		return preparedRecord{}, Resource{}, err
	}
	sr, err := c.s.seal(c.kek, rec, envelope{})
	return sr, rec.Public(), err
}

// save writes the sealed record in tx if its id was never used and its
// token is still free, and records the creation in the audit trail.
func (c *creation) save(ctx context.Context, tx store.Tx, sr preparedRecord) error {
	if err := refuseIfHeld(tx, bucketRetired, sr.key, ErrIDRetired); err != nil {
		return err
	}
	if err := refuseIfHeld(tx, bucketRecords, sr.key, ErrExists); err != nil {
		return err
	}
	if err := refuseIfHeld(tx, bucketTokens, []byte(c.token), errTokenTaken); err != nil {
		return err
	}
	if err := tx.Put(bucketTokens, []byte(c.token), sr.key); err != nil {
		return err
	}
	if err := c.s.write(tx, sr, nil); err != nil {
		return err
	}
	return c.s.record(ctx, tx, audit.OpSecureTokenCreated, c.terminal, c.id)
}

// refuseIfHeld returns held if tx has key in bucket, and nil if it has
// not.
func refuseIfHeld(tx store.Tx, bucket string, key []byte, held error) error {
	_, err := tx.Get(bucket, key)
	switch {
	case err == nil:
		return held
	case errors.Is(err, store.ErrNotFound):
		return nil
	}
	return err
}

// redeem uses up a single-use token of terminal inside tx and returns what
// it stands for, mapping its errors to a fault at field — except an unknown
// token (or another terminal's), which is unknown when that is not nil.
func (s *Service) redeem(ctx context.Context, tx store.Tx, terminal, token, field string, unknown error) (Source, error) {
	var src Source
	if s.capture == nil {
		return src, ErrNoSingleUse
	}
	details, err := s.capture.RedeemSingleUseTx(ctx, tx, terminal, token)
	if err == nil {
		defer clear(details)
		return src, src.UnmarshalBinary(details)
	}
	switch {
	case (errors.Is(err, capture.ErrTokenNotFound) || errors.Is(err, capture.ErrTerminal)) && unknown != nil:
		return src, unknown
	case errors.Is(err, capture.ErrTokenNotFound), errors.Is(err, capture.ErrTerminal):
		return src, singleUseFault(field, "unknown", "is not a single-use token of this processing terminal")
	case errors.Is(err, capture.ErrUsed):
		return src, singleUseFault(field, "already used", "was used already; a single-use token works once")
	case errors.Is(err, capture.ErrExpired):
		return src, singleUseFault(field, "expired", "has expired; single-use tokens last 30 minutes")
	}
	return src, err
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
	audit.NoteTo(ctx, s.audit, tokenEvent(audit.OpSecureTokenRead, terminal, id))
	return res, nil
}

// Delete deletes the secure token id of terminal: its sealed record and
// data key go (crypto-shredding), its index entries go, and its id and token
// are retired for good.
func (s *Service) Delete(ctx context.Context, terminal, id string, call *idempotency.Call) error {
	if checkTerminal(terminal) != nil || checkID("secureTokenId", id, 1, 200) != nil {
		return s.refuse(ctx, call, nil, ErrNotFound)
	}
	kek, err := s.kek(ctx, terminal, false)
	if err != nil {
		return s.refuse(ctx, call, nil, err)
	}
	return s.idem.Run(ctx, call, nil, func(tx store.Tx) error {
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
		if err := tx.Put(bucketRetired, key, nil); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.OpSecureTokenDeleted, terminal, id)
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
func (s *Service) Patch(ctx context.Context, terminal, id string, ops []byte, call *idempotency.Call) (Resource, error) {
	var res Resource
	if checkTerminal(terminal) != nil || checkID("secureTokenId", id, 1, 200) != nil {
		return res, s.refuse(ctx, call, &res, ErrNotFound)
	}
	kek, err := s.kek(ctx, terminal, false)
	if err != nil {
		return res, s.refuse(ctx, call, &res, err)
	}
	err = s.idem.Run(ctx, call, &res, func(tx store.Tx) error {
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
		if err := unknownPaths(p, PolicyFor(old.Source.Type)); err != nil {
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
		return s.putRecorded(ctx, tx, kek, rec, *env, &old, audit.OpSecureTokenPatched)
	})
	return res, err
}

// unknownPaths reports every pointer of a decoded patch (each op's path,
// and the from of move and copy) that names no member of the resource,
// each with the nearest that does — all of them at once, where applying
// the patch would stop at the first.
func unknownPaths(p patch.Patch, pol PathPolicy) error {
	bad := &cardvault.InvalidError{}
	for i, op := range p.Ops() {
		ptrs := []struct{ key, ptr string }{{"path", op.Path}}
		if op.Op == "move" || op.Op == "copy" {
			ptrs = append(ptrs, struct{ key, ptr string }{"from", op.From})
		}
		for _, pp := range ptrs {
			if pol.Exists(pp.ptr) {
				continue
			}
			var unknown *cardvault.InvalidError
			if errors.As(pol.unknown(pp.ptr), &unknown) {
				for _, f := range unknown.Fields {
					f.Message = fmt.Sprintf("op %d (%s), its %s: %s", i, op.Op, pp.key, f.Message)
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
// Package patch's messages repeat the patch's pointers (and jsonx's, its
// member names): they go through safePointer, as every fault's field does
// (a path not found passed unknownPaths first, so it is one of the
// resource's).
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
		bad.Add("body", detail, "must be an RFC 6902 JSON Patch document: "+safePointer(err.Error()))
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
	bad.Add(where, "invalid operation", safePointer(oe.Error()))
	return bad
}

// UpdateAccount replaces the payment details of the secure token id of
// terminal with those a single-use token stands for, using the token up in
// the same transaction; contact details, mitAgreement and custom fields
// stay. The token is not used up if the update fails. Errors: ErrNotFound
// for a secure token terminal does not have; ErrSingleUseNotFound for a
// single-use token that does not exist or is another terminal's; a
// *cardvault.InvalidError at /token for one used or expired already.
func (s *Service) UpdateAccount(ctx context.Context, terminal, id string, req AccountUpdateRequest, call *idempotency.Call) (Resource, error) {
	var res Resource
	if checkTerminal(terminal) != nil || checkID("secureTokenId", id, 1, 200) != nil {
		return res, s.refuse(ctx, call, &res, ErrNotFound)
	}
	if err := req.Validate(); err != nil {
		return res, s.refuse(ctx, call, &res, err)
	}
	kek, err := s.kek(ctx, terminal, false)
	if err != nil {
		return res, s.refuse(ctx, call, &res, err)
	}
	err = s.idem.Run(ctx, call, &res, func(tx store.Tx) error {
		src, err := s.redeem(ctx, tx, terminal, req.Token, "/token", ErrSingleUseNotFound)
		if err != nil {
			return err
		}
		old, env, err := s.open(tx, kek, terminal, id)
		if err != nil {
			return err
		}
		rec := old.WithSource(src)
		if err := rec.Validate(); err != nil {
			return err
		}
		res = rec.Public()
		return s.putRecorded(ctx, tx, kek, rec, *env, &old, audit.OpSecureTokenUpdatedFromSingle)
	})
	return res, err
}

// CreateSingleUseToken saves the payment details of req for terminal under
// a single-use token (128 characters, 30 minutes, usable once) and returns
// the publisher's reply with the details masked.
func (s *Service) CreateSingleUseToken(ctx context.Context, terminal string, req SingleUseTokenRequest, call *idempotency.Call) (SingleUseTokenResponse, error) {
	var res SingleUseTokenResponse
	if s.capture == nil {
		return res, ErrNoSingleUse
	}
	err := checkTerminal(terminal)
	if err == nil {
		err = req.Validate()
	}
	src, ok := req.Source.StoredSource()
	if err == nil && !ok {
		err = fmt.Errorf("securetoken: the source cannot be saved: %w", cardvault.ErrInvalid)
	}
	if err != nil {
		return res, s.refuse(ctx, call, &res, err)
	}
	details, err := src.MarshalBinary()
	if err != nil {
		return res, err
	}
	defer clear(details)
	err = s.idem.Run(ctx, call, &res, func(tx store.Tx) error {
		su, err := s.capture.MintSingleUseTx(ctx, tx, terminal, details)
		if err != nil {
			return err
		}
		res = NewSingleUseTokenResponse(terminal, su.Token, su.ExpiresAt, src)
		return nil
	})
	return res, err
}

// tokenEvent is an event about terminal's secure token id. It names the
// token by its secureTokenId only: the token itself is Luhn-valid by
// design, and the trail would redact it as a card number.
func tokenEvent(op audit.Op, terminal, id string) audit.Event {
	return audit.Event{Op: op, Outcome: audit.OutcomeOK, Terminal: terminal, Resource: id}
}

// record records op on terminal's secure token id in tx, the write's
// transaction — within the idempotency keeper's work, so that a replay
// records nothing new.
func (s *Service) record(ctx context.Context, tx store.Tx, op audit.Op, terminal, id string) error {
	return audit.RecordIn(ctx, s.audit, tx, tokenEvent(op, terminal, id))
}

// putRecorded saves rec over old, as put does, and records op on it.
func (s *Service) putRecorded(ctx context.Context, tx store.Tx, kek *crypto.DataKey, rec Record, env envelope, old *Record, op audit.Op) error {
	if err := s.put(tx, kek, rec, env, old); err != nil {
		return err
	}
	return s.record(ctx, tx, op, rec.ProcessingTerminalID, rec.SecureTokenID)
}
