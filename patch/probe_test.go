package patch_test

import (
	"testing"

	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/patch"
)

func BenchmarkProbe(b *testing.B) {
	doc := readToken(b)
	ops := []byte(tokenOps)
	b.Run("check-doc", func(b *testing.B) {
		for b.Loop() {
			jsonx.Check(doc, jsonx.Limits{})
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			patch.Decode(ops)
		}
	})
	p, _ := patch.Decode(ops)
	b.Run("apply", func(b *testing.B) {
		for b.Loop() {
			p.Apply(doc)
		}
	})
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			patch.Apply(doc, ops)
		}
	})
}
