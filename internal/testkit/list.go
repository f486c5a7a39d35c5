package testkit

import "sync"

// List is a list that many goroutines append to — what a test server
// received — and a test reads. The zero value is empty and ready.
type List[T any] struct {
	mu    sync.Mutex
	items []T
}

// Add appends v and returns how many items the list holds with it.
func (l *List[T]) Add(v T) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, v)
	return len(l.items)
}

// All returns a copy of the items, in the order they were added.
func (l *List[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.items...)
}
