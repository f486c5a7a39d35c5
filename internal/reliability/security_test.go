package reliability

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/server"
)

const refused = "unknown capture endpoint or wrong secret"

// capturePost posts body to the capture endpoint id with secret.
func (e *env) capturePost(id, secret, body string) reply {
	e.t.Helper()
	return e.send(req{method: "POST", path: "/v1/capture/" + id, body: body, header: map[string]string{"X-PCIVault-Capture-Secret": secret}})
}

func (e *env) cardCVV() string {
	e.t.Helper()
	r := e.send(req{method: "GET", path: "/v1/vault", query: e.vaultQuery("token", e.itemToken, "reference", "ref"), basic: &aliceBasic})
	require.Equal(e.t, http.StatusOK, r.status)
	return r.str(e.t, "cvv")
}

func TestSecurity(t *testing.T) {
	t.Run("ten wrong secrets lock the endpoint, for the right secret too", func(t *testing.T) {
		e := newEnv(t)
		before := e.cardCVV()
		for i := range 10 {
			r := e.capturePost(e.grantID, crypto.NewSecret(), `{"cvv":"000"}`)
			require.Equal(t, http.StatusForbidden, r.status, "attempt %d", i+1)
			require.Equal(t, refused, errorMessage(t, r))
		}
		r := e.capturePost(e.grantID, e.grantSec, `{"cvv":"000"}`)
		require.Equal(t, http.StatusLocked, r.status, "the right secret after ten wrong ones")
		require.Contains(t, errorMessage(t, r), "locked")
		require.Equal(t, before, e.cardCVV(), "nothing was written")

		// An id with no endpoint locks the same way: guessing ids is no
		// cheaper than guessing secrets.
		for i := range 10 {
			r := e.capturePost("no-such-endpoint", crypto.NewSecret(), `{}`)
			require.Equal(t, http.StatusForbidden, r.status, "attempt %d", i+1)
			require.Equal(t, refused, errorMessage(t, r), "the same answer as a wrong secret")
		}
		require.Equal(t, http.StatusLocked, e.capturePost("no-such-endpoint", crypto.NewSecret(), `{}`).status)
	})

	t.Run("the secret of one endpoint opens no other", func(t *testing.T) {
		e := newEnv(t)
		r := e.send(req{method: "POST", path: "/v1/vault", query: e.vaultQuery("reference", "other"), basic: &aliceBasic,
			body: `{"card_number":"4242424242424242","cvv":"111"}`})
		require.Equal(t, http.StatusOK, r.status)
		other := r.str(t, "token")
		r = e.send(req{method: "POST", path: "/v1/capture", query: e.vaultQuery("token", other, "reference", "other"), basic: &aliceBasic})
		require.Equal(t, http.StatusOK, r.status)
		otherID, otherSecret := r.str(t, "id"), secret("capture secret", r.str(t, "secret"))

		before := e.snapshot()
		r = e.capturePost(otherID, e.grantSec, `{"cvv":"999"}`)
		require.Equal(t, http.StatusForbidden, r.status, "A's secret on B")
		require.Equal(t, refused, errorMessage(t, r))
		r = e.capturePost(e.grantID, otherSecret, `{"cvv":"999"}`)
		require.Equal(t, http.StatusForbidden, r.status, "B's secret on A")
		require.Equal(t, failureBuckets, changedBuckets(before, e.snapshot()), "only the failures were counted")

		require.Equal(t, http.StatusOK, e.capturePost(otherID, otherSecret, `{"cvv":"222"}`).status, "B still opens with its own")
		require.Equal(t, http.StatusOK, e.capturePost(e.grantID, e.grantSec, `{"cvv":"333"}`).status, "A still opens with its own")
		require.Equal(t, "333", e.cardCVV())
	})

	t.Run("an expired access token is refused", func(t *testing.T) {
		e := newEnv(t, func(c *server.Config) { c.BearerTTL = 10 * time.Minute })
		list := func(bearer string) int {
			return e.send(req{method: "GET", path: "/v1/processing-terminals/" + terminalOne + "/secure-tokens",
				header: map[string]string{"Authorization": "Bearer " + bearer}}).status
		}
		bearer := e.authorize(keyAll.Key)
		require.Equal(t, http.StatusOK, list(bearer))
		e.clock.Advance(10*time.Minute - time.Second)
		require.Equal(t, http.StatusOK, list(bearer), "a second before it expires")
		e.clock.Advance(time.Second)
		r := e.send(req{method: "GET", path: "/v1/processing-terminals/" + terminalOne + "/secure-tokens", header: map[string]string{"Authorization": "Bearer " + bearer}})
		require.Equal(t, http.StatusUnauthorized, r.status, "expired")
		require.Contains(t, errorMessage(t, r), "not-authorized")
		require.Equal(t, http.StatusOK, list(e.authorize(keyAll.Key)), "a new one works")
	})

	t.Run("an API key reaches its own terminals only", func(t *testing.T) {
		e := newEnv(t)
		three := "/v1/processing-terminals/" + terminalThree
		before := e.snapshot()
		h := func() map[string]string { return e.tokenHeader(e.bearerTwo) }
		for _, r := range []req{
			{method: "GET", path: three + "/secure-tokens"},
			{method: "GET", path: three + "/secure-tokens/" + e.secureTok3},
			{method: "PATCH", path: three + "/secure-tokens/" + e.secureTok3, body: `[{"op":"remove","path":"/customer"}]`},
			{method: "DELETE", path: three + "/secure-tokens/" + e.secureTok3},
			{method: "POST", path: three + "/secure-tokens", body: secureTokenBody("intruder", tokenCardNumber)},
			{method: "POST", path: three + "/secure-tokens/" + e.secureTok3 + "/update-account", body: `{"type":"singleUseToken","token":"` + strings.Repeat("a", 128) + `"}`},
			{method: "POST", path: three + "/single-use-tokens", body: `{"channel":"web","source":{"type":"card"}}`},
		} {
			r.header = h()
			got := e.send(r)
			require.Equal(t, http.StatusForbidden, got.status, "%s %s", r.method, r.path)
			require.Contains(t, errorMessage(t, got), "forbidden")
		}
		// Its own terminal does not show another terminal's token.
		got := e.send(req{method: "GET", path: "/v1/processing-terminals/" + terminalOne + "/secure-tokens/" + e.secureTok3, header: h()})
		require.Equal(t, http.StatusNotFound, got.status)
		require.Empty(t, changedBuckets(before, e.snapshot()), "nothing changed")
		got = e.send(req{method: "GET", path: three + "/secure-tokens/" + e.secureTok3, header: e.tokenHeader(e.bearerAll)})
		require.Equal(t, http.StatusOK, got.status, "the token is there for a key that may see it")
	})

	t.Run("a Basic account reaches its own keys, items, endpoints and forms only", func(t *testing.T) {
		e := newEnv(t)
		r := e.send(req{method: "POST", path: "/v1/capture/iframe", query: url.Values{"form_type": {"pcd"}}, basic: &aliceBasic, body: `{}`})
		require.Equal(t, http.StatusOK, r.status)
		form := r.str(t, "id")
		before := e.snapshot()
		bob := &bobBasic
		for _, r := range []req{
			{method: "GET", path: "/v1/vault", query: e.vaultQuery("token", e.itemToken, "reference", "ref")},
			{method: "GET", path: "/v1/vault", query: url.Values{"user": {e.key.User}}},
			{method: "POST", path: "/v1/vault", query: e.vaultQuery(), body: cardDoc},
			{method: "DELETE", path: "/v1/vault", query: url.Values{"user": {e.key.User}, "token": {e.itemToken}, "reference": {"ref"}}},
			{method: "POST", path: "/v1/capture", query: e.vaultQuery("token", e.itemToken, "reference", "ref")},
			{method: "GET", path: "/v1/capture", query: url.Values{"user": {e.key.User}}},
			{method: "DELETE", path: "/v1/capture/" + e.grantID},
			{method: "PUT", path: "/v1/key", body: mustJSON(t, map[string]string{"user": e.key.User, "passphrase": e.key.Passphrase, "new_passphrase": "stolen-passphrase-1"})},
			{method: "DELETE", path: "/v1/key", query: url.Values{"user": {e.key.User}}},
			{method: "DELETE", path: "/v1/capture/iframe/" + form},
		} {
			r.basic = bob
			got := e.send(r)
			if got.status == http.StatusOK && r.method == "GET" {
				require.Equal(t, "[]\n", string(got.body), "%s %s lists nothing of alice's", r.method, r.path)
				continue
			}
			require.Contains(t, []int{http.StatusUnauthorized, http.StatusNotFound}, got.status, "%s %s: %s", r.method, r.path, got.body)
		}
		got := e.send(req{method: "GET", path: "/v1/key", basic: bob})
		require.Equal(t, "[]\n", string(got.body), "bob lists no key")
		require.Empty(t, changedBuckets(before, e.snapshot()), "nothing of alice's changed")
		require.Equal(t, http.StatusOK, e.send(req{method: "GET", path: "/v1/vault", query: e.vaultQuery("token", e.itemToken, "reference", "ref"), basic: &aliceBasic}).status)
	})
}

