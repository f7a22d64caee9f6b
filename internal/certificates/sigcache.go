package certificates

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
)

// maxVerifiedRequests bounds the verified-signature cache: about 40 bytes
// a request, so a full cache is under 200 KB.
const maxVerifiedRequests = 8192

// verified remembers the SHA-256 of the DER of requests whose
// self-signature verified in this process. A CSR's signature is checked at
// create and again by the signer (and by every later ParseRequest of the
// same immutable spec.request); the check is deterministic in the DER
// bytes, so a hit skips only the repeated ECDSA/RSA verification, never
// the parse or any policy check.
var verified = &sigCache{seen: make(map[[sha256.Size]byte]struct{}, 256)}

type sigCache struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]struct{}
}

// checkSignature verifies req's self-signature unless the same DER
// verified before, and remembers it when it does.
func (c *sigCache) checkSignature(req *x509.CertificateRequest) error {
	sum := sha256.Sum256(req.Raw)
	c.mu.Lock()
	_, ok := c.seen[sum]
	c.mu.Unlock()
	if ok {
		return nil
	}
	if err := req.CheckSignature(); err != nil {
		return err
	}
	c.mu.Lock()
	if len(c.seen) >= maxVerifiedRequests {
		// Drop everything rather than track age: a miss only costs one
		// verification again.
		clear(c.seen)
	}
	c.seen[sum] = struct{}{}
	c.mu.Unlock()
	return nil
}
