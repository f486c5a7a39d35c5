package egress

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
)

// MaxRootsFileSize is the largest file [LoadRoots] reads (a full public
// CA bundle is about 250 KB).
const MaxRootsFileSize = 4 << 20

// LoadRoots reads the -egress-ca-file (CARDVAULT_EGRESS_CA_FILE): PEM
// "CERTIFICATE" blocks, to pass as [Config].ExtraRoots. Text between blocks
// is ignored, as in the usual CA bundles. A file with no certificate, a
// block of another type (a private key has no business there), a
// certificate that does not parse, or a file over [MaxRootsFileSize] is
// refused with an error wrapping [ErrInvalidConfig].
func LoadRoots(path string) ([]*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("egress: CA file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRootsFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("egress: CA file: %w", err)
	}
	if len(data) > MaxRootsFileSize {
		return nil, fmt.Errorf("%w: CA file %s is over %d bytes", ErrInvalidConfig, path, MaxRootsFileSize)
	}
	return parseRoots(path, data)
}

func parseRoots(path string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: CA file %s: PEM block %d is a %q, not a CERTIFICATE", ErrInvalidConfig, path, n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file %s: certificate %d does not parse: %v", ErrInvalidConfig, path, n, err)
		}
		certs = append(certs, c)
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("%w: CA file %s: a PEM block after certificate %d is malformed", ErrInvalidConfig, path, len(certs))
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM CERTIFICATE block", ErrInvalidConfig, path)
	}
	return certs, nil
}
