package throttle_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/throttle"
)

func TestLimiter(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	l := throttle.New(throttle.Rate{Failures: 5, Per: time.Minute}, 0, clock.Now)

	require.Zero(t, l.Wait("a"), "a key never seen waits for nothing")
	require.False(t, l.Failed("a"))
	for i := range 4 {
		require.Zero(t, l.Fail("a"), "failure %d is within the burst", i+1)
		require.Zero(t, l.Wait("a"))
	}
	require.True(t, l.Failed("a"))
	require.Equal(t, 12*time.Second, l.Fail("a"), "the fifth fills the burst: one more every Per/Failures")
	require.Equal(t, 12*time.Second, l.Wait("a"))
	require.Zero(t, l.Wait("b"), "other keys are not held back")

	clock.Advance(6 * time.Second)
	require.Equal(t, 6*time.Second, l.Wait("a"), "the level drains continuously")
	clock.Advance(6 * time.Second)
	require.Zero(t, l.Wait("a"), "one attempt again")
	require.Equal(t, 12*time.Second, l.Fail("a"), "and, failed, the wait again")

	// Failures admitted past the limit (a concurrent burst) are counted:
	// the wait grows by Per/Failures each.
	require.Equal(t, 24*time.Second, l.Fail("a"))
	require.Equal(t, 36*time.Second, l.Fail("a"))

	// A drained key is forgotten.
	clock.Advance(time.Hour)
	require.False(t, l.Failed("a"))
	require.Zero(t, l.Wait("a"))
	require.Zero(t, l.Len(), "a key drained to zero is dropped when met")
}

func TestLimiterOff(t *testing.T) {
	for _, r := range []throttle.Rate{{}, {Failures: 0, Per: time.Minute}, {Failures: -1, Per: time.Minute}, {Failures: 3}} {
		l := throttle.New(r, 0, nil)
		require.Nil(t, l, "%+v limits nothing", r)
		for range 100 {
			require.Zero(t, l.Fail("a"))
		}
		require.Zero(t, l.Wait("a"))
		require.False(t, l.Failed("a"))
		require.Zero(t, l.Len())
	}
}

func TestLimiterConcurrent(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	l := throttle.New(throttle.Rate{Failures: 10, Per: 10 * time.Second}, 0, clock.Now)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() { l.Fail("k") })
	}
	wg.Wait()
	require.Equal(t, 55*time.Second, l.Wait("k"), "64 failures counted, none lost: (64-9) seconds")
}

func TestTableBound(t *testing.T) {
	tb := throttle.NewTable[int](3)
	for i := range 5 {
		tb.Update(fmt.Sprint(i), func(v *int, found bool) bool {
			require.False(t, found)
			*v = i
			return true
		})
	}
	require.Equal(t, 3, tb.Len(), "at most the bound")
	for _, k := range []string{"0", "1"} {
		_, ok := tb.Get(k)
		require.False(t, ok, "the least recently updated went first")
	}
	// Updating 2 makes it the most recent: 3 goes next.
	tb.Update("2", func(v *int, found bool) bool { require.True(t, found); *v += 10; return true })
	tb.Update("5", func(v *int, _ bool) bool { return true })
	_, ok := tb.Get("3")
	require.False(t, ok)
	v, ok := tb.Get("2")
	require.True(t, ok)
	require.Equal(t, 12, v)
	// fn returning false removes the key, or adds nothing.
	tb.Update("2", func(*int, bool) bool { return false })
	tb.Update("new", func(*int, bool) bool { return false })
	_, ok = tb.Get("2")
	require.False(t, ok)
	require.Equal(t, 2, tb.Len())
}

func TestLimiterMemoryBound(t *testing.T) {
	l := throttle.New(throttle.Rate{Failures: 3, Per: time.Minute}, 100, nil)
	for i := range 10_000 {
		l.Fail(fmt.Sprint("client-", i))
	}
	require.Equal(t, 100, l.Len())
}

func ExampleLimiter() {
	clock := testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	perClient := throttle.New(throttle.Rate{Failures: 3, Per: 3 * time.Minute}, 0, clock.Now)
	// A handler asks first, and counts only what failed.
	for range 3 {
		if wait := perClient.Wait("192.0.2.7"); wait > 0 {
			fmt.Println("429, Retry-After", wait)
			continue
		}
		fmt.Println("checked; wrong; now wait", perClient.Fail("192.0.2.7"))
	}
	fmt.Println("then", perClient.Wait("192.0.2.7"))
	// Output:
	// checked; wrong; now wait 0s
	// checked; wrong; now wait 0s
	// checked; wrong; now wait 1m0s
	// then 1m0s
}
