package mustachex_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/mustachex"
	"github.com/cardvault/cardvault/internal/testkit"
)

const item = `{"card_number":"4111111111111111","card_holder":"Ada \"The Countess\" Lovelace & co","cvv":"737",
	"amount":1250,"zero":0,"blank":" ","yes":true,"no":false,"nothing":null,
	"billing":{"zip":"B-9000","city":"Gent"},"tags":["a","b&c"],"empty":[],
	"cards":[{"last4":"1111"},{"last4":"4444"}],"holes":["x",null]}`

func data(t testing.TB, doc string) mustachex.Data {
	t.Helper()
	d, err := mustachex.DataOf([]byte(doc))
	require.NoError(t, err)
	return d
}

func render(t testing.TB, src string, esc mustachex.Escape, doc string) (string, error) {
	t.Helper()
	tm, err := mustachex.Parse(src, esc, mustachex.Limits{})
	if err != nil {
		return "", err
	}
	out, err := tm.Render(data(t, doc))
	return string(out), err
}

func TestRender(t *testing.T) {
	for _, c := range []struct {
		name, src string
		esc       mustachex.Escape
		want      string
	}{
		{"text", "plain text, no tags", mustachex.JSON, "plain text, no tags"},
		{"none", "{{card_holder}}", mustachex.None, `Ada "The Countess" Lovelace & co`},
		{"json never html", `{"name":"{{card_holder}}"}`, mustachex.JSON, `{"name":"Ada \"The Countess\" Lovelace & co"}`},
		{"form", "name={{card_holder}}&n={{card_number}}", mustachex.Form, "name=Ada+%22The+Countess%22+Lovelace+%26+co&n=4111111111111111"},
		{"url", "/c/{{card_holder}}", mustachex.URL, "/c/Ada%20%22The%20Countess%22%20Lovelace%20%26%20co"},
		{"number as written", `{"amount":{{amount}},"zero":{{zero}}}`, mustachex.JSON, `{"amount":1250,"zero":0}`},
		{"boolean", "{{yes}}/{{no}}", mustachex.None, "true/false"},
		{"dotted", "{{billing.zip}} {{billing.city}}", mustachex.None, "B-9000 Gent"},
		{"comment", "a{{! a comment }}b", mustachex.None, "ab"},
		{"section present", "{{#cvv}}cvc={{cvv}}{{/cvv}}", mustachex.Form, "cvc=737"},
		{"section absent", "{{#missing}}cvc={{cvv}}{{/missing}}", mustachex.Form, ""},
		{"section null", "{{#nothing}}x{{/nothing}}", mustachex.None, ""},
		{"section false", "{{#no}}x{{/no}}{{#yes}}y{{/yes}}", mustachex.None, "y"},
		{"section blank", "{{#blank}}x{{/blank}}", mustachex.None, ""},
		{"section zero is taken", "{{#zero}}x{{/zero}}", mustachex.None, "x"},
		{"section object", "{{#billing}}{{zip}} ({{card_holder}}){{/billing}}", mustachex.None, `B-9000 (Ada "The Countess" Lovelace & co)`},
		{"section array", "{{#tags}}[{{.}}]{{/tags}}", mustachex.Form, "[a][b%26c]"},
		{"section array of objects", "{{#cards}}{{last4}},{{/cards}}", mustachex.None, "1111,4444,"},
		{"section empty array", "{{#empty}}x{{/empty}}", mustachex.None, ""},
		{"inverted absent", "{{^missing}}none{{/missing}}", mustachex.None, "none"},
		{"inverted present", "{{^cvv}}none{{/cvv}}", mustachex.None, ""},
		{"inverted empty array", "{{^empty}}none {{cvv}}{{/empty}}", mustachex.None, "none 737"},
		{"dot on a string section", "{{#cvv}}{{.}}{{/cvv}}", mustachex.None, "737"},
		{"standalone lines", "a\n{{#cvv}}\nb\n{{/cvv}}\nc", mustachex.None, "a\nb\nc"},
		{"spaces in tags", "{{ cvv }}{{# cvv }}!{{/ cvv }}", mustachex.None, "737!"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := render(t, c.src, c.esc, item)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestKeyErrors(t *testing.T) {
	for _, c := range []struct {
		name, src   string
		kind        error
		key, holder string
	}{
		{"missing", `{"x":"{{nope}}"}`, mustachex.ErrMissingKey, "nope", ""},
		{"missing dotted", "{{billing.street}}", mustachex.ErrMissingKey, "billing.street", ""},
		{"missing under a string", "{{cvv.x}}", mustachex.ErrMissingKey, "cvv.x", ""},
		{"null is missing", "{{nothing}}", mustachex.ErrMissingKey, "nothing", ""},
		{"missing in a section", "{{#cards}}{{first6}}{{/cards}}", mustachex.ErrMissingKey, "first6", "cards"},
		{"missing in an inverted section", "{{^empty}}{{nope}}{{/empty}}", mustachex.ErrMissingKey, "nope", "empty"},
		{"object", "{{billing}}", mustachex.ErrNotText, "billing", ""},
		{"array", "{{tags}}", mustachex.ErrNotText, "tags", ""},
		{"dot at the top is the item", "{{.}}", mustachex.ErrNotText, ".", ""},
		{"null element", "{{#holes}}{{.}}{{/holes}}", mustachex.ErrNotText, ".", "holes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, c.src, mustachex.JSON, item)
			require.ErrorIs(t, err, c.kind)
			require.ErrorIs(t, err, cardvault.ErrInvalid)
			var ke *mustachex.KeyError
			require.True(t, errors.As(err, &ke))
			require.Equal(t, c.key, ke.Key)
			require.Equal(t, c.holder, ke.Section)
			require.Contains(t, err.Error(), fmt.Sprintf("%q", c.key), "the error names the key")
			for _, v := range []string{"4111111111111111", "737", "Lovelace", "Gent", "1111"} {
				require.NotContains(t, err.Error(), v, "the error never holds a value")
			}
		})
	}
	// A section the data does not take is not rendered, so what it names
	// need not be there.
	got, err := render(t, "{{#missing}}{{nope}}{{/missing}}ok", mustachex.None, item)
	require.NoError(t, err)
	require.Equal(t, "ok", got)
}

func TestRefused(t *testing.T) {
	for _, c := range []struct{ name, src, says string }{
		{"delimiter change", "{{=<% %>=}}<% cvv %>", "delimiter"},
		{"delimiter change later", "ok {{cvv}}\n{{=| |=}}|cvv|", "line 2: delimiter"},
		{"partial", "{{> card}}", "partials"},
		{"partial in a section", "{{#cvv}}{{>x}}{{/cvv}}", "partials"},
		{"triple mustache", "{{{card_holder}}}", "unescaped"},
		{"ampersand", "{{& card_holder}}", "unescaped"},
		{"nested sections", "{{#billing}}{{#zip}}x{{/zip}}{{/billing}}", "do not nest"},
		{"nested inverted", "{{^a}}{{^b}}x{{/b}}{{/a}}", "do not nest"},
		{"unclosed section", "{{#cvv}}x", "not closed"},
		{"unclosed tag", "{{cvv", "not closed"},
		{"stray closing tag", "x{{/cvv}}", "closing tag"},
		{"mismatched closing tag", "{{#a}}x{{/b}}", "does not match"},
		{"empty tag", "{{ }}", "empty tag"},
		{"name with a space", "{{card number}}", "key name"},
		{"name starting with a digit", "{{4111111111111111}}", "key name"},
		{"name with a dot at the end", "{{billing.}}", "key name"},
		{"lambda-looking name", "{{#a()}}x{{/a()}}", "key name"},
		{"name too long", "{{" + strings.Repeat("a", mustachex.MaxNameLen+1) + "}}", "key name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := mustachex.Parse(c.src, mustachex.JSON, mustachex.Limits{})
			require.ErrorIs(t, err, mustachex.ErrTemplate)
			require.ErrorIs(t, err, cardvault.ErrInvalid)
			require.Contains(t, err.Error(), c.says)
			require.NotContains(t, err.Error(), "4111111111111111")
		})
	}
}

func TestLimits(t *testing.T) {
	_, err := mustachex.Parse(strings.Repeat("x", 101), mustachex.None, mustachex.Limits{MaxTemplate: 100})
	require.ErrorIs(t, err, mustachex.ErrTooLarge)
	require.ErrorIs(t, err, cardvault.ErrTooLarge)

	// An array of 100,000 empty strings under a section of 2,000 tags:
	// 200 million tags, all writing nothing. The step limit stops it.
	arr, _ := json.Marshal(map[string]any{"a": make([]string, 100_000), "e": ""})
	tm, err := mustachex.Parse("{{#a}}"+strings.Repeat("{{e}}", 2000)+"{{/a}}", mustachex.JSON, mustachex.Limits{})
	require.NoError(t, err)
	_, err = tm.Render(data(t, string(arr)))
	require.ErrorIs(t, err, mustachex.ErrTooLarge)
	require.Contains(t, err.Error(), "visits more than")

	// A 100 KB value named 10,000 times would be a gigabyte.
	big, _ := json.Marshal(map[string]string{"v": strings.Repeat("z", 100_000)})
	tm, err = mustachex.Parse(strings.Repeat("{{v}}", 10_000), mustachex.JSON, mustachex.Limits{})
	require.NoError(t, err)
	_, err = tm.Render(data(t, string(big)))
	require.ErrorIs(t, err, mustachex.ErrTooLarge)
	require.Contains(t, err.Error(), "over 1048576 bytes")

	// Escaping can grow a value past the limit the check counted before
	// escaping: the library's writes stop there.
	quotes, _ := json.Marshal(map[string]string{"q": strings.Repeat(`"`, 600)})
	tm, err = mustachex.Parse("{{q}}", mustachex.JSON, mustachex.Limits{MaxOutput: 1000})
	require.NoError(t, err)
	_, err = tm.Render(data(t, string(quotes)))
	require.ErrorIs(t, err, mustachex.ErrTooLarge)
}

// TestConcurrentEscaping renders JSON and form templates side by side, the
// same parsed templates from many goroutines: run it with -race.
func TestConcurrentEscaping(t *testing.T) {
	jsonT, err := mustachex.Parse(`{"name":"{{card_holder}}"}`, mustachex.JSON, mustachex.Limits{})
	require.NoError(t, err)
	formT, err := mustachex.Parse(`name={{card_holder}}`, mustachex.Form, mustachex.Limits{})
	require.NoError(t, err)
	d := data(t, item)
	testkit.Concurrently(t, 64, func(i int) error {
		tm, want := jsonT, `{"name":"Ada \"The Countess\" Lovelace & co"}`
		if i%2 == 1 {
			tm, want = formT, "name=Ada+%22The+Countess%22+Lovelace+%26+co"
		}
		for range 200 {
			got, err := tm.Render(d)
			if err != nil || string(got) != want {
				return fmt.Errorf("got %q, %v", got, err)
			}
		}
		return nil
	})
}

// TestDataIsPlain: what reaches the library is maps, slices, strings and
// booleans — no func (a lambda) and no type with a method the library
// would call by name.
func TestDataIsPlain(t *testing.T) {
	d := data(t, item)
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		if v.Kind() == reflect.Interface {
			if v.IsNil() {
				return
			}
			v = v.Elem()
		}
		require.Zero(t, v.Type().NumMethod(), "%s has methods", v.Type())
		switch v.Kind() {
		case reflect.Map:
			require.Equal(t, reflect.TypeOf(map[string]any{}), v.Type())
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k))
			}
		case reflect.Slice:
			require.Equal(t, reflect.TypeOf([]any{}), v.Type())
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.String, reflect.Bool:
		default:
			t.Fatalf("a %s reached the data", v.Kind())
		}
	}
	walk(reflect.ValueOf(d).Field(0))
}

