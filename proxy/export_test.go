package proxy

// MaskAnswer masks s as an answer to a call on an item with these numbers
// and CVVs is masked.
func MaskAnswer(numbers, cvvs []string, s string) string {
	return masker{numbers: numbers, cvvs: cvvs}.text(s)
}
