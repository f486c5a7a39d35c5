package server

// The end-to-end test: the real binary, built from examples/server, started
// on a free port — on boltstore, then on PostgreSQL (two processes sharing
// one database) — and driven over HTTP through every route of the
// vault/capture API, the seed's hosted-form flow and its manual capture POST
// in headless Chromium, the secure-token API (its responses validated
// against the contract like every other test's), a single-use token made
// by a hosted form in Chromium, and the four example client programs. On
// PostgreSQL it races one single-use token on both servers and replays an
// idempotent request on the server that did not run it. Its logs go to the
// sink TestMain scans for secrets.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/browsertest"
	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/internal/serverproc"
	"github.com/cardvault/cardvault/internal/testkit"
)

// buildBinaries builds the server and the example clients into dir.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/cardvault/cardvault/examples/server",
		"github.com/cardvault/cardvault/examples/capture-update",
		"github.com/cardvault/cardvault/examples/hosted-form",
		"github.com/cardvault/cardvault/examples/securetoken-patch",
		"github.com/cardvault/cardvault/examples/single-use-update")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return dir
}

// serverProc is a running server binary.
type serverProc struct {
	cmd            *exec.Cmd
	base           string // http://127.0.0.1:port
	stdout, stderr *testkit.Buffer
	exited         chan struct{}
	waitErr        error
}

var listening = regexp.MustCompile(`cardvault: listening on (http://\S+)`)

