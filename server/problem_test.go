package server

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/securetoken"
)

// Every kind of error has an answer in both APIs, and the secure-token
// API's status agrees with its problem type's.
func TestKindAnswers(t *testing.T) {
	for _, k := range cardvault.Kinds {
		a, ok := answerFor(k)
		require.True(t, ok, "%v has no answer", k)
		require.GreaterOrEqual(t, a.status, 400)
		p := securetoken.NewProblem("", a.anchor)
		require.Equal(t, "#"+a.anchor, p.Type, "%v: anchor %s is not a problem type", k, a.anchor)
	}
}
