// Package patch changes JSON documents the standard ways: RFC 6902 JSON
// Patch ([Apply], [Decode], [Patch.Apply]), RFC 7396 JSON merge patch
// ([Merge]), both addressed by RFC 6901 JSON Pointers ([ParsePointer]), and
// a [Policy] that says which pointers a patch may name. It is the engine
// behind secure-token PATCH requests and vault merge updates.
//
// It works on the raw bytes. Nothing is decoded into maps: a small scanner
// finds the value a pointer names and the result is spliced together from
// the document's own bytes and the patch's, which is what makes it an
// order of magnitude faster than decoding (see Performance) and what lets
// it keep the document's formatting.
//
// # JSON Patch
//
// A patch is a JSON array of operations, applied in order, each to the
// result of the one before; the whole patch is atomic. All six operations
// follow RFC 6902 to the letter:
//
//   - add: replaces the root or an object member, or inserts an array
//     element (index 0..len, or "-" to append). The parent must exist:
//     missing objects are not created.
//   - remove: the value must exist. Removing the root is refused.
//   - replace: the value must exist.
//   - move: from must exist and must not be a proper prefix of path (a
//     value cannot move into its own child); move to the same location is
//     a no-op.
//   - copy: from must exist.
//   - test: the value must exist and equal "value": same type; strings
//     equal after unescaping; numbers equal by exact decimal value (1,
//     1.0, 1e0 and 10e-1 are one number, at any size: no float64
//     rounding); arrays element by element in order; objects with the
//     same members in any order.
//
// Members other than op, path, from and value are ignored (RFC 6902
// section 4). The patch and the document must be strict JSON as
// github.com/cardvault/cardvault/internal/jsonx.Check defines it: one
// value, valid UTF-8, no duplicate member names — so an operation with two
// "op" members is refused rather than read one way or the other.
//
// Apply never modifies its inputs and returns a new slice. The result keeps
// the document's bytes wherever the patch does not change them
// (whitespace, member order, the spelling of numbers and escapes); values
// from the patch are written as the patch spells them, and new members and
// elements are written without surrounding whitespace. The result is always
// strict JSON.
//
// # JSON Pointers
//
// A [Pointer] is the list of reference tokens of an RFC 6901 pointer,
// unescaped ("~1" is "/", "~0" is "~", decoded in one pass so that "~01" is
// "~1"). "" is the root; "/" names the member whose name is empty. Any
// string is a member name — including ".", "*", "#" and the others that
// gjson and sjson paths treat as syntax, and numerals: "/0" is member "0"
// of an object and element 0 of an array. On an array a token must be
// "0" or a digit 1-9 followed by digits ("01", "-1", "1e0" name nothing),
// less than the length, or equal to it (or "-") for add only.
//
// # Merge patch
//
// [Merge] follows RFC 7396: an object patch merges recursively, a null
// member removes, anything else (arrays included) replaces, and objects a
// merge creates carry no null members. Values the patch does not reach
// keep their bytes; an object it merges into is rewritten without
// whitespace between members.
//
// # Policy
//
// A [Policy] has allow and deny patterns, pointers in which "*" matches any
// one token. [DecodeWith] checks every pointer of every operation, from
// included and test included, against it: a pointer is refused when it
// overlaps a deny pattern (is its ancestor or its descendant) or, when
// there are allow patterns, is not at or under one of them. The
// secure-token package keeps card numbers, tokens and statuses immutable
// this way while customers and custom fields stay editable. [MergeWith]
// checks the members a merge patch sets or removes.
//
// # Limits
//
// [Limits] bound the patch's size and operation count, the nesting depth of
// the document, of the patch's values and of every intermediate result, the
// document's size and the result's after every operation, and the bytes
// that copy operations may duplicate (so a patch of twenty copies that each
// double the document fails at the copy that crosses the limit, having
// built nothing bigger). They are on by default; see [Limits] for values.
//
// # Errors
//
// An error about one operation is an [*OpError] with the operation's index,
// op, path and from; its message reads
//
//	op 2 (replace /customer/x): path not found: no member "x" in /customer
//
// Every error wraps one of the sentinels [ErrInvalidPatch],
// [ErrInvalidPointer], [ErrInvalidDocument], [ErrPathNotFound],
// [ErrTestFailed], [ErrPathNotAllowed] and [ErrTooLarge], each of which
// wraps one kind of the root package (cardvault.ErrInvalid,
// cardvault.ErrConflict for a failed test, cardvault.ErrTooLarge). Messages
// name ops and pointers, never values: values are card data.
//
// # Conformance
//
// The tests run the cross-language suite json-patch/json-patch-tests
// (tests.json and spec_tests.json, kept in the project's shared reference
// folder): all 108 enabled cases pass, and so do the 4 disabled ones (a
// scalar document, a test of the whole document, two operations with two
// "op" members). github.com/evanphx/json-patch/v5 v5.9.11 fails 6 of the 108
// (a negative index, the empty member name, the member names with special
// characters, a test without a value, two leading-zero indices). Fuzz targets compare Apply and Merge with a plain
// decode-into-any implementation written from the RFCs.
//
// # Performance
//
// Apply decodes and applies a patch per call. Medians of 6 runs against
// github.com/evanphx/json-patch/v5 v5.9.11 (DecodePatch + Apply,
// MergePatch) in the same run, on a shared 2-core Intel Xeon:
//
//	benchmark                 cardvault   evanphx v5   faster   allocs (cardvault / evanphx)
//	Apply/SecureToken3Ops       3.79 µs     40.34 µs    10.6×      4 / 369   (92× fewer)
//	Apply/List60KB4Ops        106.35 µs   1019    µs     9.6×     13 / 733   (56× fewer)
//	Merge/SecureToken           5.38 µs     40.16 µs     7.5×      8 / 253   (32× fewer)
//
// SecureToken3Ops is the guide's three-op update on its 1.3 KB secure
// token (testdata/securetoken.json); List60KB4Ops is four ops spread over a
// 60 KB list of 38 tokens, one of which makes the scan reach the last
// element. Reproduce with
//
//	go test -run '^$' -bench . -count 6 ./patch
//
// On the 60 KB document about 45% of the time is jsonx.Check proving the
// document strict JSON, 30% the scan to /data/37, and most of the rest
// copying the result; across runs on this noisy machine that ratio lies
// between 9.4× and 10.7×, the token's between 10.6× and 11.9×.
//
// gjson and sjson are not used: their path syntax cannot name every member
// (the empty name, names holding "." "*" "?" "#" "|" "@" "\" "!", numeric
// names of objects), so a byte scanner was needed anyway, and the same
// scanner decoding the patch in one pass is faster than gjson walking each
// operation twice (gjson decoding alone was a fifth of Apply's time).
package patch
