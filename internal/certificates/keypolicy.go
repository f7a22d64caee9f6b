package certificates

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"math/big"
	"sync"
)

// CheckSignatureAlgorithm reports, as an error wrapping
// ErrSignatureAlgorithm, whether alg is outside the CSR policy: RSA
// PKCS#1 v1.5 or PSS with SHA-256/384/512, ECDSA with SHA-256/384/512, or
// Ed25519. Go's CheckSignature alone accepts SHA-1.
func CheckSignatureAlgorithm(alg x509.SignatureAlgorithm) error {
	switch alg {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.PureEd25519:
		return nil
	}
	return fmt.Errorf("%w: %v; sign the request with SHA-256 or stronger", ErrSignatureAlgorithm, alg)
}

// CheckPublicKey reports, as an error wrapping ErrPublicKey, whether pub is
// outside the CSR key policy: ECDSA P-256 or P-384; RSA with a 2048, 3072
// or 4096-bit modulus, exponent 65537, no small prime factor and primes not
// close enough for Fermat factoring; or Ed25519.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384():
			return nil
		}
		return fmt.Errorf("%w: ECDSA curve %s; use P-256 or P-384", ErrPublicKey, k.Curve.Params().Name)
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 key of %d bytes", ErrPublicKey, len(k))
		}
		return nil
	case *rsa.PublicKey:
		return checkRSA(k)
	case nil:
		return fmt.Errorf("%w: no public key", ErrPublicKey)
	}
	return fmt.Errorf("%w: key type %T; use ECDSA P-256/P-384, RSA 2048/3072/4096 or Ed25519", ErrPublicKey, pub)
}

// fermatRounds bounds the Fermat factoring attempt: it finds p and q when
// |p-q| is below about 2^(bits/4) times a small factor, as for keys made by
// broken generators (CVE-2022-26320).
const fermatRounds = 100

func checkRSA(k *rsa.PublicKey) error {
	if k.N == nil {
		return fmt.Errorf("%w: RSA key without modulus", ErrPublicKey)
	}
	bits := k.N.BitLen()
	switch bits {
	case 2048, 3072, 4096:
	default:
		return fmt.Errorf("%w: RSA modulus of %d bits; use 2048, 3072 or 4096", ErrPublicKey, bits)
	}
	if k.E != 65537 {
		return fmt.Errorf("%w: RSA exponent %d; use 65537", ErrPublicKey, k.E)
	}
	if k.N.Bit(0) == 0 {
		return fmt.Errorf("%w: RSA modulus is even", ErrPublicKey)
	}
	if hasSmallFactor(k.N) {
		return fmt.Errorf("%w: RSA modulus has a small prime factor", ErrPublicKey)
	}
	if fermatFactors(k.N, fermatRounds) {
		return fmt.Errorf("%w: RSA primes are too close together", ErrPublicKey)
	}
	return nil
}

// smallPrimesProduct is the product of the primes below 10000: one GCD
// with it finds a modulus with a small factor.
var smallPrimesProduct = sync.OnceValue(func() *big.Int {
	const limit = 10000
	composite := make([]bool, limit)
	p := big.NewInt(1)
	for i := 2; i < limit; i++ {
		if composite[i] {
			continue
		}
		p.Mul(p, big.NewInt(int64(i)))
		for j := i * i; j < limit; j += i {
			composite[j] = true
		}
	}
	return p
})

// hasSmallFactor reports whether a prime below 10000 divides n.
func hasSmallFactor(n *big.Int) bool {
	return new(big.Int).GCD(nil, nil, n, smallPrimesProduct()).Cmp(big.NewInt(1)) != 0
}

// fermatFactors reports whether n = a² - b² is found within rounds steps
// from a = ceil(sqrt(n)). a² is updated incrementally and most candidates
// are rejected by cheap quadratic-residue filters before a square root.
func fermatFactors(n *big.Int, rounds int) bool {
	a := new(big.Int).Sqrt(n)
	a2 := new(big.Int).Mul(a, a)
	if a2.Cmp(n) == 0 {
		return true // a perfect square is p = q
	}
	// a = a+1: a² += 2a + 1.
	a2.Add(a2, a).Add(a2, a).Add(a2, big.NewInt(1))
	a.Add(a, big.NewInt(1))
	b2 := new(big.Int)
	for range rounds {
		b2.Sub(a2, n)
		if isSquare(b2) {
			return true
		}
		a2.Add(a2, a).Add(a2, a).Add(a2, big.NewInt(1))
		a.Add(a, big.NewInt(1))
	}
	return false
}

// isSquare reports whether x ≥ 0 is a perfect square.
func isSquare(x *big.Int) bool {
	if x.Sign() < 0 {
		return false
	}
	// Squares modulo 64 end in one of 12 residues; reject the rest
	// without a division.
	if w := x.Bits(); len(w) > 0 && !squareMod64[w[0]&63] {
		return false
	}
	// Then modulo 63, 65 and 11 with one short division: together the
	// filters pass about one candidate in 240.
	rem := new(big.Int).Mod(x, big.NewInt(63*65*11)).Int64()
	if !squareMod[0][rem%63] || !squareMod[1][rem%65] || !squareMod[2][rem%11] {
		return false
	}
	r := new(big.Int).Sqrt(x)
	return r.Mul(r, r).Cmp(x) == 0
}

// squareMod[k][i] reports whether i is a square modulo 63, 65 and 11.
var squareMod = func() (t [3][65]bool) {
	for k, m := range []int{63, 65, 11} {
		for i := range m {
			t[k][i*i%m] = true
		}
	}
	return t
}()

// squareMod64[i] reports whether i is a square modulo 64.
var squareMod64 = func() (t [64]bool) {
	for i := range 64 {
		t[i*i%64] = true
	}
	return t
}()
