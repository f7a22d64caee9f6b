package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

func TestGenerateAndRoundTripKeys(t *testing.T) {
	t.Parallel()
	wantType := map[KeyAlgorithm]string{
		ECDSAP256: "EC PRIVATE KEY", ECDSAP384: "EC PRIVATE KEY",
		RSA2048: "RSA PRIVATE KEY", RSA3072: "RSA PRIVATE KEY", RSA4096: "RSA PRIVATE KEY",
		Ed25519: "PRIVATE KEY",
	}
	for _, alg := range KeyAlgorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key, err := GenerateKey(alg)
			if err != nil {
				t.Fatalf("GenerateKey(%s): %v", alg, err)
			}
			if got := AlgorithmOf(key.Public()); got != alg {
				t.Errorf("AlgorithmOf = %q, want %q", got, alg)
			}
			if err := CheckKeyStrength(key.Public()); err != nil {
				t.Errorf("CheckKeyStrength: %v", err)
			}
			pemBytes, err := MarshalPrivateKeyPEM(key)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(pemBytes)
			if block == nil || block.Type != wantType[alg] {
				t.Fatalf("PEM type = %v, want %s", block, wantType[alg])
			}
			back, err := ParsePrivateKeyPEM(pemBytes)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if !PublicKeysEqual(back.Public(), key.Public()) {
				t.Error("parsed key differs from generated key")
			}
			// DER (the block's bytes) parses too.
			if _, err := ParsePrivateKeyPEM(block.Bytes); err != nil {
				t.Errorf("ParsePrivateKeyPEM(DER): %v", err)
			}
			pub, err := MarshalPublicKeyPEM(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			gotPub, err := ParsePublicKeyPEM(pub)
			if err != nil || !PublicKeysEqual(gotPub, key.Public()) {
				t.Errorf("ParsePublicKeyPEM round trip failed: %v", err)
			}
		})
	}
}

