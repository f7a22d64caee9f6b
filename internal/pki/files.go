package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// File and directory modes, as kubeadm and client-go write them
// (kubernetes-pki reference §1.7), except that kubepki creates key
// directories 0700.
const (
	ModeKey        fs.FileMode = 0o600
	ModePublicKey  fs.FileMode = 0o600
	ModeCSR        fs.FileMode = 0o600
	ModeKubeconfig fs.FileMode = 0o600
	ModeCert       fs.FileMode = 0o644
	ModeKeyDir     fs.FileMode = 0o700
	ModeDir        fs.FileMode = 0o755
)

// maxFileSize bounds what the Read functions read.
const maxFileSize = maxPEMInput

// WriteFile writes data to path atomically with mode perm: a temporary
// file is created 0600 with O_EXCL in the same directory, set to perm,
// written, synced, closed and renamed over path, and the directory is
// synced. Readers see the old file or the new one, never a part. The mode
// does not depend on the umask. An existing regular file is replaced; a
// symlink, directory or other non-regular file at path is refused with
// ErrUnsafePath. The directory must exist (see MkdirAll).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return writeAtomic(path, data, perm, false)
}

// WriteFileNew is WriteFile that refuses to replace anything: it returns
// ErrExists if path exists, even if another process creates it during the
// call.
func WriteFileNew(path string, data []byte, perm fs.FileMode) error {
	return writeAtomic(path, data, perm, true)
}

func writeAtomic(path string, data []byte, perm fs.FileMode, exclusive bool) (err error) {
	if fi, lerr := os.Lstat(path); lerr == nil {
		if exclusive {
			return fmt.Errorf("write %s: %w", path, ErrExists)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("write %s: %w; remove it or choose another path", path, ErrUnsafePath)
		}
	} else if !errors.Is(lerr, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, lerr)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp made the file 0600 less the umask; set the exact mode
	// before any byte is written, so a key is never readable by others.
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if exclusive {
		// link fails if path exists, which rename would silently replace.
		if err = os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = ErrExists
			}
			return fmt.Errorf("write %s: %w", path, err)
		}
		os.Remove(tmp)
	} else if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir makes a rename in dir durable. File systems that cannot sync a
// folder (EINVAL) are accepted.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents with mode perm, whatever the
// umask. Existing directories keep their mode.
func MkdirAll(dir string, perm fs.FileMode) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("create directory %s: a file is in the way; move it or choose another directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	return nil
}

// ReadFile reads a file of at most 4 MiB, refusing larger ones.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", path, ErrTooLarge, maxFileSize)
	}
	return data, nil
}

// ReadPrivateKeyFile reads a private key in any form ParsePrivateKeyPEM
// accepts. Errors name the file and say what was found instead.
func ReadPrivateKeyFile(path string) (crypto.Signer, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	key, err := ParsePrivateKeyPEM(data)
	clear(data)
	if err != nil {
		switch {
		case errors.Is(err, ErrEncryptedKey):
			return nil, fmt.Errorf("read private key %s: %w; decrypt it first (openssl pkey -in %s -out plain.key)", path, err, path)
		case errors.Is(err, ErrNotPrivateKey), errors.Is(err, ErrWrongPEMType):
			return nil, fmt.Errorf("read private key %s: %w; pass the .key file, not the certificate or request", path, err)
		}
		return nil, fmt.Errorf("read private key %s: %w", path, err)
	}
	return key, nil
}

// ReadCertificateFile reads the first certificate of a PEM or DER file.
func ReadCertificateFile(path string) (*x509.Certificate, error) {
	certs, err := ReadCertificatesFile(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// ReadCertificatesFile reads every certificate of a PEM bundle or one DER
// certificate.
func ReadCertificatesFile(path string) ([]*x509.Certificate, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		if errors.Is(err, ErrWrongPEMType) {
			if strings.EqualFold(filepath.Ext(path), ".crt") {
				return nil, fmt.Errorf("read certificate %s: %w; the file is named as a certificate but holds something else", path, err)
			}
			return nil, fmt.Errorf("read certificate %s: %w; pass the .crt file", path, err)
		}
		return nil, fmt.Errorf("read certificate %s: %w", path, err)
	}
	return certs, nil
}

// ReadCSRFile reads a certificate request from a PEM or DER file.
func ReadCSRFile(path string) (*x509.CertificateRequest, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate request: %w", err)
	}
	csr, err := ParseCSRPEM(data)
	if err != nil {
		return nil, fmt.Errorf("read certificate request %s: %w", path, err)
	}
	return csr, nil
}

// OpenToOthers reports whether mode lets group or others read, write or
// run the file: what private keys and kubeconfigs must never allow
// (security.md §2, item 8).
func OpenToOthers(mode fs.FileMode) bool { return mode.Perm()&0o077 != 0 }

// CheckKeyFileMode returns an error if the file at path is readable or
// writable by group or others, with the chmod that fixes it.
func CheckKeyFileMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); OpenToOthers(m) {
		return fmt.Errorf("private key %s has mode %04o, readable by others; run \"chmod 600 %s\"", path, m, path)
	}
	return nil
}
