package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubepki/kubepki/internal/pki"
)

// pairFiles returns a key and a certificate file for WriteFiles.
func pairFiles(dir, key, crt string) []File {
	return []File{
		{Path: filepath.Join(dir, "ca.key"), Data: []byte(key), Mode: pki.ModeKey},
		{Path: filepath.Join(dir, "ca.crt"), Data: []byte(crt), Mode: pki.ModeCert},
	}
}

func readPair(t *testing.T, dir string) (key, crt string) {
	t.Helper()
	k, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(k), string(c)
}

// TestWriteFilesSecondRenameFails: when the certificate cannot be put in
// place after the key was, the old key is put back; when that fails too,
// the error says so and names the key.
func TestWriteFilesSecondRenameFails(t *testing.T) {
	t.Parallel()
	errInjected := errors.New("injected")
	tests := []struct {
		name         string
		sabotage     bool // make putting the old key back fail
		wantRollback error
	}{
		{name: "rolled back"},
		{name: "rollback fails", sabotage: true, wantRollback: pki.ErrUnsafePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := WriteFiles(t.Context(), pairFiles(dir, "old key", "old crt"), WriteFilesOptions{}); err != nil {
				t.Fatal(err)
			}
			keyPath, crtPath := filepath.Join(dir, "ca.key"), filepath.Join(dir, "ca.crt")
			err := WriteFiles(t.Context(), pairFiles(dir, "new key", "new crt"), WriteFilesOptions{Replace: true,
				BeforeRename: func(path string) error {
					if path != crtPath {
						return nil
					}
					if tc.sabotage {
						// A folder where the key was: the old key cannot go back.
						if err := os.Remove(keyPath); err != nil {
							return err
						}
						if err := os.Mkdir(keyPath, 0o700); err != nil {
							return err
						}
					}
					return errInjected
				}})
			if !errors.Is(err, errInjected) {
				t.Fatalf("WriteFiles = %v, want the injected error", err)
			}
			if tc.wantRollback != nil {
				if !errors.Is(err, tc.wantRollback) {
					t.Errorf("WriteFiles = %v, want the rollback failure (%v) reported too", err, tc.wantRollback)
				}
				return
			}
			if key, crt := readPair(t, dir); key != "old key" || crt != "old crt" {
				t.Errorf("after the failed commit the pair is (%q, %q), want the old one", key, crt)
			}
		})
	}
}

// TestWriteFilesCompletesCrashedCommit: a crash between the key's rename
// and the certificate's leaves a commit record that the next WriteFiles
// in the folder completes before anything else.
func TestWriteFilesCompletesCrashedCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := WriteFiles(t.Context(), pairFiles(dir, "old key", "old crt"), WriteFilesOptions{}); err != nil {
		t.Fatal(err)
	}
	crtPath := filepath.Join(dir, "ca.crt")
	err := WriteFiles(t.Context(), pairFiles(dir, "new key", "new crt"), WriteFilesOptions{Replace: true,
		BeforeRename: func(path string) error {
			if path == crtPath {
				return errSimulatedCrash
			}
			return nil
		}})
	if !errors.Is(err, errSimulatedCrash) {
		t.Fatalf("WriteFiles = %v, want the simulated crash", err)
	}
	other := filepath.Join(dir, "other.crt")
	if err := WriteFiles(t.Context(), []File{{Path: other, Data: []byte("x"), Mode: pki.ModeCert}}, WriteFilesOptions{}); err != nil {
		t.Fatal(err)
	}
	if key, crt := readPair(t, dir); key != "new key" || crt != "new crt" {
		t.Errorf("after recovery the pair is (%q, %q), want the new one", key, crt)
	}
}

// TestWriteFilesExclusive: without Replace an existing file fails the
// commit with pki.ErrExists and nothing is written.
func TestWriteFilesExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("old crt"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFiles(t.Context(), pairFiles(dir, "new key", "new crt"), WriteFilesOptions{})
	if !errors.Is(err, pki.ErrExists) {
		t.Fatalf("WriteFiles over an existing file = %v, want pki.ErrExists", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); !os.IsNotExist(err) {
		t.Errorf("the refused commit wrote ca.key (stat: %v)", err)
	}
}
