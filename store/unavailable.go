package store

import (
	"context"
	"errors"
	"net"
)

// Unavailable reports whether err, of a call on a store or of work done in
// one of its transactions, means "try again" rather than a fault of the
// request: the call's deadline passed or its context was canceled, the
// store gave up retrying a conflict or is closed, it could not reach its
// storage ([ErrUnavailable], or a network error, such as pgstore's when
// PostgreSQL is down for longer than its retries last), or it lost its
// storage during a commit, whose outcome is then unknown
// ([ErrCommitUnknown]: a database failing over).
func Unavailable(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrConflict) || errors.Is(err, ErrClosed) ||
		errors.Is(err, ErrUnavailable) || errors.Is(err, ErrCommitUnknown) || errors.As(err, &netErr)
}
