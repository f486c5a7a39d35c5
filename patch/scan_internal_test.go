package patch

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSkipValue(t *testing.T) {
	for _, v := range []string{
		`""`, `"a\"b"`, `"a\\"`, `"\\\""`, `"\\\\"`, `"\u0022"`,
		`0`, `-1.5e+10`, `true`, `null`,
		`[]`, `[1,[2,[3]],"]"]`, `{"a":"}","b":{"c":[]}}`, `{ "a" : [ "\"[" ] }`,
	} {
		d := []byte(v + ` ,x`)
		require.Equal(t, len(v), skipValue(d, 0), v)
	}
	end, escaped := scanString([]byte(`"plain" `), 0)
	require.Equal(t, 7, end)
	require.False(t, escaped)
	end, escaped = scanString([]byte(`"a\nb" `), 0)
	require.Equal(t, 6, end)
	require.True(t, escaped)
}

func TestValueDepth(t *testing.T) {
	for v, want := range map[string]int{`1`: 0, `"[{"`: 0, `[]`: 1, `{"a":[{}]}`: 3, `[[],[[]]]`: 3} {
		require.Equal(t, want, valueDepth([]byte(v)), v)
	}
}

func TestArrayIndex(t *testing.T) {
	for tok, want := range map[string]int{"0": 0, "7": 7, "10": 10, "2147483647": 2147483647} {
		n, ok := arrayIndex(tok)
		require.True(t, ok, tok)
		require.Equal(t, want, n, tok)
	}
	for _, tok := range []string{"", "-", "-1", "01", "00", "1e0", "+1", " 1", "1 ", "0x1", "2147483648", "99999999999", "１"} {
		_, ok := arrayIndex(tok)
		require.False(t, ok, tok)
	}
}

// TestAppendQuoted checks that any key, even one that is not valid UTF-8
// (possible only through the Go API), becomes a valid JSON string that
// decodes to it (or to it with U+FFFD for bad bytes).
func TestAppendQuoted(t *testing.T) {
	for _, key := range []string{"", "plain", `q"b\s`, "\x00\x1f\n\t\r", "é😀", "\u2028", "a\xffb"} {
		out := appendQuoted(nil, key)
		var back string
		require.NoError(t, json.Unmarshal(out, &back), "%q", out)
		if key == "a\xffb" {
			require.Equal(t, "a\ufffdb", back)
			continue
		}
		require.Equal(t, key, back)
	}
}

func TestParseDecimal(t *testing.T) {
	d := parseDecimal([]byte("-0012.3400e-2"), nil)
	require.True(t, d.neg)
	require.Equal(t, "1234", string(d.digits))
	require.Equal(t, int64(0), d.exp) // 0.1234e0 = 0.1234
	require.Empty(t, parseDecimal([]byte("-0.000e99"), nil).digits)
	big := parseDecimal([]byte("5e-1234567890123456789"), nil)
	require.NotNil(t, big.bigExp)
	require.Equal(t, "-1234567890123456788", big.bigExp.String())
}

// TestScanStringEveryPosition puts each escape at each position of strings
// around the eight-byte word the scanner reads at a time.
func TestScanStringEveryPosition(t *testing.T) {
	for n := range 20 {
		for at := 0; at <= n; at++ {
			for _, esc := range []string{`\"`, `\\`, `\n`, `\u0022`} {
				body := make([]byte, 0, n+len(esc))
				for k := range n {
					if k == at {
						body = append(body, esc...)
					}
					body = append(body, 'a'+byte(k%26))
				}
				if at == n {
					body = append(body, esc...)
				}
				str := `"` + string(body) + `"`
				require.True(t, json.Valid([]byte(str)), str)
				end, escaped := scanString([]byte(str+`,"x"]`), 0)
				require.Equal(t, len(str), end, str)
				require.True(t, escaped, str)
				end, escaped = scanString([]byte(`"`+string(body[:0])+"plain"+`"`), 0)
				require.Equal(t, 7, end)
				require.False(t, escaped)
			}
		}
	}
}
