package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/pgtest"
)

// A private server keeps its data across an immediate stop and a start on
// the same port, and refuses connections while it is down.
func TestPrivateServerRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.StartPrivate(t)
	url := p.CreateDatabase(t, "restart_me")

	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	p.Stop(t, "immediate")
	_, err = pgx.Connect(ctx, url)
	require.Error(t, err, "the server is down")

	p.Start(t)
	conn, err = pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var x int
	require.NoError(t, conn.QueryRow(ctx, "SELECT x FROM t").Scan(&x))
	require.Equal(t, 42, x, "the committed row survived the immediate stop")
}
