package server

import (
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/cardvault/cardvault/internal/throttle"
	"github.com/cardvault/cardvault/vault"
)

// Limits on failed attempts.
//
// Every kind of guess the server checks — an HTTP Basic password, an API
// key at POST /authorize, a vault passphrase, a capture secret — is counted
// when it fails, per client and (where the request names one) per account
// or vault key, by package internal/throttle's Limiter: a burst of
// failures, then one more per period, the count draining continuously. A
// client or account over its limit is answered 429 with Retry-After before
// its guess is even checked. Only failures count: a client that never
// fails is never held back, however fast it goes. An account's limit holds
// back only clients that have failures of their own on record, so that
// guessing from many addresses at an account slows them all down without
// locking the account's own integration out.
//
// The counts live in memory, per process: behind N servers, a client gets
// N times the budget; a restart forgets them. The client is the address
// the connection comes from (r.RemoteAddr; an IPv6 address by its /64,
// which one host commonly holds whole). Behind a proxy or load balancer
// that is the proxy's address, so that every client shares one budget:
// set the limits accordingly. X-Forwarded-For is not trusted — anyone can
// send one.

// FailureLimit is how many failed attempts a limit allows: Failures at
// once, then Failures per Per. A zero FailureLimit takes the default;
// Failures below zero turns the limit off.
type FailureLimit struct {
	Failures int
	Per      time.Duration
}

// FailureLimits are the server's limits on failed attempts. A zero field
// takes its default: a client gets 10 wrong credentials at once and then
// one a minute; an account 50, then 5 a minute, from clients that failed;
// a client 10 wrong passphrases, then one a minute, and a vault key 20,
// then two a minute; a client 100 failed capture posts, then 100 a minute.
// Capture posts fail more innocently (a stale form page), and a secret of
// 384 bits is not guessed at any rate: that limit is against floods.
type FailureLimits struct {
	// ClientCredentials counts wrong HTTP Basic credentials and wrong API
	// keys at POST /authorize per client address.
	ClientCredentials FailureLimit
	// AccountCredentials counts wrong Basic passwords per account, and
	// wrong API keys at POST /authorize all together (an API key names no
	// account before it matches).
	AccountCredentials FailureLimit
	// ClientPassphrases and KeyPassphrases count wrong vault passphrases
	// (and unknown vault users) per client address and per vault key.
	ClientPassphrases FailureLimit
	KeyPassphrases    FailureLimit
	// ClientCaptures counts failed capture posts — wrong secrets, unknown
	// and locked endpoints — per client address.
	ClientCaptures FailureLimit
}

// defaultFailureLimits are the limits of a zero FailureLimits.
var defaultFailureLimits = FailureLimits{
	ClientCredentials:  FailureLimit{Failures: 10, Per: 10 * time.Minute},
	AccountCredentials: FailureLimit{Failures: 50, Per: 10 * time.Minute},
	ClientPassphrases:  FailureLimit{Failures: 10, Per: 10 * time.Minute},
	KeyPassphrases:     FailureLimit{Failures: 20, Per: 10 * time.Minute},
	ClientCaptures:     FailureLimit{Failures: 100, Per: time.Minute},
}

// limiters are the server's Limiters, one per FailureLimits field.
type limiters struct {
	clientCreds, accountCreds, clientPass, keyPass, clientCapture *throttle.Limiter
}

// authorizeAccount is the account key of POST /authorize's failures.
const authorizeAccount = "\x00authorize"

func newLimiters(cfg FailureLimits, now func() time.Time) (*limiters, error) {
	d := defaultFailureLimits
	l := &limiters{}
	for _, x := range []struct {
		set  FailureLimit
		def  FailureLimit
		dest **throttle.Limiter
	}{
		{cfg.ClientCredentials, d.ClientCredentials, &l.clientCreds},
		{cfg.AccountCredentials, d.AccountCredentials, &l.accountCreds},
		{cfg.ClientPassphrases, d.ClientPassphrases, &l.clientPass},
		{cfg.KeyPassphrases, d.KeyPassphrases, &l.keyPass},
		{cfg.ClientCaptures, d.ClientCaptures, &l.clientCapture},
	} {
		r := x.set
		switch {
		case r == FailureLimit{}:
			r = x.def
		case r.Failures < 0:
			continue // off: a nil Limiter limits nothing
		case r.Failures == 0 || r.Per <= 0:
			return nil, errors.New("server: a FailureLimit needs Failures and a positive Per (or Failures < 0 for none)")
		}
		*x.dest = throttle.New(throttle.Rate{Failures: r.Failures, Per: r.Per}, 0, now)
	}
	return l, nil
}

// wait is how long a client must wait before its next guess at account
// (or key) is checked: the client's own wait, or, if the client has
// failures on record, the account's.
func wait(perClient, perAccount *throttle.Limiter, client, account string) time.Duration {
	w := perClient.Wait(client)
	if account != "" && perClient.Failed(client) {
		w = max(w, perAccount.Wait(account))
	}
	return w
}

// credentialsWait is the wait before checking client's Basic credentials
// for account ("" when the name is no account's) or an API key
// (authorizeAccount).
func (l *limiters) credentialsWait(client, account string) time.Duration {
	return wait(l.clientCreds, l.accountCreds, client, account)
}

func (l *limiters) credentialsFailed(client, account string) {
	l.clientCreds.Fail(client)
	if account != "" {
		l.accountCreds.Fail(account)
	}
}

// passphraseKey names a vault key in the passphrase limiter.
func passphraseKey(c vault.Credentials) string { return c.Owner + "\x00" + c.User }

func (l *limiters) passphraseWait(client string, c vault.Credentials) time.Duration {
	return wait(l.clientPass, l.keyPass, client, passphraseKey(c))
}

// passphraseFailed counts err against client and the key when it is a
// wrong user or passphrase.
func (l *limiters) passphraseFailed(client string, c vault.Credentials, err error) {
	if errors.Is(err, vault.ErrWrongKey) {
		l.clientPass.Fail(client)
		l.keyPass.Fail(passphraseKey(c))
	}
}

// clientAddr is the key a request's failures are counted under: its peer's
// IP address, an IPv6 one by its /64, or RemoteAddr as it is when it holds
// none (a test's).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// setRetryAfter sets Retry-After to wait in whole seconds, rounded up.
func setRetryAfter(h http.Header, wait time.Duration) {
	h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(max(wait, time.Second).Seconds())), 10))
}

// msgTooMany answers a guess refused by a limit on the vault/capture API.
const msgTooMany = "too many failed attempts: try again later (see Retry-After)"

// writeTooMany answers 429 on the vault/capture API.
func (s *Server) writeTooMany(w http.ResponseWriter, limit string, wait time.Duration) {
	s.metrics.throttled(limit)
	setRetryAfter(w.Header(), wait)
	writeError(w, http.StatusTooManyRequests, msgTooMany)
}
