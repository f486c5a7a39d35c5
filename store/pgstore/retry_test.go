package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// Which failures run a transaction again: before COMMIT anything that is not
// the caller's or the schema's fault; at COMMIT only what proves nothing was
// committed.
func TestTransient(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name                 string
		err                  error
		beforeCommit, commit bool
	}{
		{"serialization failure", pg("40001"), true, true},
		{"deadlock", pg("40P01"), true, true},
		{"admin shutdown", pg("57P01"), true, false},
		{"server starting", pg("57P03"), true, false},
		{"connection failure", pg("08006"), true, false},
		{"too many connections", pg("53300"), true, false},
		{"read-only node", pg("25006"), true, false},
		{"statement timeout", pg("57014"), true, true},
		{"unique violation", pg("23505"), false, false},
		{"undefined table", pg("42P01"), false, false},
		{"connection cut", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true, false},
		// pgx's "conn closed" says it is safe to retry; at COMMIT it
		// may follow a FATAL that answered the COMMIT itself.
		{"conn closed", safeToRetryError{}, true, false},
		{"plain error", errors.New("something else"), false, false},
	}
	ctx := context.Background()
	for _, tc := range tests {
		require.Equal(t, tc.beforeCommit, transient(ctx, tc.err, true), "%s before COMMIT", tc.name)
		require.Equal(t, tc.commit, transient(ctx, tc.err, false), "%s at COMMIT", tc.name)
	}

	// At COMMIT, what does not retry is either a definite answer (the
	// server refused the commit and serves on) or an unknown outcome.
	unknown := []struct {
		name    string
		err     error
		unknown bool
	}{
		{"admin shutdown while waiting for the standby", pg("57P01"), true},
		{"crash shutdown", pg("57P02"), true},
		{"connection failure", pg("08006"), true},
		{"any FATAL", fmt.Errorf("w: %w", &pgconn.PgError{Code: "XX000", Severity: "FATAL"}), true},
		{"connection cut", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"conn closed after the COMMIT's FATAL", safeToRetryError{}, true},
		{"read timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, true},
		{"unique violation at a deferred check", pg("23505"), false},
		{"an error the server serves on after", pg("25006"), false},
	}
	for _, tc := range unknown {
		require.Equal(t, tc.unknown, commitUnknown(tc.err), tc.name)
	}
	require.True(t, transient(ctx, pg("57014"), false), "a statement timeout rolled back: run again")

	done, cancel := context.WithCancel(ctx)
	cancel()
	require.False(t, transient(done, pg("40001"), true), "a done context stops retrying")
	require.True(t, isConflict(pg("40P01")))
	require.False(t, isConflict(pg("57P01")))
}

func TestSchemaVersionIsTheLastMigration(t *testing.T) {
	require.Equal(t, len(migrations)-1, SchemaVersion)
}

// safeToRetryError is what pgconn's "conn closed" looks like.
type safeToRetryError struct{}

func (safeToRetryError) Error() string     { return "conn closed" }
func (safeToRetryError) SafeToRetry() bool { return true }
