package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// bareReply is what the bare handler answers: a JSON object shaped like a
// capture redemption's reply.
var bareReply = map[string]string{"user": "loadgen-00000000", "token": randomHex(32), "reference": "lg-0-0-000000"}

// BareHandler is the baseline: it reads the request body and answers a
// small JSON object shaped like a capture redemption's reply, with the same
// headers, doing nothing else.
func BareHandler() http.Handler {
	reply, _ := json.Marshal(bareReply)
	reply = append(reply, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(reply)
	})
}

// ServeBare serves BareHandler on a free 127.0.0.1 port and returns its base
// URL and what stops it.
func ServeBare() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: BareHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = hs.Close() }, nil
}

// RatioResult is capture redemption and secure-token creation against the
// bare handler.
type RatioResult struct {
	Clients int
	Phase   time.Duration // each phase of each round
	// BareRates, RedeemRates and CreateRates are each round's requests per
	// second.
	BareRates, RedeemRates, CreateRates []float64
	// Ratios and CreateRatios are each round's redemption and creation
	// rates over its bare rate.
	Ratios, CreateRatios []float64
	// Bare, Redeem and Create are the figures of the last round.
	Bare, Redeem, Create *Result
}

// Median is the median of the rounds' redemption ratios.
func (r RatioResult) Median() float64 { return Median(r.Ratios) }

// CreateMedian is the median of the rounds' creation ratios.
func (r RatioResult) CreateMedian() float64 { return Median(r.CreateRatios) }

// Write prints the rounds and the medians.
func (r RatioResult) Write(w io.Writer) {
	for i := range r.Ratios {
		fmt.Fprintf(w, "  round %d: bare %.0f req/s, capture redemption %.0f req/s: %.1f %%, secure-token create %.0f req/s: %.1f %%\n",
			i+1, r.BareRates[i], r.RedeemRates[i], 100*r.Ratios[i], r.CreateRates[i], 100*r.CreateRatios[i])
	}
	fmt.Fprintf(w, "capture redemption / bare handler, median of %d rounds (%d clients, %v each): %.1f %% (bare %.0f req/s, redemption %.0f req/s)\n",
		len(r.Ratios), r.Clients, r.Phase, 100*r.Median(), Median(r.BareRates), Median(r.RedeemRates))
	if r.Create != nil {
		c := r.Create.Route(RouteSTCreate)
		fmt.Fprintf(w, "secure-token create / bare handler, median of %d rounds: %.1f %% (create %.0f req/s; last round p50 %v, p99 %v)\n",
			len(r.CreateRatios), 100*r.CreateMedian(), Median(r.CreateRates), c.P50, c.P99)
	}
}

// Ratio measures capture redemption's request rate as a share of the bare
// handler's: each of cfg.Clients clients stores a card and makes a capture
// endpoint locked to it (not timed); then, rounds times, all clients post to
// the bare handler for phase, and then post CVV updates to their endpoints
// for phase, with the same client code, headers and body. cfg.Targets[0] is
// the server; the bare handler runs in this process.
func Ratio(ctx context.Context, cfg Config, rounds int, phase time.Duration) (RatioResult, error) {
	if err := cfg.defaults(); err != nil {
		return RatioResult{}, err
	}
	if cfg.Key.User == "" {
		return RatioResult{}, errors.New("loadgen: no vault key: call Setup first")
	}
	if rounds <= 0 || phase <= 0 {
		return RatioResult{}, errors.New("loadgen: Ratio needs rounds and a phase duration")
	}
	bare, stopBare, err := ServeBare()
	if err != nil {
		return RatioResult{}, err
	}
	defer stopBare()

	n := cfg.Clients
	cfg.Targets = cfg.Targets[:1]
	items, grants := make([]item, n), make([]grant, n)
	prep, err := run(ctx, Config{Targets: cfg.Targets, Account: cfg.Account, Key: cfg.Key, Terminal: cfg.Terminal, Requests: 2 * n}, n,
		func(s *session) error {
			it, err := s.tokenize()
			if err != nil {
				return err
			}
			g, err := s.createGrant(it)
			items[s.id], grants[s.id] = it, g
			return err
		})
	if err != nil {
		return RatioResult{}, fmt.Errorf("loadgen: preparing capture endpoints: %w (%d errors)", err, prep.Unintended())
	}

	phaseCfg := Config{Targets: cfg.Targets, Account: cfg.Account, APIKey: cfg.APIKey, Key: cfg.Key, Terminal: cfg.Terminal, Duration: phase}
	out := RatioResult{Clients: n, Phase: phase}
	for range rounds {
		b, err := run(ctx, phaseCfg, n, func(s *session) error {
			return untilStop(func() error {
				_, err := s.do(call{route: RouteBare, method: "POST", url: bare + "/v1/capture/" + grants[s.id].id,
					body:   []byte(`{"cvv":"` + cvv() + `"}`),
					header: http.Header{"X-Pcivault-Capture-Secret": {grants[s.id].secret}, "Content-Type": {"text/plain;charset=UTF-8"}},
					want:   http.StatusOK,
					// The client checks the bare reply as it checks a
					// redemption's, so that both phases cost it the same.
					check: func(b []byte) error { return sameDoc(b, bareReply) }})
				return err
			})
		})
		if err != nil {
			return out, fmt.Errorf("loadgen: the bare handler: %w", err)
		}
		r, err := run(ctx, phaseCfg, n, func(s *session) error {
			it := items[s.id]
			return untilStop(func() error { return s.redeem(grants[s.id], &it) })
		})
		if err != nil {
			return out, fmt.Errorf("loadgen: capture redemption: %w", err)
		}
		// Secure-token create: a bearer token first (not timed as a
		// create), then creates, each with its own Idempotency-Key.
		c, err := run(ctx, phaseCfg, n, func(s *session) error {
			if err := s.authorize(); err != nil {
				return err
			}
			return untilStop(func() error {
				_, err := s.createSecureToken()
				return err
			})
		})
		if err != nil {
			return out, fmt.Errorf("loadgen: secure-token create: %w", err)
		}
		br, rr, cr := b.Route(RouteBare).PerSecond, r.Route(RouteRedeem).PerSecond, c.Route(RouteSTCreate).PerSecond
		out.BareRates, out.RedeemRates, out.CreateRates = append(out.BareRates, br), append(out.RedeemRates, rr), append(out.CreateRates, cr)
		out.Ratios, out.CreateRatios = append(out.Ratios, rr/br), append(out.CreateRatios, cr/br)
		out.Bare, out.Redeem, out.Create = b, r, c
	}
	return out, nil
}

// untilStop is a phase's client loop: step again and again until the run
// is over (errStop, which ends the phase well) or a step fails.
func untilStop(step func() error) error {
	for {
		err := step()
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
