package pgaftest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Which node is primary, and when the formation has settled, as the
// monitor's states say it.
func TestPrimaryAndSettled(t *testing.T) {
	n := func(name, reported, goal string) Node { return Node{Name: name, Reported: reported, Goal: goal} }
	tests := []struct {
		name    string
		nodes   []Node
		primary string // "" none
		settled bool
	}{
		{"healthy", []Node{n("node1", "primary", "primary"), n("node2", "secondary", "secondary")}, "node1", true},
		{"primary alone", []Node{n("node1", "demoted", "demoted"), n("node2", "wait_primary", "wait_primary")}, "node2", false},
		{"being promoted", []Node{n("node1", "primary", "demote_timeout"), n("node2", "prepare_promotion", "stop_replication")}, "", false},
		{"standby catching up", []Node{n("node1", "catchingup", "secondary"), n("node2", "primary", "primary")}, "node2", false},
		{"draining", []Node{n("node1", "primary", "draining"), n("node2", "secondary", "prepare_promotion")}, "", false},
	}
	for _, tc := range tests {
		p, ok := Primary(tc.nodes)
		require.Equal(t, tc.primary, p, tc.name)
		require.Equal(t, tc.primary != "", ok, tc.name)
		if ok {
			require.Equal(t, tc.settled, Settled(tc.nodes, p), tc.name)
		}
	}
	require.False(t, Settled([]Node{n("node1", "primary", "primary")}, "node1"), "no standby")
}
