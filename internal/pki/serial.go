package pki

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// serialBits is the number of random bits in a serial number: 128, twice
// the 64 that the CA/Browser Forum requires, and within RFC 5280's 20
// octets once the sign bit is accounted for.
const serialBits = 128

// NewSerial returns a positive serial number with 128 bits from
// crypto/rand. It is never derived from time or a counter.
func NewSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), serialBits)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
