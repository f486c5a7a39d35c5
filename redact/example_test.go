package redact_test

import (
	"log/slog"
	"os"

	"github.com/cardvault/cardvault/redact"
)

// The redacting handler in front of any slog handler.
func ExampleNewHandler() {
	log := slog.New(redact.NewHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})))
	log.Info("charge failed for 4111 1111 1111 1111", "passphrase", "hunter2", "url", "/v1/vault?user=u&passphrase=hunter2")
	// Output:
	// level=INFO msg="charge failed for [REDACTED]" passphrase=[REDACTED] url="/v1/vault?user=u&passphrase=[REDACTED]"
}
