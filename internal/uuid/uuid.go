// Package uuid makes random UUIDs (RFC 9562 version 4), the form of the
// secure-token API's ids and Idempotency-Key headers.
package uuid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a random UUID, version 4, in the canonical form of 36
// lowercase characters: "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // the RFC's variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
