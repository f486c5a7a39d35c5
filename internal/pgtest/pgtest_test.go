package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/pgtest"
)

// Two databases from URL are distinct and writable, and each starts empty.
func TestURLGivesFreshDatabases(t *testing.T) {
	ctx := context.Background()
	var names []string
	for range 2 {
		conn, err := pgx.Connect(ctx, pgtest.URL(t))
		require.NoError(t, err)
		var name string
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&name))
		var tables int
		require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables))
		require.Zero(t, tables)
		_, err = conn.Exec(ctx, "CREATE TABLE t (x int)")
		require.NoError(t, err)
		require.NoError(t, conn.Close(ctx))
		names = append(names, name)
	}
	require.NotEqual(t, names[0], names[1])
}
