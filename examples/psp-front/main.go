// Command psp-front puts a TLS endpoint that cardvault's egress guard can
// verify in front of a local payment provider whose own certificate it
// cannot — stripe-mock's, a self-signed certificate for CN=localhost with
// no subjectAltName, which Go refuses for any host name — so that the
// proxy can be tried against stripe-mock on one machine, as `make test`
// does (package internal/stripemock):
//
//	go install github.com/stripe/stripe-mock@v0.203.0
//	stripe-mock -http-addr 127.0.0.1:12111 -https-addr 127.0.0.1:12112 &
//	go run ./examples/psp-front -upstream 127.0.0.1:12112 \
//	  -upstream-cert "$(go env GOMODCACHE)/github.com/stripe/stripe-mock@v0.203.0/embedded/cert/cert.pem" \
//	  -addr 127.0.0.1:12443 -cert-out psp-front.pem
//	go run ./examples/server -egress-allow 127.0.0.1:12443 -egress-ca-file psp-front.pem
//
// It serves a certificate made at start (for IP 127.0.0.1, valid a day),
// written to -cert-out, and relays every connection's bytes unchanged to
// -upstream over TLS, checking that the upstream presents exactly
// -upstream-cert. It is a development tool: it listens on loopback only.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cardvault/cardvault/internal/stripemock"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:12443", "listen address (loopback)")
	upstream := flag.String("upstream", "127.0.0.1:12112", "the provider's HTTPS address")
	upstreamCert := flag.String("upstream-cert", "", "the certificate (PEM) the provider serves")
	certOut := flag.String("cert-out", "psp-front.pem", "where to write this endpoint's certificate (the server's -egress-ca-file)")
	flag.Parse()
	if err := run(*addr, *upstream, *upstreamCert, *certOut); err != nil {
		fmt.Fprintln(os.Stderr, "psp-front:", err)
		os.Exit(1)
	}
}

func run(addr, upstream, upstreamCert, certOut string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		return fmt.Errorf("-addr must be 127.0.0.1:<port>")
	}
	cert, err := os.ReadFile(upstreamCert)
	if err != nil {
		return fmt.Errorf("-upstream-cert: %w", err)
	}
	f, err := stripemock.NewFront(addr, upstream, cert)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.WriteFile(certOut, f.CertPEM(), 0o644); err != nil {
		return err
	}
	fmt.Printf("psp-front: %s → %s; its certificate is in %s\n", f.URL, upstream, certOut)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}
