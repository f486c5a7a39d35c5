package mustachex_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/mustachex"
)

func TestCacheHitIsParse(t *testing.T) {
	c := mustachex.NewCache(8, 1<<20)
	src := `{"number":"{{card_number}}","name":"{{card_holder}}"}`
	a, err := c.Parse(src, mustachex.JSON, mustachex.Limits{})
	require.NoError(t, err)
	b, err := c.Parse(src, mustachex.JSON, mustachex.Limits{})
	require.NoError(t, err)
	require.Same(t, a, b, "the second parse is the cached template")
	require.Equal(t, 1, c.Len())

	// Another escaping or other limits are another template.
	form, err := c.Parse(src, mustachex.Form, mustachex.Limits{})
	require.NoError(t, err)
	require.NotSame(t, a, form)
	require.Equal(t, mustachex.Form, form.Escape())
	small, err := c.Parse(src, mustachex.JSON, mustachex.Limits{MaxOutput: 10})
	require.NoError(t, err)
	require.NotSame(t, a, small)
	_, err = small.Render(data(t, item))
	require.ErrorIs(t, err, mustachex.ErrTooLarge, "the cached template keeps its own limits")
	// Zero limits and the defaults spelled out are the same template.
	d, err := c.Parse(src, mustachex.JSON, mustachex.Limits{MaxTemplate: mustachex.DefaultMaxTemplate})
	require.NoError(t, err)
	require.Same(t, a, d)

	// Rendering the cached template gives what a fresh one gives, for each
	// data in turn: nothing of one rendering stays in the template.
	fresh, err := mustachex.Parse(src, mustachex.JSON, mustachex.Limits{})
	require.NoError(t, err)
	for _, doc := range []string{item, `{"card_number":"5555555555554444","card_holder":"Grace"}`, item} {
		want, err := fresh.Render(data(t, doc))
		require.NoError(t, err)
		got, err := a.Render(data(t, doc))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
}

func TestCacheKeepsNoError(t *testing.T) {
	c := mustachex.NewCache(8, 1<<20)
	for _, src := range []string{"{{=<% %>=}}", "{{> partial}}", "{{{raw}}}", "{{#a}}{{#b}}{{/b}}{{/a}}", "{{unclosed"} {
		_, want := mustachex.Parse(src, mustachex.None, mustachex.Limits{})
		require.Error(t, want, src)
		for range 2 {
			_, err := c.Parse(src, mustachex.None, mustachex.Limits{})
			require.EqualError(t, err, want.Error(), src)
		}
	}
	_, err := c.Parse(strings.Repeat("x", 20), mustachex.None, mustachex.Limits{MaxTemplate: 10})
	require.ErrorIs(t, err, mustachex.ErrTooLarge)
	require.Zero(t, c.Len(), "no failed template is kept")
}

func TestCacheBounds(t *testing.T) {
	c := mustachex.NewCache(3, 1<<20)
	parse := func(src string) *mustachex.Template {
		t.Helper()
		tm, err := c.Parse(src, mustachex.None, mustachex.Limits{})
		require.NoError(t, err)
		return tm
	}
	a := parse("a {{x}}")
	parse("b {{x}}")
	parse("c {{x}}")
	require.Same(t, a, parse("a {{x}}"), "a is used again: b is now the oldest")
	parse("d {{x}}")
	require.Equal(t, 3, c.Len())
	require.Same(t, a, parse("a {{x}}"), "a stayed")
	b := parse("b {{x}}") // dropped, parsed again
	require.Same(t, b, parse("b {{x}}"))

	// The bytes bound: sources over an eighth of it are never kept, and
	// the total stays under it.
	c = mustachex.NewCache(100, 800)
	big := strings.Repeat("y", 101) + "{{x}}"
	require.NotSame(t, parse(big), parse(big))
	for i := range 20 {
		parse(fmt.Sprintf("%090d {{x}}", i)) // 96 bytes each
	}
	require.Equal(t, 8, c.Len(), "eight of 96 bytes fit in 800")
}

// Run with -race: goroutines parsing and rendering the same templates.
func TestCacheConcurrent(t *testing.T) {
	c := mustachex.NewCache(4, 1<<20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				src := fmt.Sprintf("n={{card_number}}&k=%d", (g+i)%6)
				tm, err := c.Parse(src, mustachex.Form, mustachex.Limits{})
				if err != nil {
					t.Error(err)
					return
				}
				d, err := mustachex.DataOf(fmt.Appendf(nil, `{"card_number":"4111 %04d"}`, g))
				if err != nil {
					t.Error(err)
					return
				}
				out, err := tm.Render(d)
				if err != nil || string(out) != fmt.Sprintf("n=4111+%04d&k=%d", g, (g+i)%6) {
					t.Errorf("%q %v", out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.LessOrEqual(t, c.Len(), 4)
}
