package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/pki"
)

// TestCANewForceKeepsPairOnFailure replaces a CA with "ca new --force"
// and fails the certificate's write after the key's: the old key and
// certificate stay, and still match; a failure to put the old key back
// is reported, naming the key.
func TestCANewForceKeepsPairOnFailure(t *testing.T) {
	t.Parallel()
	errInjected := errors.New("injected write failure")
	tests := []struct {
		name     string
		sabotage bool
	}{
		{name: "rolled back"},
		{name: "rollback fails", sabotage: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			crt, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
			if _, errOut, code := execPKI(t, "ca", "new", "--cert-out", crt, "--key-out", key); code != 0 {
				t.Fatalf("ca new: %s", errOut)
			}
			oldCrt, oldKey := mustRead(t, crt), mustRead(t, key)
			o := &caNewOptions{commonName: "kubernetes", certOut: crt, keyOut: key, keyAlgorithm: string(pki.DefaultKeyAlgorithm),
				validity: pki.DefaultCAValidity, force: true,
				beforeRename: func(path string) error {
					if path != crt {
						return nil
					}
					if bytes.Equal(mustRead(t, key), oldKey) {
						t.Error("the new key is not in place when the certificate is renamed; the test no longer fails between the two writes")
					}
					if tc.sabotage {
						if err := os.Remove(key); err != nil {
							return err
						}
						if err := os.Mkdir(key, 0o700); err != nil {
							return err
						}
					}
					return errInjected
				}}
			if err := o.Complete(); err != nil {
				t.Fatal(err)
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := o.Run(t.Context(), IOStreams{Out: &out, ErrOut: &out})
			if !errors.Is(err, errInjected) {
				t.Fatalf("ca new --force = %v, want the injected failure", err)
			}
			if tc.sabotage {
				if !errors.Is(err, pki.ErrUnsafePath) || !strings.Contains(err.Error(), key) {
					t.Errorf("ca new --force = %v, want the failure to put back %s reported", err, key)
				}
				return
			}
			if !bytes.Equal(mustRead(t, crt), oldCrt) || !bytes.Equal(mustRead(t, key), oldKey) {
				t.Error("the failed ca new --force changed ca.crt or ca.key, want the old pair")
			}
			if _, err := pki.LoadCA(crt, key); err != nil {
				t.Errorf("the old pair no longer loads: %v", err)
			}
		})
	}
}