// TestCaptureTimingDoesNotTell compares the time the server takes to
// refuse a wrong secret for an endpoint that exists with the time it takes
// to refuse any secret for an id that has none. Both take the same path
// (a read, a constant-time hash comparison against the stored hash or a
// dummy one, a write of a failure count: the id's, or for an unknown id,
// whose count is kept in memory, a decoy's), and answer the same bytes.
//
// The samples (n of each) are taken interleaved in random order, each on
// its own endpoint or id at most nine times (the tenth would lock it), in
// process over a memstore, where the server's own work is all there is to
// measure. Two statistics compare them:
//
//   - the probability of superiority A = P(wrong secret slower than unknown
//     id), from the Mann-Whitney U statistic: 0.5 when neither tends to be
//     slower. Under that hypothesis its standard deviation is
//     sqrt((2n+1)/(12 n²)), 0.013 for n = 1,000; the test allows
//     0.5 ± 0.15, over ten standard deviations, so sampling noise cannot
//     fail it. Drift from the shared machine hits both alike (interleaved).
//     What fails it is a systematic difference big against the spread of
//     the samples — a path that skips the hash or the write, or does an
//     extra store round trip.
//   - the ratio of the medians, allowed 1/1.25 to 1.25: it catches a
//     constant shift that a heavy-tailed spread might hide from A.
//
// What this cannot see is a difference of nanoseconds to a few
// microseconds, under the noise of a shared machine and -race; a remote
// attacker sees more noise still. The bound is generous on purpose: this
// test must not be flaky.
func TestCaptureTimingDoesNotTell(t *testing.T) {
	// All 2n refusals come from one client: its limit on failed capture
	// posts is lifted, or it would answer 429 long before the end. The
	// limiter counts both kinds alike.
	e := newEnv(t, func(c *server.Config) {
		c.FailureLimits.ClientCaptures = access.FailureLimit{Failures: 1 << 20, Per: time.Minute}
	})
	const n = 1000
	var grants []string
	for i := 0; i < n/9+1; i++ {
		r := e.do(req{method: "POST", path: "/v1/capture", query: e.vaultQuery("token", e.itemToken, "reference", "ref"), basic: &aliceBasic})
		require.Equal(t, http.StatusOK, r.status)
		grants = append(grants, r.str(t, "id"))
	}
	// The plan: n wrong secrets and n unknown ids, shuffled.
	kinds := make([]bool, 2*n) // true: a wrong secret for a real endpoint
	for i := range n {
		kinds[i] = true
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	rnd.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	// Unknown ids look like real ones (the same length and alphabet), so
	// that parsing and logging the path cost the same.
	unknownIDs := make([]string, len(grants))
	for i := range unknownIDs {
		unknownIDs[i] = crypto.NewID(len(grants[0]) * 3 / 4)
		require.Len(t, unknownIDs[i], len(grants[i]))
	}
	var wrong, unknown []float64
	var bodies = map[string]bool{}
	w, u := 0, 0
	for _, isWrong := range kinds {
		id := unknownIDs[u/9]
		if isWrong {
			id = grants[w/9]
			w++
		} else {
			u++
		}
		start := time.Now()
		r := e.do(req{method: "POST", path: "/v1/capture/" + id, body: `{"cvv":"000"}`, header: map[string]string{"X-PCIVault-Capture-Secret": crypto.NewSecret()}})
		d := float64(time.Since(start))
		require.Equal(t, http.StatusForbidden, r.status)
		bodies[string(r.body)] = true
		if isWrong {
			wrong = append(wrong, d)
		} else {
			unknown = append(unknown, d)
		}
	}
	require.Len(t, bodies, 1, "the same answer, byte for byte")
	a := superiority(wrong, unknown)
	ratio := median(wrong) / median(unknown)
	t.Logf("wrong secret: median %.1f µs; unknown id: median %.1f µs; ratio %.3f; P(wrong slower) %.3f",
		median(wrong)/1e3, median(unknown)/1e3, ratio, a)
	require.InDelta(t, 0.5, a, 0.15, "neither kind of refusal tends to be slower")
	require.InDelta(t, 1, ratio, 0.25, "the medians agree")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// superiority is P(X > Y) + P(X = Y)/2 over all pairs, from ranks (the
// Mann-Whitney U statistic over n·m).
func superiority(xs, ys []float64) float64 {
	type obs struct {
		v float64
		x bool
	}
	all := make([]obs, 0, len(xs)+len(ys))
	for _, v := range xs {
		all = append(all, obs{v, true})
	}
	for _, v := range ys {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j, averaged over ties
		for k := i; k < j; k++ {
			if all[k].x {
				rankSum += avg
			}
		}
		i = j
	}
	n, m := float64(len(xs)), float64(len(ys))
	return (rankSum - n*(n+1)/2) / (n * m)
}

// TestNoSecretLeaks sends requests that carry secrets in every place a
// client might put them — right and wrong credentials, card numbers in
// bodies, paths and query strings, secrets in headers — then looks for
// every secret in the server's log, in every error message and in
// /metrics, whose labels must also be route patterns, status codes and
// outcomes, never values from a request.
func TestNoSecretLeaks(t *testing.T) {
	e := newEnv(t)
	other := secret("card number", "5555555555554444")
	wrongPass := secret("passphrase", "a-wrong-passphrase-"+crypto.NewID(4))
	probe := secret("capture secret", crypto.NewSecret())
	var errs []string
	for _, r := range []req{
		{method: "POST", path: "/v1/vault", query: url.Values{"user": {e.key.User}, "passphrase": {wrongPass}}, basic: &aliceBasic, body: `{"card_number":"` + other + `"}`},
		{method: "GET", path: "/v1/vault", query: e.vaultQuery("token", other, "reference", other), basic: &aliceBasic},
		{method: "POST", path: "/v1/vault", query: e.vaultQuery("number", other, "algorithm", "nope"), basic: &aliceBasic, body: `{"cvv":"123"}`},
		{method: "POST", path: "/v1/vault", query: e.vaultQuery(), basic: &aliceBasic, body: `{"card_number":"` + other + `","card_number":"` + other + `"}`},
		{method: "POST", path: "/v1/capture/" + other, body: `{"card_number":"` + other + `"}`, header: map[string]string{"X-PCIVault-Capture-Secret": probe}},
		{method: "POST", path: "/v1/capture/" + e.grantID, body: `{"card_number":"` + other + `"}`, header: map[string]string{"X-PCIVault-Capture-Secret": e.grantSec}},
		{method: "POST", path: "/v1/capture/" + e.grantID, body: `{"cvv":"1"}`, header: map[string]string{"X-PCIVault-Capture-Secret": probe}},
		{method: "GET", path: "/v1/key", basic: &access.Account{Name: "alice", Password: wrongPass}},
		{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": wrongPass}},
		{method: "GET", path: "/v1/processing-terminals/" + terminalOne + "/secure-tokens", rawQuery: "token=" + other + "&first6=" + other, header: map[string]string{"Authorization": "Bearer " + e.bearerAll}},
		{method: "GET", path: "/v1/processing-terminals/" + terminalOne + "/secure-tokens/" + other, header: map[string]string{"Authorization": "Bearer " + e.bearerAll + "x"}},
		{method: "POST", path: "/v1/processing-terminals/" + terminalOne + "/secure-tokens", body: secureTokenBody("leak-1", other[:15]+"0"), header: e.tokenHeader(e.bearerAll)},
		{method: "PATCH", path: "/v1/processing-terminals/" + terminalOne + "/secure-tokens/" + e.secureTok, body: `[{"op":"replace","path":"/source/cardNumber","value":"` + other + `"}]`, header: e.tokenHeader(e.bearerAll)},
		{method: "GET", path: "/v1/" + other + "/" + e.grantSec},
	} {
		got := e.send(r)
		require.GreaterOrEqual(t, got.status, 400, "%s %s is refused", r.method, r.path)
		errs = append(errs, errorMessage(t, got))
	}
	// And a success or two, which log too.
	require.Equal(t, http.StatusOK, e.capturePost(e.grantID, e.grantSec, `{"cvv":"4321"}`).status)

	metrics := e.send(req{method: "GET", path: "/metrics"})
	require.Equal(t, http.StatusOK, metrics.status)
	for what, text := range map[string]string{"the log": e.logs.String(), "the error messages": strings.Join(errs, "\n"), "/metrics": string(metrics.body)} {
		require.Empty(t, leaks(text), "no secret in %s", what)
		require.NotContains(t, text, other, "the card number is not in %s", what)
	}
	require.Greater(t, len(e.logs.String()), 2000, "the server logged")

	labels := regexp.MustCompile(`(\w+)="([^"]*)"`)
	pattern := regexp.MustCompile(`^(unmatched|(GET|POST|PUT|PATCH|DELETE|OPTIONS) /[A-Za-z0-9/{}_.-]*)$`)
	seen := 0
	for _, line := range strings.Split(string(metrics.body), "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		for _, m := range labels.FindAllStringSubmatch(line, -1) {
			seen++
			switch m[1] {
			case "route":
				require.Regexp(t, pattern, m[2], "a route label is a pattern")
				require.NotContains(t, m[2], e.grantID, "never a raw path")
			case "code":
				require.Regexp(t, `^[1-5][0-9][0-9]$`, m[2])
			case "outcome":
				require.Contains(t, []string{"ok", "unknown_or_wrong_secret", "expired_or_used", "locked", "invalid", "too_large", "error", "throttled"}, m[2])
			case "limit":
				require.Contains(t, []string{"credentials", "passphrase", "capture"}, m[2])
			case "le":
			case "quantile": // the Go collector's GC pause summary
				require.Regexp(t, `^[0-9.]+$`, m[2])
			case "version": // go_info
				require.Equal(t, runtime.Version(), m[2])
			default:
				t.Fatalf("an unexpected label %s", m[1])
			}
		}
	}
	require.Greater(t, seen, 20, "the metrics have labels to check")
}
