// Package rules is the rule engine of the vault/capture API: an account's
// named lists of operations (substr, replace, mask, format, hash, encode,
// …) that rewrite the outgoing copy of a vault item — before the proxy
// sends it to a payment service provider, or when GET /v1/vault returns a
// masked view. Stored data never changes: a rule runs on a copy.
//
// # Rules
//
// A rule is a JSON array of operations, run in order ([Parse]):
//
//	[
//	  {"input": "card_number", "output": "card_number", "operation": "replace", "arguments": {"substr": " ", "new_str": ""}},
//	  {"input": "card_expiry", "output": "expiry_month", "operation": "substr", "arguments": {"start": 0, "end": 2}},
//	  {"input": "card_expiry", "output": "expiry_year", "operation": "substr", "arguments": {"start": -4}},
//	  {"input": "card_number", "output": "masked_number", "operation": "mask"}
//	]
//
// Each operation reads its input field and writes its output field:
//
//   - the operations run in order, so an output may feed a later input;
//   - a missing input skips the operation;
//   - the output is written whatever it held (an existing field is
//     overwritten; input and output may be the same field);
//   - an operation that cannot apply to its input's value (parse_float of
//     "abc", substr of an object) copies the value unchanged to the output,
//     as PCI Vault's engine does — except mask, hash and encode, which
//     always apply, so that a failure can never copy a card number where a
//     masked or hashed one was meant to go.
//
// A field is a key of the document or a dot-separated path into nested
// objects ("billing.zip"); each segment starts with a letter or '_' and
// holds letters, digits, '_' and '-'. It is the key syntax of the proxy's
// templates, and a strict subset of gjson's path syntax with no wildcards,
// queries, modifiers or array indexes, so a field names one place and
// nothing else. Keys of other shapes cannot be named. An output whose path
// crosses an array is not written (the operation is skipped); one that
// crosses a string or number replaces it with an object.
//
// # Operations
//
// [Operations] lists them with their arguments (the reply of GET
// /v1/rule/operations). Where an operation works on "text", that is a
// string's contents or a number as written in the JSON; other values make
// it fail (and copy), except where said.
//
//   - noop: copies the input.
//   - stringify: a string stays; any other value becomes a string of its
//     JSON text.
//   - parse_json: a string holding strict JSON becomes that value.
//   - parse_float: text parsed as a decimal number (no NaN or infinity).
//   - convert_to_int {"base": 2..36, default 10}: text parsed as an integer
//     in base ("ff" in base 16 is 255); a fraction fails.
//   - substr {"start", "end"}: characters (not bytes) from start up to end,
//     0-based; a negative index counts from the end; end 0 (the default)
//     means to the end; indexes are clamped, and start at or after end
//     gives "".
//   - replace {"substr" (required), "new_str" (default "")}: every
//     occurrence.
//   - mask {"style": "card" (default) | "account"}: the project's one mask
//     (first six and last four for a card, all stars below twelve
//     characters; "*****" and the last four for an account), after removing
//     spaces and dashes. Any value that is not text becomes "*****"; null
//     stays null.
//   - format {"pattern" (required), "placeholder" (default "#")}: each
//     placeholder in the pattern takes the next character of the text,
//     other characters are copied; the output ends at a placeholder the
//     text cannot fill, and text left over is appended. "#### #### #### ####"
//     spaces a card number; "##/##" turns "0627" into "06/27".
//   - hash {"encoding": "hex" (default) | "base64" | "base64url"}: an
//     HMAC-SHA-256 of the text (or of another value's JSON text) under the
//     deployment's hash key, derived separately for each account — never a
//     plain hash, which a 16-digit number does not survive. The same card
//     gives the same hash within one account and an unrelated one in
//     another.
//   - encode {"encoding": "base64" (default) | "base64url" | "hex"}: of
//     the text or JSON text; base64 is padded, base64url is not.
//   - template {"template" (required)}: a mustache template rendered into
//     a string, with the input's value as {{.}} and every field of the
//     document by name ({{card_holder}}, {{billing.zip}}); values are not
//     escaped (the result is a JSON string). The template engine is the
//     proxy's (package internal/mustachex): no partials, delimiter changes,
//     unescaped tags or nested sections, and a key the document lacks makes
//     the operation fail (and copy). The proxy's derived keys
//     (expiry_month, …) are not added here.
//
// PCI Vault's nonce and encrypt are not offered: an unknown operation is a
// bad rule.
//
// # Limits and errors
//
// A rule holds 1 to [MaxOperations] operations in at most [MaxRuleSize]
// bytes; string arguments are at most [MaxArgumentSize] bytes, a template
// [MaxTemplateSize]. Unknown members and operations, missing or ill-typed
// arguments are refused by Parse with an error wrapping [ErrInvalidRule]
// that is also a *cardvault.InvalidError naming each field by JSON Pointer
// ("/3/arguments/start"). [Engine.Apply] takes a JSON object of at most
// [MaxDocument] bytes and stops with [ErrTooLarge], naming the rule and the
// operation by index, when an operation would make it larger. No error
// holds a value of the document.
//
// # Storage
//
// A [Service] keeps each account's rules under ids ([ValidID]) in a
// [store.Store], bucket "rules.rules": one rule per id, never updated
// (Create with a used id is [ErrExists]; delete and create again), at most
// [MaxRulesPerOwner] per account. Rules belong to the account that made
// them: another account's rule is [ErrNotFound], exactly like a missing
// one. [Service.Load] reads several rules from one view of the store, and
// [Service.Apply] loads and runs them.
package rules
