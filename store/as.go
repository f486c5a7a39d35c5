package store

import "reflect"

// asDriver sets *target to d when target is a non-nil pointer to d's type
// (or to an interface d implements).
func asDriver(d any, target any) bool {
	p := reflect.ValueOf(target)
	if p.Kind() != reflect.Pointer || p.IsNil() {
		return false
	}
	v := reflect.ValueOf(d)
	if !v.Type().AssignableTo(p.Elem().Type()) {
		return false
	}
	p.Elem().Set(v)
	return true
}
