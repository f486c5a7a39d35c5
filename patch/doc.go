// Package patch applies RFC 6902 JSON Patch and RFC 7396 JSON merge patch
// documents to raw JSON bytes.
package patch
