package securetoken

import "strconv"

// brandRanges maps issuer identification number ranges to card brands, most
// specific first. The ranges are the networks' published ones (ISO/IEC
// 7812 IINs); a number outside all of them has no brand.
var brandRanges = []struct {
	digits int // length of the prefix compared
	lo, hi int
	brand  string
}{
	{4, 2200, 2204, "Mir"},
	{4, 2221, 2720, "Mastercard"},
	{2, 51, 55, "Mastercard"},
	{2, 34, 34, "American Express"},
	{2, 37, 37, "American Express"},
	{4, 3528, 3589, "JCB"},
	{3, 300, 305, "Diners Club"},
	{4, 3095, 3095, "Diners Club"},
	{2, 36, 36, "Diners Club"},
	{2, 38, 39, "Diners Club"},
	{4, 6011, 6011, "Discover"},
	{3, 644, 649, "Discover"},
	{2, 65, 65, "Discover"},
	{2, 62, 62, "UnionPay"},
	{4, 5018, 5018, "Maestro"},
	{4, 5020, 5020, "Maestro"},
	{4, 5038, 5038, "Maestro"},
	{4, 5893, 5893, "Maestro"},
	{4, 6304, 6304, "Maestro"},
	{4, 6759, 6759, "Maestro"},
	{4, 6761, 6763, "Maestro"},
	{1, 4, 4, "Visa"},
}

// cardBrand returns the brand of a card number, or "".
func cardBrand(number string) string {
	for _, r := range brandRanges {
		if len(number) < r.digits {
			continue
		}
		p, err := strconv.Atoi(number[:r.digits])
		if err != nil {
			return ""
		}
		if r.lo <= p && p <= r.hi {
			return r.brand
		}
	}
	return ""
}
