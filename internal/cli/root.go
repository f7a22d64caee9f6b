// Package cli holds kubepki's cobra commands, one file per command group,
// their flags and their output printers. Commands parse and check input,
// call the domain packages, and turn errors into messages that say what to
// do next; they hold no crypto, HTTP or storage logic of their own.
package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// UsageError marks an error in how a command was called; main exits with
// status 2 for it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode returns the process exit status for an error returned by the
// root command: 0 for nil, 2 for usage errors, and 1 otherwise. An error
// wrapping *ExitError carries its own code.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*ExitError](err); ok {
		return ee.Code
	}
	if _, ok := errors.AsType[*UsageError](err); ok {
		return 2
	}
	return 1
}

// ExitError asks main to exit with Code after printing Err (if non-nil).
// Commands such as lint and check-expiration use it to fail without a
// usage message.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// NewRootCommand builds the kubepki command tree writing to streams.
func NewRootCommand(streams IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubepki",
		Short: "Build, run and check a Kubernetes cluster's PKI",
		Long: `kubepki creates and maintains the certificates, keys and kubeconfig files of a
Kubernetes cluster in kubeadm's exact layout, serves the certificates.k8s.io/v1
CertificateSigningRequest API to stock kubectl and client-go, onboards users and
nodes against any Kubernetes API server, and inspects and lints what exists.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &UsageError{Err: err}
	})
	root.AddCommand(
		newInitCommand(streams),
		newCertsCommand(streams),
		newCACommand(streams),
		newKeyCommand(streams),
		newSignCommand(streams),
		newCSRCommand(streams),
		newServeCommand(streams),
		newBenchCommand(streams),
		newConfigCommand(streams),
		newUserCommand(streams),
		newNodeCommand(streams),
		newInspectCommand(streams),
		newLintCommand(streams),
		newVersionCommand(streams),
	)
	return root
}
