package securetoken

import (
	"context"
	"errors"
	"slices"

	"github.com/cardvault/cardvault/store"
)

// Page is one page of a list of secure tokens, in secureTokenId order.
type Page struct {
	Items []Resource
	// HasMore says more tokens match in the direction the request paged
	// (after its cursor, or before a "before" cursor).
	HasMore bool
	// Next is the cursor of the following page (list with After: Next),
	// Previous that of the preceding one (Before: Previous); "" when no
	// token matches there.
	Next, Previous string
}

// errEnough stops a scan once a page is full.
var errEnough = errors.New("enough")

// List returns a page of terminal's secure tokens that match every filter
// of q. Filters are answered from the keyed blind indexes (a hash of each
// normalized value): a list decrypts only the tokens it returns. Cursors
// are secureTokenIds, so paging is stable while tokens are added or
// deleted: each token is listed once, in id order.
func (s *Service) List(ctx context.Context, terminal string, q ListQuery) (Page, error) {
	if err := checkTerminal(terminal); err != nil {
		return Page{}, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	kek, err := s.kek(ctx, terminal, false)
	if errors.Is(err, ErrNotFound) {
		return Page{}, nil // a terminal that never saved a token has none
	}
	if err != nil {
		return Page{}, err
	}

	// Every filter is an index prefix; the first one drives the scan and
	// the others are point lookups. Without filters the records drive.
	var filters [][]byte
	add := func(field, value string) {
		if value != "" {
			filters = append(filters, s.indexPrefix(terminal, field, value))
		}
	}
	add("name", NormalizeName(q.CustomerName))
	add("email", NormalizeEmail(q.Email))
	add("phone", NormalizePhone(q.Phone))
	add("token", q.Token)
	add("first6", q.First6)
	add("last4", q.Last4)
	bucket, prefix := bucketRecords, recordKey(terminal, "")
	if len(filters) > 0 {
		bucket, prefix, filters = bucketIndex, filters[0], filters[1:]
	}

	var page Page
	err = s.st.View(ctx, func(tx store.Tx) error {
		page = Page{}
		match := func(id string) (bool, error) {
			if q.SecureTokenID != "" && id != q.SecureTokenID {
				return false, nil
			}
			for _, f := range filters {
				if _, err := tx.Get(bucketIndex, append(slices.Clip(f), id...)); errors.Is(err, store.ErrNotFound) {
					return false, nil
				} else if err != nil {
					return false, err
				}
			}
			return true, nil
		}
		// scan returns up to want matching ids after (forward) or before
		// (reverse) the cursor, nearest first.
		scan := func(cursor string, reverse bool, want int) ([]string, error) {
			r := store.Range{Start: prefix, End: store.PrefixEnd(prefix), Reverse: reverse}
			if q.SecureTokenID != "" {
				// One id at most can match: look at it alone.
				r = store.Range{Start: append(slices.Clip(prefix), q.SecureTokenID...)}
				r.End = append(slices.Clip(r.Start), 0)
				if cursor != "" && (!reverse && q.SecureTokenID <= cursor || reverse && q.SecureTokenID >= cursor) {
					return nil, nil
				}
			} else if cursor != "" {
				if reverse {
					r.End = append(slices.Clip(prefix), cursor...)
				} else {
					r.Start = append(append(slices.Clip(prefix), cursor...), 0)
				}
			}
			var ids []string
			err := tx.Scan(bucket, r, func(k, _ []byte) error {
				id := string(k[len(prefix):])
				ok, err := match(id)
				if err != nil || !ok {
					return err
				}
				if ids = append(ids, id); len(ids) == want {
					return errEnough
				}
				return nil
			})
			if errors.Is(err, errEnough) {
				err = nil
			}
			return ids, err
		}

		reverse := q.Before != ""
		cursor := q.After
		if reverse {
			cursor = q.Before
		}
		ids, err := scan(cursor, reverse, q.Limit+1)
		if err != nil {
			return err
		}
		if page.HasMore = len(ids) > q.Limit; page.HasMore {
			ids = ids[:q.Limit]
		}
		if reverse {
			slices.Reverse(ids)
		}
		for _, id := range ids {
			rec, _, err := s.open(tx, kek, terminal, id)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, rec.Public())
		}
		if len(ids) == 0 {
			return nil
		}
		first, last := ids[0], ids[len(ids)-1]
		// Is there a matching token beyond each end of the page?
		more := func(from string, reverse bool) (bool, error) {
			got, err := scan(from, reverse, 1)
			return len(got) > 0, err
		}
		after, before := page.HasMore && !reverse, page.HasMore && reverse
		if reverse {
			if after, err = more(last, false); err != nil {
				return err
			}
		} else if q.After != "" {
			if before, err = more(first, true); err != nil {
				return err
			}
		}
		if after {
			page.Next = last
		}
		if before {
			page.Previous = first
		}
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	return page, nil
}
