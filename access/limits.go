package access

import (
	"net"
	"net/netip"
	"time"

	"github.com/cardvault/cardvault/internal/throttle"
)

// Limits on failed attempts.
//
// Every kind of guess — an HTTP Basic password, an API key, a vault
// passphrase, a capture secret — is counted when it fails, per client and
// (where the attempt names one) per account or vault key: a burst of
// failures, then one more per period, the count draining continuously. A
// client or account over its limit waits before its guess is even checked.
// Only failures count: a client that never fails is never held back,
// however fast it goes. An account's limit holds back only clients that
// have failures of their own on record, so that guessing from many
// addresses at an account slows them all down without locking the
// account's own integration out. The counts live in memory, per process.

// FailureLimit is how many failed attempts a limit allows: Failures at
// once, then Failures per Per. A zero FailureLimit takes the default;
// Failures below zero turns the limit off.
type FailureLimit struct {
	Failures int
	Per      time.Duration
}

// FailureLimits are the limits on failed attempts. A zero field takes its
// default: a client gets 10 wrong credentials at once and then one a
// minute; an account 50, then 5 a minute, from clients that failed; a
// client 10 wrong passphrases, then one a minute, and a vault key 20, then
// two a minute; a client 100 failed capture posts, then 100 a minute.
// Capture posts fail more innocently (a stale form page), and a secret of
// 384 bits is not guessed at any rate: that limit is against floods.
type FailureLimits struct {
	// ClientCredentials counts wrong HTTP Basic credentials and wrong API
	// keys per client.
	ClientCredentials FailureLimit
	// AccountCredentials counts wrong Basic passwords per account, and
	// wrong API keys all together (an API key names no account before it
	// matches).
	AccountCredentials FailureLimit
	// ClientPassphrases and KeyPassphrases count wrong vault passphrases
	// (and unknown vault users) per client and per vault key.
	ClientPassphrases FailureLimit
	KeyPassphrases    FailureLimit
	// ClientCaptures counts failed capture posts — wrong secrets, unknown
	// and locked endpoints — per client.
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

// Limits counts failed attempts under FailureLimits. A client is whatever
// string the caller names it by (the server: its address). Limits is safe
// for concurrent use.
type Limits struct {
	clientCreds, accountCreds, clientPass, keyPass, clientCapture *throttle.Limiter
}

// apiKeysAccount is the account key API keys' failures count against all
// together: no Basic account's name can be it.
const apiKeysAccount = "\x00authorize"

// NewLimits returns the Limits of cfg; now is the clock.
func NewLimits(cfg FailureLimits, now func() time.Time) (*Limits, error) {
	d := defaultFailureLimits
	l := &Limits{}
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
			return nil, invalid("a FailureLimit needs Failures and a positive Per (or Failures < 0 for none)")
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

func failed(perClient, perAccount *throttle.Limiter, client, account string) {
	perClient.Fail(client)
	if account != "" {
		perAccount.Fail(account)
	}
}

// CredentialsWait is how long client waits before its Basic credentials
// for account (Accounts.Named: "" when the name is no account's) are
// checked.
func (l *Limits) CredentialsWait(client, account string) time.Duration {
	return wait(l.clientCreds, l.accountCreds, client, account)
}

// CredentialsFailed counts a wrong Basic password (or an unknown name: an
// account of "") of client's.
func (l *Limits) CredentialsFailed(client, account string) {
	failed(l.clientCreds, l.accountCreds, client, account)
}

// APIKeyWait is how long client waits before an API key of its is checked.
func (l *Limits) APIKeyWait(client string) time.Duration {
	return l.CredentialsWait(client, apiKeysAccount)
}

// APIKeyFailed counts a wrong API key of client's.
func (l *Limits) APIKeyFailed(client string) { l.CredentialsFailed(client, apiKeysAccount) }

// passphraseKey names a vault key in the passphrase limiter.
func passphraseKey(owner, user string) string { return owner + "\x00" + user }

// PassphraseWait is how long client waits before its passphrase for the
// vault key of owner and user is checked.
func (l *Limits) PassphraseWait(client, owner, user string) time.Duration {
	return wait(l.clientPass, l.keyPass, client, passphraseKey(owner, user))
}

// PassphraseFailed counts a wrong user or passphrase of client's for the
// vault key of owner and user.
func (l *Limits) PassphraseFailed(client, owner, user string) {
	failed(l.clientPass, l.keyPass, client, passphraseKey(owner, user))
}

// CaptureWait is how long client waits before its next capture post is
// checked.
func (l *Limits) CaptureWait(client string) time.Duration { return l.clientCapture.Wait(client) }

// CaptureFailed counts a failed capture post of client's.
func (l *Limits) CaptureFailed(client string) { l.clientCapture.Fail(client) }

// ClientOf is the client a connection from remoteAddr (host:port, as
// net/http's Request.RemoteAddr) counts as: its IP address, an IPv6 one by
// its /64, which one host commonly holds whole (so that a host cannot
// spread its guesses over its addresses), or remoteAddr as it is when it
// holds none (a test's).
func ClientOf(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
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
