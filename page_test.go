package cardvault_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
)

func TestPageSize(t *testing.T) {
	for limit, want := range map[int]int{-1: cardvault.MaxPage, 0: cardvault.MaxPage, 1: 1, 999: 999, 1000: 1000, 1001: cardvault.MaxPage} {
		require.Equal(t, want, cardvault.PageSize(limit), "limit %d", limit)
	}
}