func TestNames(t *testing.T) {
	tm, err := mustachex.Parse("{{a}} {{#b}}{{c}}{{a}}{{.}}{{/b}} {{^d}}{{e.f}}{{/d}}", mustachex.None, mustachex.Limits{})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", ".", "d", "e.f"}, tm.Names())
	require.False(t, tm.Static())
	tm, err = mustachex.Parse("no tags {{! but a comment }}", mustachex.None, mustachex.Limits{})
	require.NoError(t, err)
	require.True(t, tm.Static())
	require.Empty(t, tm.Names())
}

func TestValidName(t *testing.T) {
	for _, n := range []string{".", "a", "_a", "card_number", "billing.zip", "a-b.c_d9", "A"} {
		require.True(t, mustachex.ValidName(n), n)
	}
	for _, n := range []string{"", "..", ".a", "a.", "a..b", "9a", "-a", "a b", "a.9", "a*", "a#", "a|b", "@this", strings.Repeat("a", 129)} {
		require.False(t, mustachex.ValidName(n), n)
	}
}

func TestContextChain(t *testing.T) {
	tm, err := mustachex.Parse("Dear {{.}} of {{billing.city}}", mustachex.None, mustachex.Limits{})
	require.NoError(t, err)
	out, err := tm.Render(mustachex.String("Ada"), data(t, item))
	require.NoError(t, err)
	require.Equal(t, "Dear Ada of Gent", string(out))
	// No data at all: only static text renders, a variable is missing.
	tm, err = mustachex.Parse("{{^a}}none{{/a}}", mustachex.None, mustachex.Limits{})
	require.NoError(t, err)
	out, err = tm.Render()
	require.NoError(t, err)
	require.Equal(t, "none", string(out))
}

func TestDataOf(t *testing.T) {
	for _, bad := range []string{`{"a":1,"a":2}`, `{"a":`, "\"\xff\"", strings.Repeat("[", 65) + strings.Repeat("]", 65)} {
		_, err := mustachex.DataOf([]byte(bad))
		require.ErrorIs(t, err, mustachex.ErrData, bad)
	}
	d := data(t, item)
	require.True(t, d.IsObject())
	require.True(t, d.Has("cvv"))
	require.False(t, d.Has("nothing"), "null is absent")
	s, ok := d.Text("amount")
	require.True(t, ok)
	require.Equal(t, "1250", s)
	d.SetText("expiry_month", "06")
	s, ok = d.Text("expiry_month")
	require.True(t, ok)
	require.Equal(t, "06", s)
}
