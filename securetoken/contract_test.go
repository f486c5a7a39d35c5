package securetoken_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/securetoken"
)

// contractExamples reads the contract's examples matching glob, by file
// name, checking how many there are.
func contractExamples(t *testing.T, glob string, want int) map[string][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "contract", glob))
	require.NoError(t, err)
	require.Len(t, files, want)
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		out[filepath.Base(f)] = body
	}
	return out
}

// Every request example of the contract parses and validates.
func TestContractRequestExamples(t *testing.T) {
	for name, body := range contractExamples(t, "*.request.*.json", 11) {
		t.Run(name, func(t *testing.T) {
			switch {
			case strings.HasPrefix(name, "createSecureToken."):
				req, err := securetoken.ParseCreateRequest(body)
				require.NoError(t, err)
				require.NoError(t, req.Validate())
			case strings.HasPrefix(name, "createSingleUseToken."):
				req, err := securetoken.ParseSingleUseTokenRequest(body)
				require.NoError(t, err)
				require.Equal(t, securetoken.ChannelWeb, req.Channel)
				src, ok := req.Source.StoredSource()
				require.True(t, ok)
				require.Equal(t, "453985******7062", src.Card.CardNumber.Masked())
			case strings.HasPrefix(name, "accountUpdate."):
				req, err := securetoken.ParseAccountUpdateRequest(body)
				require.NoError(t, err)
				require.Equal(t, securetoken.SourceSingleUseToken, req.Type)
			case strings.HasPrefix(name, "updateSecureToken."):
				checkPatchExample(t, name, body)
			default:
				t.Fatalf("no check for %s", name)
			}
		})
	}
}

// checkPatchExample runs each operation's paths through the card policy.
// Only the "realistic" example names paths the resource lacks.
func checkPatchExample(t *testing.T, name string, body []byte) {
	pol := securetoken.PolicyFor(securetoken.SourceCard)
	var faults []error
	for _, op := range gjson.ParseBytes(body).Array() {
		if op.Get("op").Str == "test" {
			faults = append(faults, pol.CheckRead(op.Get("path").Str))
		} else {
			faults = append(faults, pol.CheckWrite(op.Get("path").Str))
		}
		if from := op.Get("from"); from.Exists() {
			if op.Get("op").Str == "copy" {
				faults = append(faults, pol.CheckRead(from.Str))
			} else {
				faults = append(faults, pol.CheckWrite(from.Str))
			}
		}
	}
	if strings.Contains(name, "Realistic") {
		require.NoError(t, faults[0])
		require.Equal(t, []string{"/shippingAddress/recipientName"}, testkit.InvalidFields(t, faults[1]))
		require.Contains(t, faults[1].Error(), "/customer/shippingAddress/recipientName")
		require.Equal(t, []string{"/source/cardDetails/cardholderName"}, testkit.InvalidFields(t, faults[2]))
		require.Contains(t, faults[2].Error(), "nearest valid path is /source/cardholderName")
		return
	}
	for _, err := range faults {
		require.NoError(t, err)
	}
}

// Every response example of the contract reads as a resource, but for the
// one whose YAML holds an integer where a string belongs.
func TestContractResponseExamples(t *testing.T) {
	for name, body := range contractExamples(t, "*.response*.json", 14) {
		t.Run(name, func(t *testing.T) {
			switch {
			case strings.HasPrefix(name, "listSecureTokens."):
				var list struct {
					Data []json.RawMessage `json:"data"`
				}
				require.NoError(t, json.Unmarshal(body, &list))
				for i, item := range list.Data {
					_, err := securetoken.ParseResource(item)
					if strings.Contains(name, "paginatedResults") && i == 1 {
						// expiryDate: 0328 unquoted is the integer 328.
						require.Equal(t, []string{"/source/expiryDate"}, testkit.InvalidFields(t, err))
						continue
					}
					require.NoError(t, err)
				}
			case strings.HasPrefix(name, "createSingleUseToken."):
				src := gjson.GetBytes(body, "source").Raw
				doc := `{"secureTokenId":"x","processingTerminalId":"1234001","token":"296753123458","status":"notValidated","source":` + src + `}`
				res, err := securetoken.ParseResource([]byte(doc))
				require.NoError(t, err)
				require.Equal(t, "Visa Credit", res.Source.Card.CardType)
				require.Len(t, gjson.GetBytes(body, "token").Str, 128)
			default:
				res, err := securetoken.ParseResource(body)
				require.NoError(t, err)
				// The examples' tokens break the contract's own Luhn rule.
				require.False(t, luhn.Valid(res.Token))
			}
		})
	}
}

// The three request parsers share one path (gate, lenient read, validate):
// each refuses the same faults the same way and hands back the zero value.
func TestParseRequestSharedPath(t *testing.T) {
	parsers := []struct {
		name    string
		parse   func([]byte) (any, error)
		example string
		member  string // a string member of the request, set to a number
	}{
		{"create", func(b []byte) (any, error) { return securetoken.ParseCreateRequest(b) },
			"contract/createSecureToken.request.createSecureToken.json", "source"},
		{"single-use token", func(b []byte) (any, error) { return securetoken.ParseSingleUseTokenRequest(b) },
			"contract/createSingleUseToken.request.createSingleUseToken.json", "channel"},
		{"account update", func(b []byte) (any, error) { return securetoken.ParseAccountUpdateRequest(b) },
			"contract/accountUpdate.request.accountUpdate.json", "type"},
	}
	for _, p := range parsers {
		t.Run(p.name, func(t *testing.T) {
			example := readFile(t, p.example)
			req, err := p.parse(example)
			require.NoError(t, err)
			require.NotZero(t, req)

			refused := func(body []byte, want ...string) {
				t.Helper()
				req, err := p.parse(body)
				require.Equal(t, want, testkit.InvalidFields(t, err))
				require.Zero(t, req, "a refused request must come back empty")
			}
			// A root that is not an object is one fault, at the root: the
			// validator's "required" faults are covered by it.
			for _, root := range []string{`[1]`, `null`, `"card"`, `5`} {
				refused([]byte(root), "")
			}
			refused([]byte(`{"a":`), "/a")
			// A member of the wrong type is its one fault, not "required" too,
			// and an unknown member beside it changes nothing.
			wrong := set(t, example, p.member, 5)
			refused(wrong, "/"+p.member)
			refused(set(t, wrong, "loyaltyTier", "gold"), "/"+p.member)

			req, err = p.parse(set(t, example, "pad", strings.Repeat("x", securetoken.MaxBodyBytes)))
			require.ErrorIs(t, err, securetoken.ErrTooLarge)
			require.Zero(t, req)
		})
	}
}
