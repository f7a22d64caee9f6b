package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

func TestPrintError(t *testing.T) {
	t.Parallel()
	notFound := func(name string) error {
		return apiError(apierrors.NewNotFound(schema.GroupResource{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}, name))
	}
	const nope = `Error from server (NotFound): certificatesigningrequests.certificates.k8s.io "nope" not found`
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{name: "server answer", err: notFound("nope"), want: nope + "\n"},
		{name: "several server answers", err: errors.Join(notFound("nope"), notFound("nope2")), want: nope + "\n" + strings.ReplaceAll(nope, `"nope"`, `"nope2"`) + "\n"},
		{name: "server answer in our message", err: fmt.Errorf("approve CertificateSigningRequest x: %w", notFound("x")), want: `error: approve CertificateSigningRequest x: Error from server (NotFound): certificatesigningrequests.certificates.k8s.io "x" not found` + "\n"},
		{name: "server answer joined with ours", err: errors.Join(notFound("nope"), errors.New("other")), want: "error: " + nope + "\nother\n"},
		{name: "our error", err: errors.New("boom"), want: "error: boom\n"},
		{name: "silent exit", err: &ExitError{Code: 3}, want: ""},
		{name: "nil", err: nil, want: ""},
	} {
		var b bytes.Buffer
		printError(&b, tc.err)
		if got := b.String(); got != tc.want {
			t.Errorf("%s: printError(%v) wrote %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
	if err := notFound("n"); apiError(err) != err {
		t.Error("apiError wrapped a server error twice")
	}
}

// TestCSRGetNotFoundAsKubectl runs "csr get nope" as the real command
// and compares its stderr with kubectl's for the same request.
func TestCSRGetNotFoundAsKubectl(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "csr", "get", "nope", "--kubeconfig", admin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 {
		t.Fatalf("csr get nope = %v, want exit 1", err)
	}
	want := `Error from server (NotFound): certificatesigningrequests.certificates.k8s.io "nope" not found` + "\n"
	if stderr.String() != want {
		t.Errorf("csr get nope wrote %q, want %q", stderr.String(), want)
	}
	out, ok := runKubectlAt(t, admin, "get", "csr", "nope")
	if ok || out != want {
		t.Errorf("kubectl get csr nope = %q, success %v; want it to fail with %q, as kubepki", out, ok, want)
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	cancelled := func(sig os.Signal) context.Context {
		ctx, cancel := context.WithCancelCause(t.Context())
		if sig != nil {
			cancel(&signalError{sig: sig})
		} else {
			cancel(nil)
		}
		return ctx
	}
	fail := errors.New("interrupted")
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"SIGINT", cancelled(os.Interrupt), fail, 130},
		{"SIGTERM", cancelled(syscall.SIGTERM), &ExitError{Code: 1, Err: fail}, 143},
		{"signal but done", cancelled(syscall.SIGTERM), nil, 0},
		{"no signal", cancelled(nil), fail, 1},
		{"usage", t.Context(), &UsageError{Err: fail}, 2},
	} {
		if got := exitStatus(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: exitStatus(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestExitOnSignal interrupts a real "user add" process, waiting for its
// request, with SIGINT and SIGTERM: it deletes its request and exits
// 130 and 143, as a shell reports a process those signals ended.
func TestExitOnSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT or SIGTERM to send on Windows")
	}
	t.Parallel()
	for _, tc := range []struct {
		sig  syscall.Signal
		want int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			srv := apiservertest.Start(t, apiservertest.Options{})
			admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
			client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "user", "add", "jane", "--kubeconfig", admin,
				"-o", filepath.Join(t.TempDir(), "jane.conf"), "--timeout", "2m")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if waitForCSR(ctx, t, client) == nil {
				cmd.Process.Kill()
				t.FailNow()
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			ee, ok := errors.AsType[*exec.ExitError](err)
			if !ok || ee.ExitCode() != tc.want {
				t.Fatalf("user add after %s = %v, want exit %d; stderr %q", tc.sig, err, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted while waiting") || !strings.Contains(stderr.String(), "was deleted") {
				t.Errorf("stderr = %q, want the interruption and the deleted request explained", stderr.String())
			}
			if names := listCSRs(t, client); len(names) != 0 {
				t.Errorf("CSRs left after the interruption: %v", names)
			}
		})
	}
}
