package securetoken_test

import (
	"bytes"
	"testing"

	"github.com/cardvault/cardvault/securetoken"
)

func BenchmarkParseCreateRequest(b *testing.B) {
	body := createCard(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := securetoken.ParseCreateRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublicJSON(b *testing.B) {
	rec := cardRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rec.PublicJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// ApplyPublic on the 1.3 KB public document of the guide's card: the
// model's share of a PATCH.
func BenchmarkApplyPublic(b *testing.B) {
	rec := cardRecord(b)
	doc := bytes.Replace(publicJSON(b, rec), []byte(`"Hopper"`), []byte(`"Reed"`), 1)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := securetoken.ApplyPublic(rec, doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealedRoundTrip(b *testing.B) {
	rec := cardRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		data, err := rec.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		var r securetoken.Record
		if err := r.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNearestPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		securetoken.NearestPath("/customer/billingAddress/postCode") // the slowest branch: edit distance
	}
}
