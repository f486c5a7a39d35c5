// Package browsertest runs tests in a real browser: Debian's headless
// Chromium, driven over the DevTools protocol with
// github.com/chromedp/chromedp.
//
// # Finding Chromium
//
// [Start] runs the binary named by the environment variable
// CARDVAULT_TEST_CHROMIUM (`make test` sets it with
// scripts/ensure-chromium.sh), or else the first of chromium,
// chromium-browser, google-chrome-stable on PATH. When there is none the test
// FAILS, naming `apt-get install chromium`: a skipped browser test would
// report green for a page that never ran.
//
// # One browser, one tab per test
//
// Starting Chromium costs about a second, so a package starts one [Browser]
// (in TestMain or a parent test) and gives each subtest its own [Tab] with
// [Browser.NewTab]: a fresh tab with its own deadline. The browser runs
// with a fresh temporary profile (--user-data-dir) and with the flags
// --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
// --disable-background-networking --disable-component-update --disable-sync,
// so it talks to nothing but the test's own servers.
//
// # Console errors and CSP violations
//
// A Tab records what the page writes to the console: console.error calls,
// uncaught exceptions, and the browser's own log entries — where Chromium
// reports Content-Security-Policy violations. At the end of the test the
// Tab fails the test for every CSP violation it saw, unless the test said
// it expected one with [Tab.ExpectCSPViolation]. [Tab.ConsoleErrors]
// returns the rest for the test to judge.
//
// # Frames
//
// [Tab.Frame] gives a handle on an iframe's document to act inside it. An
// iframe from the same site is part of the page's DOM tree and is reached
// through its node; an iframe from another site (say the page on localhost
// and the frame on 127.0.0.1) runs in its own renderer process, and Frame
// attaches to that process's target and records its console too.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jsonv2 "github.com/chromedp/cdproto/cdp/jsonv2"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// EnvChromium names the variable that holds the path of the Chromium binary.
const EnvChromium = "CARDVAULT_TEST_CHROMIUM"

// startTimeout bounds the browser's start.
const startTimeout = 30 * time.Second

// flags are the command-line flags the browser runs with, besides
// --user-data-dir.
var flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

// Browser is one running Chromium.
type Browser struct {
	ctx    context.Context // the browser's first tab; its cancel stops Chromium
	cancel context.CancelFunc
}

// Chromium returns the path of the Chromium binary, or fails t.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("browsertest: %s=%q is not an executable: %v", EnvChromium, p, err)
		}
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatalf("browsertest: this test needs Chromium: install Debian's package with `apt-get install chromium` "+
		"(`make test` does it when it runs as root), or set %s to a Chromium or Chrome binary", EnvChromium)
	return ""
}

// Start starts a headless Chromium with a fresh profile for t and its
// subtests; it stops when t ends. Start fails t when Chromium is missing or
// does not start.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := Chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()), // removed after the browser stops: cleanups run last-in, first-out
	}
	for _, f := range flags {
		opts = append(opts, chromedp.Flag(strings.TrimPrefix(f, "--"), true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: ctx, cancel: func() { cancelCtx(); cancelAlloc() }}
	t.Cleanup(b.cancel)

	// The first Do starts the browser and binds it to ctx, which must not
	// carry the start's deadline; a timer cancels a start that hangs.
	timer := time.AfterFunc(startTimeout, b.cancel)
	err := chromedp.Do(ctx)
	timer.Stop()
	if err != nil {
		t.Fatalf("browsertest: starting %s: %v", path, err)
	}
	return b
}

// Tab is one browser tab of one test.
type Tab struct {
	// Ctx runs actions in the tab: chromedp.Do(tab.Ctx, ...). It ends at
	// the tab's deadline.
	Ctx context.Context
	t   testing.TB
	rec *recorder
}

// recorder keeps the console messages of a tab and its frames.
type recorder struct {
	mu       sync.Mutex
	errors   []string
	csp      []string
	expected []string // substrings of expected CSP violations
}

// listener returns a chromedp listener that records the console of one
// target. chromedp calls it from the target's first message on, so it also
// sees the entries that Log.enable replays when it attaches to a frame that
// loaded already.
func (r *recorder) listener(where string) func(ev any) {
	return func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				r.add(where, false, argsText(e.Args))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			r.add(where, false, text+at(d.URL))
		case *log.EventEntryAdded:
			en := e.Entry
			switch {
			case isCSPViolation(en):
				r.add(where, true, en.Text+at(en.URL))
			case en.Level == log.EntryLevelError && !strings.HasSuffix(en.URL, "/favicon.ico"):
				// The browser, not the page, asks for /favicon.ico; a
				// test server's 404 for it says nothing about the page.
				r.add(where, false, en.Text+at(en.URL))
			}
		}
	}
}

