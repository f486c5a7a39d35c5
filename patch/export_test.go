package patch

// AlwaysIndex makes every application keep container indexes, whatever
// the document's size, until the returned function restores the default:
// tests run their small documents through both ways of stepping.
func AlwaysIndex() (restore func()) {
	saved := indexFrom
	indexFrom = 0
	return func() { indexFrom = saved }
}
