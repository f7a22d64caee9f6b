package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// runServe runs kubepki serve with args until it returns or ctx's
// 30-second bound ends, and returns its error and outputs.
func runServe(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	c.SetArgs(append([]string{"serve", "--secure-port", "0", "--log-format", "text"}, args...))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = c.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// etcdSnapshot is every key under prefix with its value and revision,
// and the cluster's revision, which any write moves.
func etcdSnapshot(t *testing.T, endpoints []string, prefix string) string {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Get(t.Context(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("revision " + strconv.FormatInt(resp.Header.Revision, 10) + "\n")
	for _, kv := range resp.Kvs {
		b.WriteString(string(kv.Key) + " " + strconv.FormatInt(kv.ModRevision, 10) + " " + string(kv.Value) + "\n")
	}
	return b.String()
}

// dirSnapshot lists every file under dir with its mode and content hash,
// or "absent".
func dirSnapshot(t *testing.T, dir string) string {
	t.Helper()
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return "absent"
	}
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := p + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			line += " " + hex.EncodeToString(sum[:8])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// copyPKI copies the regular files of from (a pki/ folder) to to, with
// their modes.
func copyPKI(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return pki.WriteFile(target, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// certFingerprint is the SHA-256 of the DER of the certificate file.
func certFingerprint(t *testing.T, path string) string {
	t.Helper()
	c, err := pki.ReadCertificateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// TestServeEtcdReplicasShareCA checks that replicas of one etcd store
// must share its CAs: the first records them, a replica with the same
// pki/ joins, one with another CA, or without pki/, is refused without
// writing anything, and --allow-new-ca rotates the CA on purpose.
func TestServeEtcdReplicasShareCA(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, etcdtest.Options{})
	eps := cluster.Endpoints()
	const prefix = "/kubepki-ca"
	flags := []string{"--etcd-servers", strings.Join(eps, ","), "--etcd-prefix", prefix}
	tmp := t.TempDir()
	r1 := filepath.Join(tmp, "r1")

	// The first replica makes the PKI and records its CAs.
	_, stop := startServe(t, r1, flags...)
	serveIssue(t, filepath.Join(r1, "admin.conf"))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	caFP := certFingerprint(t, filepath.Join(r1, "pki", "ca.crt"))
	snap := etcdSnapshot(t, eps, prefix+"/kubepki.io/")
	for _, want := range []string{prefix + "/kubepki.io/signing-ca", prefix + "/kubepki.io/client-ca", prefix + "/kubepki.io/store-id"} {
		if !strings.Contains(snap, want+" ") {
			t.Errorf("etcd lacks %s after the first start:\n%s", want, snap)
		}
	}
	if !strings.Contains(snap, "signing-ca ") || strings.Count(snap, caFP) != 2 {
		t.Errorf("etcd does not record ca.crt's fingerprint %s as signing and client CA:\n%s", caFP, snap)
	}

	// A new data dir: refused instead of making a PKI of its own.
	r2 := filepath.Join(tmp, "r2")
	before := etcdSnapshot(t, eps, prefix)
	out, _, err := runServe(t, append([]string{"--data-dir", r2}, flags...)...)
	refused, ok := errors.AsType[*newPKIRefusedError](err)
	if !ok || ExitCode(err) != 1 {
		t.Fatalf("serve with a new data dir on a used store = exit %d (%v), want 1 and a *newPKIRefusedError", ExitCode(err), err)
	}
	if refused.PKIDir != filepath.Join(r2, "pki") || !strings.Contains(err.Error(), "copy pki/") || !strings.Contains(err.Error(), "--allow-new-ca") {
		t.Errorf("refusal %v, want it to name %s, copying pki/ and --allow-new-ca", err, filepath.Join(r2, "pki"))
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	if got := dirSnapshot(t, r2); got != "absent" {
		t.Errorf("the refused start left the new data dir behind:\n%s", got)
	}
	if after := etcdSnapshot(t, eps, prefix); after != before {
		t.Errorf("the refused start wrote to etcd:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// An empty data dir stays empty.
	if err := os.MkdirAll(r2, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runServe(t, append([]string{"--data-dir", r2}, flags...)...); !errors.As(err, &refused) {
		t.Fatalf("serve with an empty data dir on a used store = %v, want a *newPKIRefusedError", err)
	}
	if entries, err := os.ReadDir(r2); err != nil || len(entries) != 0 {
		t.Errorf("the refused start left %v in the empty data dir (%v)", entries, err)
	}

	// A data dir with another CA: refused, naming both fingerprints.
	other := filepath.Join(tmp, "other")
	otherEtcd := etcdtest.Start(t, etcdtest.Options{})
	_, stop = startServe(t, other, "--etcd-servers", strings.Join(otherEtcd.Endpoints(), ","), "--etcd-prefix", prefix)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(other, "etcd-store-id")); err != nil {
		t.Fatal(err)
	}
	otherFP := certFingerprint(t, filepath.Join(other, "pki", "ca.crt"))
	dirBefore := dirSnapshot(t, other)
	out, _, err = runServe(t, append([]string{"--data-dir", other}, flags...)...)
	mismatch, ok := errors.AsType[*caMismatchError](err)
	if !ok || ExitCode(err) != 1 {
		t.Fatalf("serve with another CA = exit %d (%v), want 1 and a *caMismatchError", ExitCode(err), err)
	}
	want := []caMismatch{
		{What: "signing CA", Flag: "--cluster-signing-cert-file", File: filepath.Join(other, "pki", "ca.crt"), Recorded: caFP, Own: otherFP},
		{What: "client CA", Flag: "--client-ca-file", File: filepath.Join(other, "pki", "ca.crt"), Recorded: caFP, Own: otherFP},
	}
	if !slices.Equal(mismatch.Mismatches, want) {
		t.Errorf("mismatches = %+v, want %+v", mismatch.Mismatches, want)
	}
	for _, s := range []string{caFP, otherFP, "copy " + filepath.Join(other, "pki"), "--allow-new-ca"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	if after := etcdSnapshot(t, eps, prefix); after != before {
		t.Errorf("the refused start wrote to etcd:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got := dirSnapshot(t, other); got != dirBefore {
		t.Errorf("the refused start changed its data dir:\nbefore:\n%s\nafter:\n%s", dirBefore, got)
	}

	// Only the client CA differs: refused for it alone.
	r1pki := func(name string) string { return filepath.Join(r1, "pki", name) }
	_, _, err = runServe(t, append([]string{"--data-dir", filepath.Join(tmp, "flags"),
		"--tls-cert-file", r1pki("apiserver.crt"), "--tls-private-key-file", r1pki("apiserver.key"),
		"--cluster-signing-cert-file", r1pki("ca.crt"), "--cluster-signing-key-file", r1pki("ca.key"),
		"--client-ca-file", filepath.Join(other, "pki", "ca.crt")}, flags...)...)
	if mismatch, ok := errors.AsType[*caMismatchError](err); !ok || len(mismatch.Mismatches) != 1 || mismatch.Mismatches[0].Flag != "--client-ca-file" {
		t.Errorf("serve with another client CA = %v, want a *caMismatchError for --client-ca-file alone", err)
	}

	// A copy of the first replica's pki/ joins, with an admin.conf of its own.
	r3 := filepath.Join(tmp, "r3")
	copyPKI(t, filepath.Join(r1, "pki"), filepath.Join(r3, "pki"))
	_, stop = startServe(t, r3, flags...)
	if n := serveCountCSRs(t, filepath.Join(r3, "admin.conf")); n != 1 {
		t.Errorf("the replica with the shared CA lists %d CSRs, want 1", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if after := etcdSnapshot(t, eps, prefix+"/kubepki.io/"); !strings.Contains(after, caFP) {
		t.Errorf("the joining replica changed the record:\n%s", after)
	}

	// A rotation: the other CA with --allow-new-ca is recorded, says so,
	// and the old CA is refused from then on.
	_, log, stop := startServeLog(t, other, append(flags, "--allow-new-ca")...)
	if n := serveCountCSRs(t, filepath.Join(other, "admin.conf")); n != 1 {
		t.Errorf("the replica with the new CA lists %d CSRs, want the store's 1", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if l := log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "--allow-new-ca") || !strings.Contains(l, otherFP) {
		t.Errorf("log of --allow-new-ca lacks the warning naming %s:\n%s", otherFP, l)
	}
	_, _, err = runServe(t, append([]string{"--data-dir", r1}, flags...)...)
	if mismatch, ok := errors.AsType[*caMismatchError](err); !ok || mismatch.Mismatches[0].Recorded != otherFP || mismatch.Mismatches[0].Own != caFP {
		t.Errorf("the old CA after the rotation = %v, want a *caMismatchError with %s recorded", err, otherFP)
	}
	_, stop = startServe(t, other, flags...)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestServeEtcdRecordsCAOfOlderStore checks that a store made before CAs
// were recorded (only its ID in etcd) takes the CAs of the replica that
// starts first, and refuses others from then on.
func TestServeEtcdRecordsCAOfOlderStore(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, etcdtest.Options{})
	eps := cluster.Endpoints()
	flags := []string{"--etcd-servers", strings.Join(eps, ",")}
	dir := filepath.Join(t.TempDir(), "data")
	_, stop := startServe(t, dir, flags...)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"/registry/kubepki.io/signing-ca", "/registry/kubepki.io/client-ca"} {
		if resp, err := c.Delete(t.Context(), k); err != nil || resp.Deleted != 1 {
			t.Fatalf("delete %s: %v, %v", k, resp, err)
		}
	}
	_, stop = startServe(t, dir, flags...)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(t.Context(), "/registry/kubepki.io/signing-ca")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get the signing CA record: %v, %v", resp, err)
	}
	if got, want := string(resp.Kvs[0].Value), certFingerprint(t, filepath.Join(dir, "pki", "ca.crt")); got != want {
		t.Errorf("recorded signing CA = %s, want %s", got, want)
	}
}

// TestServeEtcdFirstReplicasRace starts two replicas with new data dirs
// at once on a new etcd: one makes the store and its CA, the other is
// refused and leaves no data dir behind.
func TestServeEtcdFirstReplicasRace(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t, etcdtest.Options{})
	flags := []string{"--etcd-servers", strings.Join(cluster.Endpoints(), ",")}
	tmp := t.TempDir()
	dirs := []string{filepath.Join(tmp, "a"), filepath.Join(tmp, "b")}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	outs := []*serveBuffer{{}, {}}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() {
			c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: outs[i], ErrOut: &serveBuffer{}})
			c.SetArgs(append([]string{"serve", "--data-dir", dir, "--secure-port", "0", "--log-format", "text"}, flags...))
			errs[i] = c.ExecuteContext(ctx)
		})
	}
	// Wait until one serves and the other has failed, then stop.
	deadline := time.Now().Add(60 * time.Second)
	for !(strings.Contains(outs[0].String(), "kubectl get csr") || strings.Contains(outs[1].String(), "kubectl get csr")) {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("neither replica serves: %v", errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	winner := 0
	if strings.Contains(outs[1].String(), "kubectl get csr") {
		winner = 1
	}
	loser := 1 - winner
	for time.Now().Before(deadline) && !strings.Contains(outs[loser].String(), "kubectl get csr") {
		if _, err := os.Lstat(dirs[loser]); errors.Is(err, os.ErrNotExist) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if errs[winner] != nil {
		t.Errorf("the serving replica returned %v, want nil", errs[winner])
	}
	_, mismatch := errors.AsType[*caMismatchError](errs[loser])
	_, newPKI := errors.AsType[*newPKIRefusedError](errs[loser])
	if !mismatch && !newPKI {
		t.Fatalf("the second replica = %v, want a *caMismatchError or *newPKIRefusedError", errs[loser])
	}
	if got := dirSnapshot(t, dirs[loser]); got != "absent" {
		t.Errorf("the refused replica left its data dir:\n%s", got)
	}
}