func (r *recorder) add(where string, csp bool, text string) {
	text = redact(text)
	r.mu.Lock()
	defer r.mu.Unlock()
	if csp {
		r.csp = append(r.csp, where+": "+text)
	} else {
		r.errors = append(r.errors, where+": "+text)
	}
}

func at(url string) string {
	if url == "" {
		return ""
	}
	return " (" + url + ")"
}

// queryString matches the query of a URL in a message.
var queryString = regexp.MustCompile(`(https?://[^\s'"?#]*)\?[^\s'"#)]*`)

// redact drops the query strings of the URLs in a message: a page's URL can
// carry a secret (the hosted form's does), and messages end up in test
// output.
func redact(s string) string { return queryString.ReplaceAllString(s, "$1?…") }

// argsText joins a console call's arguments as the console shows them.
func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		var s string
		switch {
		case a.Type == runtime.RemoteObjectTypeString:
			if err := jsonv2.Unmarshal(a.Value, &s); err != nil {
				s = string(a.Value)
			}
		case a.Description != "":
			s = a.Description
		case len(a.Value) > 0:
			s = string(a.Value)
		default:
			s = string(a.UnserializableValue)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// isCSPViolation recognizes Chromium's report of a Content-Security-Policy
// violation: a log entry that says it "violates the following Content
// Security Policy directive", or any "Refused to ..." of the security
// source.
func isCSPViolation(en *log.Entry) bool {
	return strings.Contains(en.Text, "Content Security Policy") ||
		en.Source == log.EntrySourceSecurity && strings.Contains(en.Text, "Refused to")
}

// NewTab opens a tab for t that lives until t ends; its Ctx has the given
// deadline. When t ends, the tab fails t for each CSP violation it saw that
// the test did not expect.
func (b *Browser) NewTab(t testing.TB, timeout time.Duration) *Tab {
	t.Helper()
	rec := &recorder{}
	tabCtx, cancelTab := chromedp.NewContext(b.ctx, chromedp.WithListener(rec.listener("page")))
	// As for the browser, the first Do binds the tab to its context: a
	// deadline there would close the tab, not only end the action.
	if err := chromedp.Do(tabCtx); err != nil {
		cancelTab()
		t.Fatalf("browsertest: opening a tab: %v", err)
	}
	ctx, cancelDeadline := context.WithTimeout(tabCtx, timeout)
	tab := &Tab{Ctx: ctx, t: t, rec: rec}
	t.Cleanup(func() {
		cancelDeadline()
		cancelTab()
		tab.checkCSP()
	})
	return tab
}

// Do runs actions in the tab and fails the test on an error.
func (tab *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	if err := chromedp.Do(tab.Ctx, actions...); err != nil {
		tab.t.Fatalf("browsertest: %v", err)
	}
}

// ExpectCSPViolation tells the tab that the test provokes a CSP violation
// whose report contains substr, so that it does not fail the test.
func (tab *Tab) ExpectCSPViolation(substr string) {
	tab.rec.mu.Lock()
	defer tab.rec.mu.Unlock()
	tab.rec.expected = append(tab.rec.expected, substr)
}

// CSPViolations returns the CSP violations reported so far, expected or
// not.
func (tab *Tab) CSPViolations() []string {
	tab.rec.mu.Lock()
	defer tab.rec.mu.Unlock()
	return append([]string(nil), tab.rec.csp...)
}

// ConsoleErrors returns the console errors and uncaught exceptions so far,
// CSP violations aside.
func (tab *Tab) ConsoleErrors() []string {
	tab.rec.mu.Lock()
	defer tab.rec.mu.Unlock()
	return append([]string(nil), tab.rec.errors...)
}

// checkCSP fails the test for each unexpected violation.
func (tab *Tab) checkCSP() {
	tab.rec.mu.Lock()
	defer tab.rec.mu.Unlock()
	for _, v := range tab.rec.csp {
		expected := false
		for _, e := range tab.rec.expected {
			expected = expected || strings.Contains(v, e)
		}
		if !expected {
			tab.t.Errorf("browsertest: Content-Security-Policy violation: %s", v)
		}
	}
}

// Frame is the document of an iframe in a tab.
type Frame struct {
	// Ctx runs actions in the frame's target: the tab's for an iframe of
	// the same site, the iframe's own for another site.
	Ctx context.Context
	// Query holds the options that make a CSS query search the frame's
	// document; pass them to every query action:
	// chromedp.Click(chromedp.CSS("#x"), frame.Query...).
	Query []chromedp.QueryOption
	// URL is the frame document's URL when it was found.
	URL string
	tab *Tab
}

// Frame waits until the first iframe that the CSS selector sel matches
// holds a document whose URL starts with urlPrefix, and returns it.
func (tab *Tab) Frame(sel, urlPrefix string) *Frame {
	tab.t.Helper()
	for {
		nodes, err := chromedp.Run(tab.Ctx, chromedp.Nodes(chromedp.CSS(sel), chromedp.AtLeast(0)))
		if err != nil {
			tab.t.Fatalf("browsertest: looking for %s: %v", sel, err)
		}
		if len(nodes) > 0 {
			n := nodes[0]
			// An iframe of the same site is in the page's DOM tree.
			if doc := n.ContentDocument; doc != nil && strings.HasPrefix(doc.DocumentURL, urlPrefix) {
				return &Frame{Ctx: tab.Ctx, URL: doc.DocumentURL, Query: []chromedp.QueryOption{chromedp.FromNode(n)}, tab: tab}
			}
			// An iframe of another site is a target of its own, whose id
			// is the frame's id.
			if n.FrameID != "" {
				infos, err := chromedp.Targets(tab.Ctx)
				if err != nil {
					tab.t.Fatalf("browsertest: listing targets: %v", err)
				}
				for _, info := range infos {
					if info.Type == "iframe" && string(info.TargetID) == string(n.FrameID) && strings.HasPrefix(info.URL, urlPrefix) {
						return tab.attach(info)
					}
				}
			}
		}
		select {
		case <-tab.Ctx.Done():
			tab.t.Fatalf("browsertest: no iframe %s with a document at %s: %v", sel, urlPrefix, tab.Ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (tab *Tab) attach(info *target.Info) *Frame {
	tab.t.Helper()
	// Detach on cancel: closing an iframe's target is not ours to do.
	ctx, cancel := chromedp.NewContext(tab.Ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel(),
		chromedp.WithListener(tab.rec.listener("frame "+redact(info.URL))))
	tab.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		tab.t.Fatalf("browsertest: attaching to the iframe at %s: %v", info.URL, err)
	}
	return &Frame{Ctx: ctx, URL: info.URL, tab: tab}
}

// Do runs actions in the frame and fails the test on an error.
func (f *Frame) Do(actions ...chromedp.Action[chromedp.Void]) {
	f.tab.t.Helper()
	if err := chromedp.Do(f.Ctx, actions...); err != nil {
		f.tab.t.Fatalf("browsertest: in the frame: %v", err)
	}
}
