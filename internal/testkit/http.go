package testkit

import "net/http"

// SetHeader sets hr's header as the server's tests describe a request:
// contentType is its Content-Type, where "" means application/json when
// the request has a body and "-" means none; then header's fields, which
// win over it.
func SetHeader(hr *http.Request, hasBody bool, contentType string, header map[string]string) {
	switch {
	case contentType == "-":
	case contentType != "":
		hr.Header.Set("Content-Type", contentType)
	case hasBody:
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		hr.Header.Set(k, v)
	}
}
