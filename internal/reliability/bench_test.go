package reliability

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cardvault/cardvault/redact"
)

// BenchmarkAccessLogLine is the cost of the redacting handler on one access
// log line as the server writes it for a capture redemption (the text
// handler writing to io.Discard behind it).
func BenchmarkAccessLogLine(b *testing.B) {
	log := slog.New(redact.NewHandler(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("request_id", "k3J9xQ2mP0aZ7vB1"), slog.String("method", "POST"),
			slog.String("route", "POST /v1/capture/{id}"), slog.String("path", "/v1/capture/Xy3kP9qR2mZ8vB1nT4wL"), slog.Int("status", 200),
			slog.Int64("bytes", 118), slog.Duration("duration", 1234567*time.Nanosecond), slog.String("remote", "127.0.0.1:54321"),
			slog.String("account", ""), slog.String("api_client", ""))
	}
}
