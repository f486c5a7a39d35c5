package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/browsertest"
)

// fakeTB records what the harness reports instead of failing the real test,
// so that the test can check that the harness does fail a test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// run calls fn with f on its own goroutine, as a test would run, so that
// Fatalf can end it.
func (f *fakeTB) run(fn func(tb testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
}

func TestChromiumMissingFails(t *testing.T) {
	t.Run("bad variable", func(t *testing.T) {
		t.Setenv(browsertest.EnvChromium, "/nonexistent/chromium")
		f := &fakeTB{TB: t}
		f.run(func(tb testing.TB) { browsertest.Chromium(tb) })
		require.Len(t, f.errs, 1)
		require.Contains(t, f.errs[0], browsertest.EnvChromium)
	})
	t.Run("nothing on PATH", func(t *testing.T) {
		t.Setenv(browsertest.EnvChromium, "")
		t.Setenv("PATH", t.TempDir())
		f := &fakeTB{TB: t}
		f.run(func(tb testing.TB) { browsertest.Chromium(tb) })
		require.Len(t, f.errs, 1, "a missing browser fails the test, it does not skip it")
		require.Contains(t, f.errs[0], "apt-get install chromium")
	})
}

const nonce = "bm9uY2Utbm9uY2Utbm9uY2U"

// pages serves the test pages: /inner (a page with a strict CSP, an
// input, a blocked inline script and a console.error) and /outer?src=...
// (a page that frames src).
func pages() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/inner", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'")
		fmt.Fprintf(w, `<!doctype html><input id="in"><p id="out">inner</p>`+
			`<script>document.title = "inline ran"</script>`+
			`<script nonce="%s">console.error("boom"); document.getElementById("in").addEventListener("input",
				e => document.getElementById("out").textContent = "typed " + e.target.value)</script>`, nonce)
	})
	mux.HandleFunc("/outer", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><iframe id="f" src="%s"></iframe>`, r.URL.Query().Get("src"))
	})
	return mux
}

func TestBrowser(t *testing.T) {
	b := browsertest.Start(t)
	srv := httptest.NewServer(pages())
	t.Cleanup(srv.Close)
	// The same server under another site name: Chromium runs an iframe of
	// another site in a process of its own.
	otherSite := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	t.Run("records CSP violations and console errors", func(t *testing.T) {
		tab := b.NewTab(t, 10*time.Second)
		tab.ExpectCSPViolation("script-src 'nonce-" + nonce + "'")
		tab.Do(chromedp.Navigate(srv.URL + "/inner"))
		require.Eventually(t, func() bool { return len(tab.CSPViolations()) == 1 && len(tab.ConsoleErrors()) == 1 },
			5*time.Second, 10*time.Millisecond)
		require.Contains(t, tab.CSPViolations()[0], "Content Security Policy")
		require.Contains(t, tab.ConsoleErrors()[0], "boom")
		title, err := chromedp.Run(tab.Ctx, chromedp.Title())
		require.NoError(t, err)
		require.NotEqual(t, "inline ran", title, "the policy blocked the inline script")
	})

	t.Run("messages leave out query strings", func(t *testing.T) {
		tab := b.NewTab(t, 10*time.Second)
		tab.ExpectCSPViolation("script-src")
		tab.Do(chromedp.Navigate(otherSite + "/outer?src=" + url.QueryEscape(srv.URL+"/inner?secret=hunter2")))
		tab.Frame("#f", srv.URL+"/inner")
		require.Eventually(t, func() bool { return len(tab.CSPViolations()) == 1 && len(tab.ConsoleErrors()) == 1 },
			5*time.Second, 10*time.Millisecond)
		for _, m := range append(tab.CSPViolations(), tab.ConsoleErrors()...) {
			require.False(t, strings.Contains(m, "hunter2"), "a query string reached a message")
			require.Contains(t, m, "/inner?…")
		}
	})

	t.Run("an unexpected CSP violation fails the test", func(t *testing.T) {
		f := &fakeTB{TB: t}
		f.run(func(tb testing.TB) {
			tab := b.NewTab(tb, 10*time.Second)
			tab.Do(chromedp.Navigate(srv.URL + "/inner"))
			require.Eventually(t, func() bool { return len(tab.CSPViolations()) == 1 }, 5*time.Second, 10*time.Millisecond)
		})
		require.Empty(t, f.errs)
		f.runCleanups()
		require.Len(t, f.errs, 1)
		require.Contains(t, f.errs[0], "Content-Security-Policy violation")
	})

	for name, outer := range map[string]string{"same site": srv.URL, "another site": otherSite} {
		t.Run("acts in an iframe of "+name, func(t *testing.T) {
			tab := b.NewTab(t, 10*time.Second)
			tab.ExpectCSPViolation("script-src")
			tab.Do(chromedp.Navigate(outer + "/outer?src=" + srv.URL + "/inner"))
			frame := tab.Frame("#f", srv.URL+"/inner")
			frame.Do(chromedp.SendKeys(chromedp.CSS("#in"), "hello", frame.Query...))
			out, err := chromedp.Run(frame.Ctx, chromedp.Text(chromedp.CSS("#out"), frame.Query...))
			require.NoError(t, err)
			require.Equal(t, "typed hello", out)
			require.Eventually(t, func() bool {
				errs := tab.ConsoleErrors()
				return len(errs) == 1 && strings.Contains(errs[0], "boom")
			}, 5*time.Second, 10*time.Millisecond, "the frame's console is recorded: %q", tab.ConsoleErrors())
		})
	}
}