func TestParseKeyAlgorithm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    KeyAlgorithm
		wantErr bool
	}{
		{"", ECDSAP256, false},
		{"ECDSA-P256", ECDSAP256, false},
		{"RSA-2048", RSA2048, false},
		{"ecdsa-p384", ECDSAP384, false},
		{"Ed25519", Ed25519, false},
		{"rsa-1024", "", true},
		{"dsa", "", true},
	}
	for _, tc := range tests {
		got, err := ParseKeyAlgorithm(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseKeyAlgorithm(%q) = %q, %v; want %q, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParsePrivateKeyPEMRejects(t *testing.T) {
	t.Parallel()
	ca, err := NewSelfSignedCA(CAOptions{CommonName: "x"})
	if err != nil {
		t.Fatal(err)
	}
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})
	pubPEM, _ := MarshalPublicKeyPEM(ca.Key.Public())
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"empty", nil, ErrNoPEM},
		{"garbage", []byte("hello world"), ErrNoPEM},
		{"certificate", MarshalCertificatePEM(ca.Cert), ErrNotPrivateKey},
		{"DER certificate", ca.Cert.Raw, ErrNotPrivateKey},
		{"public key", pubPEM, ErrNotPrivateKey},
		{"PKCS8 encrypted", encrypted, ErrEncryptedKey},
		{"legacy encrypted", legacyEncrypted, ErrEncryptedKey},
		{"garbled key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{0x30, 0x01}}), ErrNotPrivateKey},
		{"unknown block", pem.EncodeToMemory(&pem.Block{Type: "FOO", Bytes: []byte{1}}), ErrWrongPEMType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParsePrivateKeyPEM(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("ParsePrivateKeyPEM = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestReadOpenSSLKeys reads keys in every form openssl writes.
func TestReadOpenSSLKeys(t *testing.T) {
	t.Parallel()
	openssl := requireOpenSSL(t)
	dir := t.TempDir()
	cmds := map[string][]string{
		"genrsa.key":     {"genrsa", "-out", "genrsa.key", "2048"},
		"genrsa-trad":    {"genrsa", "-traditional", "-out", "genrsa-trad", "2048"},
		"genpkey-ec.key": {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "genpkey-ec.key"},
		"ecparam.key":    {"ecparam", "-name", "prime256v1", "-genkey", "-out", "ecparam.key"},
		"ed25519.key":    {"genpkey", "-algorithm", "ed25519", "-out", "ed25519.key"},
		"rsa.der":        {"genpkey", "-algorithm", "RSA", "-outform", "DER", "-out", "rsa.der"},
	}
	for name, args := range cmds {
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
		if _, err := ReadPrivateKeyFile(filepath.Join(dir, name)); err != nil {
			t.Errorf("ReadPrivateKeyFile(%s): %v", name, err)
		}
	}
	// An encrypted key gets an error that says so.
	cmd := exec.Command(openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:secret", "-out", "enc.key")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl encrypted: %v\n%s", err, out)
	}
	if _, err := ReadPrivateKeyFile(filepath.Join(dir, "enc.key")); !errors.Is(err, ErrEncryptedKey) {
		t.Errorf("encrypted key: err = %v, want ErrEncryptedKey", err)
	}
}

func TestCheckKeyStrength(t *testing.T) {
	t.Parallel()
	openssl := requireOpenSSL(t)
	dir := t.TempDir()
	cmd := exec.Command(openssl, "genrsa", "-out", "weak.key", "1024")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	key, err := ReadPrivateKeyFile(filepath.Join(dir, "weak.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckKeyStrength(key.Public()); !errors.Is(err, ErrWeakKey) {
		t.Errorf("CheckKeyStrength(RSA-1024) = %v, want ErrWeakKey", err)
	}
	if _, err := CreateCSR(key, subjectCN("x"), SANs{}); !errors.Is(err, ErrWeakKey) {
		t.Errorf("CreateCSR(RSA-1024) = %v, want ErrWeakKey", err)
	}
}

// TestMarshalECPrivateKeyMatchesX509: the direct SEC1 encoding is
// x509.MarshalECPrivateKey's, byte for byte, and parses back to the key.
func TestMarshalECPrivateKeyMatchesX509(t *testing.T) {
	t.Parallel()
	for _, alg := range []KeyAlgorithm{ECDSAP256, ECDSAP384} {
		for range 200 {
			key, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			k := key.(*ecdsa.PrivateKey)
			got, err := marshalECPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			want, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: SEC1 encoding differs from x509's:\n%x\n%x", alg, got, want)
			}
			back, err := x509.ParseECPrivateKey(got)
			if err != nil || !back.Equal(k) {
				t.Fatalf("%s: encoding does not parse back to the key: %v", alg, err)
			}
		}
	}
}

// TestEncodePEMMatchesEncodingPEM: the direct PEM encoder writes what
// encoding/pem writes, for every length around the line boundaries.
func TestEncodePEMMatchesEncodingPEM(t *testing.T) {
	t.Parallel()
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for n := range len(data) {
		for _, typ := range []string{"CERTIFICATE", "EC PRIVATE KEY"} {
			want := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: data[:n]})
			if got := encodePEM(typ, data[:n]); !bytes.Equal(got, want) {
				t.Fatalf("encodePEM(%q, %d bytes) =\n%s\nencoding/pem writes\n%s", typ, n, got, want)
			}
		}
	}
}

// TestMarshalPrivateKeyPEMConcurrent marshals and signs with one key from
// many goroutines at once, as a server signing with its CA key while
// writing it does: every PEM must decode to the same key and every
// signature must verify. crypto/ecdsa's Bytes returns the scalar of the
// key's cached internal form, so wiping it wipes the key.
func TestMarshalPrivateKeyPEMConcurrent(t *testing.T) {
	t.Parallel()
	for _, alg := range []KeyAlgorithm{ECDSAP256, ECDSAP384} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			want, err := MarshalPrivateKeyPEM(key)
			if err != nil {
				t.Fatal(err)
			}
			digest := sha256.Sum256([]byte("kubepki"))
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for range 50 {
						got, err := MarshalPrivateKeyPEM(key)
						if err != nil {
							t.Errorf("MarshalPrivateKeyPEM: %v", err)
							return
						}
						if !bytes.Equal(got, want) {
							t.Errorf("MarshalPrivateKeyPEM from concurrent goroutines = %q, want %q", got, want)
							return
						}
					}
				})
				wg.Go(func() {
					for range 50 {
						sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
						if err != nil {
							t.Errorf("Sign: %v", err)
							return
						}
						if !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], sig) {
							t.Error("a signature made while the key is marshalled does not verify")
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
