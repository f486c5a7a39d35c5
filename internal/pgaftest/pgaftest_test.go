package pgaftest

import (
	"testing"
	"time"

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
		// Three data nodes.
		{"three, healthy", []Node{n("node1", "primary", "primary"), n("node2", "secondary", "secondary"), n("node3", "secondary", "secondary")}, "node1", true},
		{"three, electing", []Node{n("node1", "demote_timeout", "demote_timeout"), n("node2", "report_lsn", "report_lsn"), n("node3", "secondary", "report_lsn")}, "", false},
		{"three, other standby not yet following", []Node{n("node1", "secondary", "secondary"), n("node2", "join_secondary", "secondary"), n("node3", "primary", "primary")}, "node3", false},
		{"three, old primary away", []Node{n("node1", "demoted", "demoted"), n("node2", "primary", "primary"), n("node3", "secondary", "secondary")}, "node2", false},
		{"three, one standby lost", []Node{n("node1", "primary", "primary"), n("node2", "secondary", "catchingup"), n("node3", "secondary", "secondary")}, "node1", false},
		{"three, after the switchover", []Node{n("node1", "secondary", "secondary"), n("node2", "primary", "primary"), n("node3", "secondary", "secondary")}, "node2", true},
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

// How long a node was wait_primary, by the monitor's events.
func TestAlone(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	events := []Event{
		{At: at(0), Node: "node1", Reported: "primary", Goal: "primary"},
		{At: at(100), Node: "node2", Reported: "stop_replication", Goal: "wait_primary"},
		{At: at(200), Node: "node2", Reported: "wait_primary", Goal: "wait_primary"},
		{At: at(300), Node: "node3", Reported: "wait_primary", Goal: "wait_primary"}, // another node
		{At: at(400), Node: "node2", Reported: "wait_primary", Goal: "primary"},
		{At: at(500), Node: "node2", Reported: "primary", Goal: "primary"},
		{At: at(1000), Node: "node2", Reported: "primary", Goal: "wait_primary"}, // its standbys lost
		{At: at(1200), Node: "node1", Reported: "secondary", Goal: "secondary"},
	}
	require.Equal(t, 400*time.Millisecond+200*time.Millisecond, Alone(events, "node2", t0), "two windows, the last one open")
	require.Equal(t, 200*time.Millisecond, Alone(events, "node2", at(600)), "since")
	require.Zero(t, Alone(events, "node1", t0), "never wait_primary")
	require.Equal(t, 900*time.Millisecond, Alone(events, "node3", t0), "open until the last event")
}