func startServer(t *testing.T, bin, dir string, env ...string) *serverProc {
	t.Helper()
	p := &serverProc{cmd: exec.Command(bin), stdout: &testkit.Buffer{}, stderr: &testkit.Buffer{}, exited: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(serverproc.CleanEnv(), env...)
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = io.MultiWriter(p.stderr, logSink)
	require.NoError(t, p.cmd.Start())
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.After(60 * time.Second)
	for {
		if m := listening.FindStringSubmatch(p.stdout.String()); m != nil {
			p.base = m[1]
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("the server exited: %v\n%s", p.waitErr, p.stderr.String())
		case <-deadline:
			t.Fatalf("the server did not start\n%s", p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and expects a graceful exit.
func (p *serverProc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop within 30 s of SIGTERM")
	}
	require.NoError(t, p.waitErr, "a graceful exit")
	require.Contains(t, p.stderr.String(), "shutting down")
	require.Contains(t, p.stderr.String(), "stopped")
}

// remote sends requests to a running server.
type remote struct {
	t    *testing.T
	base string
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func (c remote) do(r req) reply {
	c.t.Helper()
	hr, err := http.NewRequest(r.method, c.base+r.target(), r.bodyReader())
	require.NoError(c.t, err)
	r.setHeader(hr)
	resp, err := httpClient.Do(hr)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	checkContract(c.t, hr, resp.StatusCode, resp.Header, raw)
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

// caller authorizes key at the running server and returns a caller of its
// secure-token API.
func (c remote) caller(key access.APIKey) *tokenCaller {
	c.t.Helper()
	r := c.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": key.Key}})
	require.Equal(c.t, http.StatusOK, r.status, "%s", r.body)
	return &tokenCaller{t: c.t, send: c.do, bearer: secret("bearer token", r.json(c.t)["access_token"].(string))}
}

func (c remote) alice(method, path string, q url.Values, body string) reply {
	c.t.Helper()
	return c.do(req{method: method, path: path, query: q, body: body, basic: &aliceBasic})
}

func TestEndToEnd(t *testing.T) {
	bins := buildBinaries(t)
	b := browsertest.Start(t)
	m := browsertest.NewMerchant(t)
	common := []string{
		"CARDVAULT_ADDR=127.0.0.1:0", "CARDVAULT_SCRYPT_WORK_FACTOR=10", "CARDVAULT_ALLOW_HTTP_WEBHOOKS=true",
		"CARDVAULT_BASIC_AUTH=" + aliceBasic.Name + ":" + aliceBasic.Password + "," + bobBasic.Name + ":" + bobBasic.Password,
		"CARDVAULT_API_KEYS=" + keyAll.Key + ":*;" + keyTwo.Key + ":1234001,1234002",
	}

	t.Run("boltstore", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		env := append([]string{"CARDVAULT_DATA=" + data, "CARDVAULT_LOG_FORMAT=json"}, common...)
		p := startServer(t, filepath.Join(bins, "server"), t.TempDir(), env...)
		c := remote{t, p.base}
		k := exerciseServer(t, c, b, m, bins)
		p.stop(t)

		for path, mode := range map[string]os.FileMode{data: 0o700, filepath.Join(data, "master.key"): 0o600, filepath.Join(data, "cardvault.db"): 0o600} {
			info, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, mode, info.Mode().Perm(), path)
		}
		raw, err := os.ReadFile(filepath.Join(data, "cardvault.db"))
		require.NoError(t, err)
		for _, s := range []string{seedNumber, k.passphrase, aliceBasic.Password, keyAll.Key, `"cvv":"145"`} {
			require.False(t, bytes.Contains(raw, []byte(s)), "a secret is in clear in the bbolt file")
		}
		journal, err := filepath.Glob(filepath.Join(data, "cardvault.db.journal.*"))
		require.NoError(t, err)
		require.Empty(t, journal, "a clean stop checkpoints the journal into the file and removes it")

		// A restart loads the master key it made and finds everything.
		p = startServer(t, filepath.Join(bins, "server"), t.TempDir(), env...)
		c = remote{t, p.base}
		r := c.alice("GET", "/v1/vault", url.Values{"user": {k.user}}, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Contains(t, string(r.body), "my-reference")
		require.NotContains(t, p.stdout.String(), "dev mode", "explicit credentials: none generated")
		p.stop(t)

		// A master-key rotation: -rotate-master-key adds an identity and
		// re-wraps; after the old identity is removed from the file, the
		// server still opens everything (the card needs its passphrase too).
		out, err := exec.Command(filepath.Join(bins, "server"), "-rotate-master-key", "-data", data).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "wrapped keys moved to it")
		keyFile := filepath.Join(data, "master.key")
		raw, err = os.ReadFile(keyFile)
		require.NoError(t, err)
		identities := regexp.MustCompile(`(?m)^AGE-SECRET-KEY-\S+$`).FindAllString(string(raw), -1)
		require.Len(t, identities, 2, "the new identity and the old one")
		require.NoError(t, os.WriteFile(keyFile, []byte(identities[0]+"\n"), 0o600))
		p = startServer(t, filepath.Join(bins, "server"), t.TempDir(), env...)
		c = remote{t, p.base}
		r = c.alice("GET", "/v1/vault", url.Values{"user": {k.user}}, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var listed map[string][]map[string]string
		require.NoError(t, json.Unmarshal(r.body, &listed))
		require.NotEmpty(t, listed[k.user])
		item := listed[k.user][0]
		r = c.alice("GET", "/v1/vault", url.Values{"user": {k.user}, "passphrase": {k.passphrase}, "token": {item["token"]}, "reference": {item["reference"]}}, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Contains(t, string(r.body), `"card_number"`, "the card opens after the rotation")
		p.stop(t)
	})

	t.Run("pgstore, two servers", func(t *testing.T) {
		pg := pgtest.URL(t)
		keyFile := filepath.Join(t.TempDir(), "master.key")
		_, err := crypto.CreateKeyringFile(keyFile)
		require.NoError(t, err)
		identity, err := os.ReadFile(keyFile)
		require.NoError(t, err)
		master := strings.TrimSpace(string(identity))
		secret("master key", master[strings.LastIndex(master, "AGE-SECRET-KEY"):])
		env := append([]string{"CARDVAULT_POSTGRES_URL=" + pg, "CARDVAULT_MASTER_KEY=" + master, "CARDVAULT_LOG_FORMAT=text"}, common...)
		p1 := startServer(t, filepath.Join(bins, "server"), t.TempDir(), append(env, "CARDVAULT_DATA="+filepath.Join(t.TempDir(), "d1"))...)
		p2 := startServer(t, filepath.Join(bins, "server"), t.TempDir(), append(env, "CARDVAULT_DATA="+filepath.Join(t.TempDir(), "d2"))...)
		c1, c2 := remote{t, p1.base}, remote{t, p2.base}
		exerciseServer(t, c1, b, m, bins)
		acrossProcesses(t, c1, c2)

		// What one server writes, the other reads; a capture endpoint made
		// on one is redeemed on the other.
		pass := secret("passphrase", "shared-"+crypto.NewID(8))
		require.Equal(t, http.StatusOK, c1.alice("POST", "/v1/key", nil, `{"user":"shared","passphrase":"`+pass+`"}`).status)
		r := c1.alice("POST", "/v1/vault", url.Values{"user": {"shared"}, "passphrase": {pass}, "reference": {"s"}}, seedCard)
		require.Equal(t, http.StatusOK, r.status)
		tok := r.json(t)["token"].(string)
		r = c2.alice("GET", "/v1/vault", url.Values{"user": {"shared"}, "passphrase": {pass}, "token": {tok}, "reference": {"s"}}, "")
		require.JSONEq(t, seedCard, string(r.body))
		g := c1.alice("POST", "/v1/capture", url.Values{"user": {"shared"}, "passphrase": {pass}, "token": {tok}, "unique_id": {"cross"}}, "").json(t)
		r = c2.do(req{method: "POST", path: "/v1/capture/cross", body: `{"note":"via two"}`,
			header: map[string]string{headerCaptureSecret: secret("capture secret", g["secret"].(string))}})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r = c1.alice("GET", "/v1/vault", url.Values{"user": {"shared"}, "passphrase": {pass}, "token": {tok}, "reference": {"s"}}, "")
		require.Contains(t, string(r.body), "via two")
		p1.stop(t)
		p2.stop(t)
	})

	t.Run("dev mode", func(t *testing.T) {
		dir := t.TempDir() // the working directory: the data dir is ./cardvault-data
		p := startServer(t, filepath.Join(bins, "server"), dir, "CARDVAULT_ADDR=127.0.0.1:0", "CARDVAULT_SCRYPT_WORK_FACTOR=10")
		out := p.stdout.String()
		require.Contains(t, out, "dev mode")
		basic := regexp.MustCompile(`HTTP Basic:\s+(\S+):(\S+)`).FindStringSubmatch(out)
		key := regexp.MustCompile(`x-api-key:\s+(\S+)`).FindStringSubmatch(out)
		require.NotNil(t, basic)
		require.NotNil(t, key)
		dev := access.Account{Name: basic[1], Password: secret("password", basic[2])}
		apiKey := secret("api key", key[1])
		c := remote{t, p.base}
		r := c.do(req{method: "POST", path: "/v1/key", body: `{"user":"dev-user"}`, basic: &dev})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		secret("passphrase", r.json(t)["passphrase"].(string))
		r = c.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": apiKey}})
		require.Equal(t, http.StatusOK, r.status)
		secret("bearer token", r.json(t)["access_token"].(string))
		p.stop(t)

		data := filepath.Join(dir, "cardvault-data")
		for path, mode := range map[string]os.FileMode{data: 0o700, filepath.Join(data, "master.key"): 0o600,
			filepath.Join(data, "dev-credentials.json"): 0o600} {
			info, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, mode, info.Mode().Perm(), path)
		}
		// A restart prints the same credentials, which still work.
		p = startServer(t, filepath.Join(bins, "server"), dir, "CARDVAULT_ADDR=127.0.0.1:0", "CARDVAULT_SCRYPT_WORK_FACTOR=10")
		// (Compared without printing: a failure message must not show them.)
		credentials := func(banner string) string { return banner[:strings.LastIndex(banner, "cardvault: listening")] }
		require.True(t, credentials(out) == credentials(p.stdout.String()), "the same credentials are printed again")
		c = remote{t, p.base}
		require.Equal(t, http.StatusOK, c.do(req{method: "GET", path: "/v1/key", basic: &dev}).status)
		p.stop(t)

		// With credentials given, none are generated.
		dir2 := t.TempDir()
		p = startServer(t, filepath.Join(bins, "server"), dir2, "CARDVAULT_ADDR=127.0.0.1:0", "CARDVAULT_BASIC_AUTH=only:"+secret("password", "only-password-123"))
		require.NotContains(t, p.stdout.String(), "dev mode")
		p.stop(t)
		_, err := os.Stat(filepath.Join(dir2, "cardvault-data", "dev-credentials.json"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

// exerciseServer drives every vault/capture route of a running server, the
// seed's flows in Chromium and the example programs. It returns the vault
// key it leaves behind.
func exerciseServer(t *testing.T, c remote, b *browsertest.Browser, m *browsertest.Merchant, bins string) vaultKey {
	const timeout = 20 * time.Second
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		require.Equal(t, http.StatusOK, c.do(req{method: "GET", path: path}).status, path)
	}

	// Keys.
	k := vaultKey{user: "test-user", passphrase: secret("passphrase", "ALongAndVerySecretPassphrase-"+crypto.NewID(6))}
	r := c.alice("POST", "/v1/key", nil, mustJSON(t, map[string]string{"user": k.user, "passphrase": k.passphrase}))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = c.alice("POST", "/v1/key", nil, `{"user":"temporary"}`)
	tmp := vaultKey{"temporary", secret("passphrase", r.json(t)["passphrase"].(string))}
	r = c.alice("GET", "/v1/key", url.Values{"limit": {"1"}}, "")
	require.Len(t, r.list(t), 1)
	require.NotEmpty(t, r.header.Get(headerNextToken))
	r = c.do(req{method: "GET", path: "/v1/key", header: map[string]string{headerNextToken: r.header.Get(headerNextToken)}, basic: &aliceBasic})
	require.Len(t, r.list(t), 1)
	newPass := secret("passphrase", "rotated-"+crypto.NewID(6))
	r = c.alice("PUT", "/v1/key", nil, mustJSON(t, map[string]string{"user": tmp.user, "passphrase": tmp.passphrase, "new_passphrase": newPass}))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, http.StatusUnauthorized, c.alice("POST", "/v1/vault", tmp.query(), seedCard).status)
	tmp.passphrase = newPass

	// Vault.
	r = c.alice("POST", "/v1/vault", k.query("reference", "my-reference"), seedCard)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	tok := r.json(t)["token"].(string)
	r = c.alice("POST", "/v1/vault", tmp.query("reference", "throwaway"), seedCard)
	require.Equal(t, http.StatusOK, r.status)
	r = c.alice("GET", "/v1/vault", url.Values{"user": {tmp.user}}, "")
	require.JSONEq(t, `{"temporary":[{"token":"`+tok+`","reference":"throwaway"}]}`, string(r.body))
	require.Equal(t, http.StatusOK, c.alice("DELETE", "/v1/vault", url.Values{"user": {tmp.user}, "token": {tok}, "reference": {"throwaway"}}, "").status)
	require.Equal(t, http.StatusOK, c.alice("DELETE", "/v1/key", url.Values{"user": {tmp.user}, "safe": {"true"}}, "").status)
	require.Equal(t, http.StatusRequestEntityTooLarge,
		c.alice("POST", "/v1/vault", k.query(), `{"number":"`+seedNumber+`","x":"`+strings.Repeat("x", 300<<10)+`"}`).status)
	require.Equal(t, http.StatusUnsupportedMediaType,
		c.do(req{method: "POST", path: "/v1/vault", query: k.query(), body: "number=1", contentType: "application/x-www-form-urlencoded", basic: &aliceBasic}).status)

	// Isolation: bob sees nothing of alice's.
	r = c.do(req{method: "GET", path: "/v1/key", basic: &bobBasic})
	require.Equal(t, "[]\n", string(r.body))
	require.Equal(t, http.StatusUnauthorized, c.do(req{method: "GET", path: "/v1/vault", query: k.query("token", tok, "reference", "my-reference"), basic: &bobBasic}).status)
	require.Equal(t, http.StatusNotFound, c.do(req{method: "GET", path: "/v1/vault", query: k.query("token", tok), basic: &bobBasic}).status)

	retrieve := func() map[string]string {
		r := c.alice("GET", "/v1/vault", k.query("token", tok, "reference", "my-reference"), "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var card map[string]string
		require.NoError(t, json.Unmarshal(r.body, &card))
		return card
	}

	// The seed's manual capture: a locked endpoint, posted to from the
	// merchant's page on another origin with the seed's own fetch code
	// (CORS preflight and all).
	g := c.alice("POST", "/v1/capture", k.query("ttl", "PT10M", "token", tok, "reference", "my-reference"), "").json(t)
	require.Equal(t, map[string]any{"token": tok, "reference": "my-reference"}, g["lockdown_info"])
	captureSecret := secret("capture secret", g["secret"].(string))
	tab := b.NewTab(t, timeout)
	tab.Do(chromedp.Navigate(m.Origin + "/blank"))
	cvv := secret("cvv", "145")
	fetchJS := fmt.Sprintf(`fetch(%q, {method: 'POST', headers: {'X-PCIVault-Capture-Secret': %q},
		body: JSON.stringify({"card_expiry": "06-2025", "cvv": %q})}).then(r => r.json())`,
		c.base+g["url"].(string), captureSecret, cvv)
	got, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[map[string]string](fetchJS, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"user": k.user, "token": tok, "reference": "my-reference"}, got)
	card := retrieve()
	require.Equal(t, cvv, card["cvv"])
	require.Equal(t, "06-2025", card["card_expiry"])
	require.Equal(t, seedNumber, card["card_number"])

	// The seed's configured hosted form: CVV only, in the merchant's iframe.
	g = c.alice("POST", "/v1/capture", k.query("ttl", "PT10M", "token", tok), "").json(t)
	formSecret := secret("capture secret", g["secret"].(string))
	callback := "function(responseData, requestData) {\nconst reference = responseData.reference;\n" +
		"window.location.replace(`" + m.Origin + "/update/success?reference=${reference}`);\n}"
	r = c.alice("POST", "/v1/capture/iframe", url.Values{"form_type": {"pcd"}}, mustJSON(t, map[string]any{
		"success_callback": base64.StdEncoding.EncodeToString([]byte(callback)),
		"field_options": map[string]any{
			"reference": map[string]bool{"visible": false}, "card_holder": map[string]bool{"visible": false},
			"expiry": map[string]bool{"visible": false}, "card_number": map[string]bool{"visible": false},
		},
		"frame_ancestors": []string{m.Origin},
	}))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	form := r.json(t)
	require.Equal(t, strings.TrimPrefix(c.base, "http://")+"/v1/capture/iframe/"+form["id"].(string), form["link"])
	link := "http://" + form["link"].(string) + "?unique_id=" + url.QueryEscape(g["id"].(string)) + "&secret=" + url.QueryEscape(formSecret)
	before := len(m.HitsTo("/update/success"))
	tab = b.NewTab(t, timeout)
	tab.Do(chromedp.Navigate(m.Embed(link)))
	frame := tab.Frame("#cv", c.base)
	n, err := chromedp.Run(frame.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("input, select").length`))
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the CVV shows")
	newCVV := secret("cvv", "456")
	frame.Do(
		chromedp.SendKeys(chromedp.CSS("#cv-cvv"), newCVV, frame.Query...),
		chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
	)
	require.Eventually(t, func() bool { return len(m.HitsTo("/update/success")) > before }, timeout, 20*time.Millisecond,
		"the success callback sends the visitor to the merchant")
	hits := m.HitsTo("/update/success")
	require.Equal(t, "my-reference", hits[len(hits)-1].URL.Query().Get("reference"))
	require.Equal(t, newCVV, retrieve()["cvv"])
	require.Empty(t, tab.ConsoleErrors())

	// The standard card form, loaded as a page of its own, with an open
	// endpoint: a new card.
	g = c.alice("POST", "/v1/capture", k.query("ttl", "PT10M", "unique_id", "standard-"+crypto.NewID(4)), "").json(t)
	openSecret := secret("capture secret", g["secret"].(string))
	tab = b.NewTab(t, timeout)
	tab.Do(chromedp.Navigate(c.base + "/v1/capture/iframe/pcd?unique_id=" + url.QueryEscape(g["id"].(string)) +
		"&secret=" + url.QueryEscape(openSecret) + "&reference=from-the-standard-form"))
	newNumber := secret("card number", "4242424242424242")
	next := time.Now().AddDate(1, 0, 0)
	tab.Do(
		chromedp.SendKeys(chromedp.CSS("#cv-card-number"), newNumber),
		chromedp.SendKeys(chromedp.CSS("#cv-card-holder"), "Grace Hopper"),
		chromedp.SendKeys(chromedp.CSS("#cv-expiry"), fmt.Sprintf("%02d/%02d", int(next.Month()), next.Year()%100)),
		chromedp.SendKeys(chromedp.CSS("#cv-cvv"), secret("cvv", "789")),
		chromedp.Click(chromedp.CSS("#cv-submit")),
	)
	require.Eventually(t, func() bool {
		s, err := chromedp.Run(tab.Ctx, chromedp.Text(chromedp.CSS("#cv-status")))
		return err == nil && strings.TrimSpace(s) == "Saved."
	}, timeout, 50*time.Millisecond, "the standard form saves")
	r = c.alice("GET", "/v1/vault", url.Values{"user": {k.user}}, "")
	var list map[string][]map[string]string
	require.NoError(t, json.Unmarshal(r.body, &list))
	var stdToken string
	for _, it := range list[k.user] {
		if it["reference"] == "from-the-standard-form" {
			stdToken = it["token"]
		}
	}
	require.NotEmpty(t, stdToken, "the card captured by the standard form is stored")
	r = c.alice("GET", "/v1/vault", k.query("token", stdToken, "reference", "from-the-standard-form"), "")
	require.Contains(t, string(r.body), newNumber)

	// Capture endpoint administration.
	r = c.alice("GET", "/v1/capture", url.Values{"user": {k.user}}, "")
	require.Equal(t, http.StatusOK, r.status)
	require.GreaterOrEqual(t, len(r.list(t)), 3)
	require.Equal(t, http.StatusOK, c.alice("DELETE", "/v1/capture/"+g["id"].(string), nil, "").status)
	r = c.do(req{method: "POST", path: "/v1/capture/" + g["id"].(string), body: `{"n":"1"}`, header: map[string]string{headerCaptureSecret: openSecret}})
	require.Equal(t, http.StatusGone, r.status)
	r = c.do(req{method: "POST", path: "/v1/capture/nonexistent", body: `{}`, header: map[string]string{headerCaptureSecret: openSecret}})
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, `{"error":"unknown capture endpoint or wrong secret"}`, strings.TrimSpace(string(r.body)))
	r = c.do(req{method: "OPTIONS", path: "/v1/capture/anything", header: map[string]string{
		"Origin": m.Origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-pcivault-capture-secret"}})
	require.Equal(t, http.StatusNoContent, r.status)
	require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, http.StatusOK, c.alice("DELETE", "/v1/capture/iframe/"+form["id"].(string), nil, "").status)
	require.Equal(t, http.StatusOK, c.alice("DELETE", "/v1/vault", url.Values{"user": {k.user}, "token": {stdToken}, "reference": {"from-the-standard-form"}}, "").status)

	// The secure-token API's identity route.
	r = c.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": keyAll.Key}})
	require.Equal(t, http.StatusOK, r.status)
	secret("bearer token", r.json(t)["access_token"].(string))

	// The example programs, against this server.
	out, err := exec.Command(filepath.Join(bins, "capture-update"), "-url", c.base,
		"-basic-auth", aliceBasic.Name+":"+aliceBasic.Password).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), `the vault replied: {"user": "example-`)
	require.Contains(t, string(out), "cvv updated, card number unchanged")
	out, err = exec.Command(filepath.Join(bins, "hosted-form"), "-url", c.base,
		"-basic-auth", aliceBasic.Name+":"+aliceBasic.Password, "-success-url", m.Origin+"/update/example").CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	iframeURL := lines[len(lines)-1]
	require.True(t, strings.HasPrefix(iframeURL, c.base+"/v1/capture/iframe/"), iframeURL)
	u, err := url.Parse(iframeURL)
	require.NoError(t, err)
	secret("capture secret", u.Query().Get("secret"))
	beforeExample := len(m.HitsTo("/update/example"))
	tab = b.NewTab(t, timeout)
	tab.Do(chromedp.Navigate(iframeURL), chromedp.SendKeys(chromedp.CSS("#cv-cvv"), secret("cvv", "321")), chromedp.Click(chromedp.CSS("#cv-submit")))
	require.Eventually(t, func() bool { return len(m.HitsTo("/update/example")) > beforeExample }, timeout, 20*time.Millisecond,
		"the example's form saves and runs its callback")
	ex := m.HitsTo("/update/example")
	require.Equal(t, "my-reference", ex[len(ex)-1].URL.Query().Get("reference"))

	exerciseTokenAPI(t, c, b, m, bins)

	// The metrics saw it all.
	body := string(c.do(req{method: "GET", path: "/metrics"}).body)
	require.GreaterOrEqual(t, sample(t, body, `cardvault_capture_redemptions_total{outcome="ok"}`), 5.0)
	require.GreaterOrEqual(t, sample(t, body, `cardvault_http_requests_total{route="POST /v1/capture/{id}",code="200"}`), 5.0)
	return k
}

// exerciseTokenAPI drives the secure-token API of a running server: the
// seed's PATCH flow, a single-use token and update-account, the hosted-form
// path in Chromium, delete, and the two example programs.
func exerciseTokenAPI(t *testing.T, c remote, b *browsertest.Browser, m *browsertest.Merchant, bins string) {
	const timeout = 20 * time.Second
	api := c.caller(keyAll) // from CARDVAULT_API_KEYS
	card := fixture(t, "create-card.json")
	collection := terminalURL(termA, "secure-tokens")
	id := "MREF_e2e-" + crypto.NewID(8)

	// Create, as the seed's customer.
	r := api.do("POST", collection, set(t, card, "secureTokenId", id))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Equal(t, c.base+collection+"/"+id, r.header.Get("Location"))
	saved := r.json(t)

	// The seed's PATCH, refused with the paths it meant; then corrected.
	path := collection + "/" + id
	r = api.do("PATCH", path, fixture(t, "seed-patch.json"))
	requireProblem(t, r, http.StatusBadRequest, "bad-request")
	require.Equal(t, []string{"/shippingAddress/recipientName", "/source/cardDetails/cardholderName"}, problemParams(t, r))
	require.Contains(t, problemErrors(t, r)[0][2], "/customer/shippingAddress/recipientName")
	r = api.do("PATCH", path, `[{"op":"add","path":"/customer/lastName","value":null},
		{"op":"replace","path":"/customer/shippingAddress/recipientName","value":"Grace Hopper"}]`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "Grace Hopper", gjson.GetBytes(r.body, "customer.shippingAddress.recipientName").Str)

	// List: the token is found by its card's last four and its customer.
	r = api.do("GET", collection+"?last4=7062&customerName=Grace+Hopper", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, gjson.GetBytes(r.body, "data.#.secureTokenId").Value(), id)

	// A single-use token with new details, and update-account.
	tok := api.singleUse(termA, fixture(t, "single-use-card.json"))
	update := func(tok string) reply {
		return api.do("POST", path+"/update-account", `{"type":"singleUseToken","token":"`+tok+`"}`)
	}
	r = update(tok)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "555555******4444", gjson.GetBytes(r.body, "source.cardNumber").Str)
	require.Equal(t, saved["token"], gjson.GetBytes(r.body, "token").Str, "the secure token stays")
	requireProblem(t, update(tok), http.StatusBadRequest, "bad-request")

	// The hosted-form path: a capture endpoint for the terminal, the
	// standard card form configured with a success callback, in the
	// merchant's iframe; the callback hands the merchant the single-use
	// token, which update-account takes.
	r = api.do("POST", terminalURL(termA, "capture-endpoints"), `{"ttl":"PT10M"}`)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	ep := r.json(t)
	epSecret := secret("capture secret", ep["secret"].(string))
	callback := "function(responseData, requestData) {\n" +
		"window.location.replace(`" + m.Origin + "/update/single-use?token=${encodeURIComponent(responseData.single_use_token)}`);\n}"
	r = c.alice("POST", "/v1/capture/iframe", url.Values{"form_type": {"pcd"}}, mustJSON(t, map[string]any{
		"success_callback": base64.StdEncoding.EncodeToString([]byte(callback)),
		"field_options":    map[string]any{"reference": map[string]bool{"visible": false}},
		"frame_ancestors":  []string{m.Origin},
	}))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	form := r.json(t)
	link := "http://" + form["link"].(string) + "?unique_id=" + url.QueryEscape(ep["id"].(string)) + "&secret=" + url.QueryEscape(epSecret)
	before := len(m.HitsTo("/update/single-use"))
	tab := b.NewTab(t, timeout)
	tab.Do(chromedp.Navigate(m.Embed(link)))
	frame := tab.Frame("#cv", c.base)
	formCard := secret("card number", "4000056655665556")
	next := time.Now().AddDate(2, 0, 0)
	frame.Do(
		chromedp.SendKeys(chromedp.CSS("#cv-card-number"), formCard, frame.Query...),
		chromedp.SendKeys(chromedp.CSS("#cv-card-holder"), "Ada Lovelace", frame.Query...),
		chromedp.SendKeys(chromedp.CSS("#cv-expiry"), fmt.Sprintf("%02d/%02d", int(next.Month()), next.Year()%100), frame.Query...),
		chromedp.SendKeys(chromedp.CSS("#cv-cvv"), secret("cvv", "613"), frame.Query...),
		chromedp.Click(chromedp.CSS("#cv-submit"), frame.Query...),
	)
	require.Eventually(t, func() bool { return len(m.HitsTo("/update/single-use")) > before }, timeout, 20*time.Millisecond,
		"the success callback hands the merchant the single-use token")
	hits := m.HitsTo("/update/single-use")
	formToken := secret("single-use token", hits[len(hits)-1].URL.Query().Get("token"))
	require.Len(t, formToken, 128)
	require.Empty(t, tab.ConsoleErrors())
	r = update(formToken)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, map[string]any{"type": "card", "cardholderName": "Ada Lovelace", "cardNumber": "400005******5556",
		"expiryDate": fmt.Sprintf("%02d%02d", int(next.Month()), next.Year()%100), "cardType": "Visa"}, r.json(t)["source"])
	require.Equal(t, "Grace Hopper", gjson.GetBytes(r.body, "customer.shippingAddress.recipientName").Str, "the customer stays")
	require.Equal(t, http.StatusOK, c.alice("DELETE", "/v1/capture/iframe/"+form["id"].(string), nil, "").status)

	// Delete.
	r = api.do("DELETE", path, "")
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	requireProblem(t, api.do("GET", path, ""), http.StatusNotFound, "not-found")

	// The example programs, against this server.
	for _, ex := range []struct {
		name string
		want []string
	}{
		{"securetoken-patch", []string{
			"authorized: a bearer token for 3600 s",
			"the guide's PATCH was refused: 400 Bad request (bad-request)",
			"/shippingAddress/recipientName: op 1 (add), its path: names no member of a secure token; the nearest valid path is /customer/shippingAddress/recipientName",
			"the corrected PATCH succeeded: lastName removed, shipping recipientName removed, cardholderName \"Sarah Hopper\", card 453985******7062",
		}},
		{"single-use-update", []string{
			"single-use token for card 555555******4444",
			"(unchanged: true), card 555555******4444, expiry 0331, customer Sarah Hopper, mitAgreement unscheduled",
			"the same single-use token again: 400 Bad request (bad-request)\n  /token: was used already",
		}},
	} {
		out, err := exec.Command(filepath.Join(bins, ex.name), "-url", c.base, "-api-key", keyAll.Key).CombinedOutput()
		require.NoError(t, err, "%s: %s", ex.name, out)
		for _, w := range ex.want {
			require.Contains(t, string(out), w, ex.name)
		}
		require.NotContains(t, string(out), fixtureCard, "an example never sees a whole card number it did not send")
	}
}

// acrossProcesses checks what two servers on one PostgreSQL promise: a
// single-use token raced on both is used exactly once, and an idempotent
// request retried on the other server replays the first response byte for
// byte.
func acrossProcesses(t *testing.T, c1, c2 remote) {
	api1, api2 := c1.caller(keyTwo), c2.caller(keyTwo)
	id := "MREF_race-" + crypto.NewID(8)
	api1.create(termA, set(t, fixture(t, "create-card.json"), "secureTokenId", id))
	tok := api1.singleUse(termA, fixture(t, "single-use-card.json"))
	body := `{"type":"singleUseToken","token":"` + tok + `"}`
	path := terminalURL(termA, "secure-tokens", id, "update-account")

	const perServer = 4
	statuses := make(chan int, 2*perServer)
	var wg sync.WaitGroup
	for _, api := range []*tokenCaller{api1, api2} {
		for range perServer {
			wg.Go(func() { statuses <- api.do("POST", path, body).status })
		}
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusBadRequest: 2*perServer - 1}, count, "used exactly once")
	require.Equal(t, "555555******4444", gjson.GetBytes(api2.get(termA, id).body, "source.cardNumber").Str)

	// A retry on the other server replays the first response.
	key := loadgen.NewIdempotencyKey()
	create := set(t, fixture(t, "create-card.json"), "secureTokenId", "MREF_replay-"+crypto.NewID(8))
	first := api1.do("POST", terminalURL(termA, "secure-tokens"), create, "Idempotency-Key", key)
	require.Equal(t, http.StatusCreated, first.status, "%s", first.body)
	again := api2.do("POST", terminalURL(termA, "secure-tokens"), create, "Idempotency-Key", key)
	require.Equal(t, first.status, again.status)
	require.Equal(t, first.body, again.body, "byte for byte")
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.Equal(t, first.header.Get("Location"), again.header.Get("Location"))
	requireProblem(t, api2.do("POST", terminalURL(termA, "secure-tokens"), set(t, create, "mitAgreement", "recurring"), "Idempotency-Key", key),
		http.StatusConflict, "idempotency-key-in-use")
}
