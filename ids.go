package cardvault

import (
	"fmt"
	"strings"
)

// Limits of a processing terminal id: the secure-token API's contract
// gives 4 to 50 characters.
const (
	MinTerminalIDLen = 4
	MaxTerminalIDLen = 50
)

// terminalIDExcluded are the printable characters a terminal id may not
// hold: '/' (it is a path segment of both APIs) and the separators of the
// server's API-key configuration (key:terminal,terminal;key2:*).
const terminalIDExcluded = "/,;*:"

// CheckTerminalID returns nil when id can name a processing terminal — 4
// to 50 printable ASCII characters, none of "/,;*:" — and otherwise an
// *InvalidError at processingTerminalId. It is the one rule: the
// secure-token service, capture's single-use-token grants and the server's
// API-key configuration all use it, so an id one of them takes, all do.
func CheckTerminalID(id string) error {
	ok := len(id) >= MinTerminalIDLen && len(id) <= MaxTerminalIDLen && !strings.ContainsAny(id, terminalIDExcluded)
	for i := 0; ok && i < len(id); i++ {
		ok = id[i] > ' ' && id[i] < 0x7f
	}
	if ok {
		return nil
	}
	bad := &InvalidError{}
	bad.Add("processingTerminalId", "invalid value",
		fmt.Sprintf("must be %d to %d printable ASCII characters, none of %q", MinTerminalIDLen, MaxTerminalIDLen, terminalIDExcluded))
	return bad
}
