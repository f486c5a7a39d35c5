package securetoken_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/patch"
	"github.com/cardvault/cardvault/securetoken"
)

func TestNewProblem(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want securetoken.Problem
	}{
		{securetoken.ProblemBadRequest, securetoken.Problem{Type: "https://e.example#bad-request", Title: "Bad request", Status: 400,
			Detail: "One or more validation errors occurred, see error section for more info"}},
		{securetoken.ProblemIdemInUse, securetoken.Problem{Type: "https://e.example#idempotency-key-in-use", Title: "Idempotency-Key in use",
			Status: 409, Detail: "'Idempotency-Key' is already in use against a different request"}},
		{securetoken.ProblemTooMany, securetoken.Problem{Type: "https://e.example#too-many-requests", Title: "Too many requests", Status: 429,
			Detail: "Too many failed attempts; try again after the time the Retry-After header gives"}},
		{"no-such-type", securetoken.Problem{Type: "https://e.example#api-error", Title: "Api error", Status: 500,
			Detail: "We are unable to process your request at this time"}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			require.Equal(t, &tc.want, securetoken.NewProblem("https://e.example", tc.typ))
		})
	}
}

func TestProblemFor(t *testing.T) {
	bad := &cardvault.InvalidError{}
	bad.Add("/customer/lastName", "too long", "at most 60 characters")
	imm := &securetoken.ImmutableError{Fields: []cardvault.FieldError{{Field: "/token", Detail: "cannot be modified", Message: "m"}}}
	_, testErr := patch.Apply([]byte(`{"a":1}`), []byte(`[{"op":"test","path":"/a","value":2}]`))
	for _, tc := range []struct {
		name   string
		err    error
		typ    string // "" for no problem of securetoken's
		errors []securetoken.ProblemError
	}{
		{"invalid, every field", fmt.Errorf("wrapped: %w", bad), securetoken.ProblemBadRequest,
			[]securetoken.ProblemError{{Parameter: "/customer/lastName", Detail: "too long", Message: "at most 60 characters"}}},
		{"immutable members", imm, securetoken.ProblemCannotBeModified,
			[]securetoken.ProblemError{{Parameter: "/token", Detail: "cannot be modified", Message: "m"}}},
		{"immutable, no members", securetoken.ErrImmutable, securetoken.ProblemCannotBeModified, nil},
		{"a failed test", testErr, securetoken.ProblemCannotBeModified, []securetoken.ProblemError{{Parameter: "/a", Detail: "test failed",
			Message: "the value at this path is not the one the test operation expects; nothing was changed"}}},
		{"key in use", idempotency.ErrKeyInUse, securetoken.ProblemIdemInUse, nil},
		{"id in use", securetoken.ErrExists, securetoken.ProblemAlreadyExists, []securetoken.ProblemError{{Parameter: "/secureTokenId",
			Detail: "already exists", Message: "a secure token with this secureTokenId exists on this processing terminal"}}},
		{"id retired", securetoken.ErrIDRetired, securetoken.ProblemAlreadyExists, []securetoken.ProblemError{{Parameter: "/secureTokenId",
			Detail: "retired", Message: "belonged to a secure token that was deleted; a secureTokenId is never reused"}}},
		{"a kind only", securetoken.ErrNotFound, "", nil},
		{"no kind", fmt.Errorf("something else"), "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := securetoken.ProblemFor("b", tc.err)
			if tc.typ == "" {
				require.False(t, ok)
				require.Nil(t, p)
				return
			}
			require.True(t, ok)
			require.Equal(t, "b#"+tc.typ, p.Type)
			require.Equal(t, tc.errors, p.Errors)
		})
	}
}
