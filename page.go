package cardvault

// MaxPage is the most entries one page of a listing holds — vault keys and
// items, capture endpoints, dead letters — and the size of a page when the
// caller asks for none.
const MaxPage = 1000

// PageSize returns the page size a listing uses for a requested limit:
// MaxPage for none (0 or less) or more than MaxPage, limit otherwise.
func PageSize(limit int) int {
	if limit <= 0 || limit > MaxPage {
		return MaxPage
	}
	return limit
}
