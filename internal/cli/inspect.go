package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/kubepki/kubepki/internal/inspect"
)

// inspectOptions are the flags and arguments of kubepki inspect.
type inspectOptions struct {
	streams  IOStreams
	output   string
	manifest string
	paths    []string
	lint     lintContextFlags
}

func newInspectCommand(streams IOStreams) *cobra.Command {
	o := &inspectOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "inspect [FILE|DIR|-]...",
		Short: "Describe certificates, requests, keys and kubeconfigs, with their Kubernetes role",
		Long: `Inspect reads certificates (one or a bundle), certificate requests, keys,
kubeconfig files and CertificateSigningRequest objects, in PEM, DER or YAML,
from files, directories (recursively) or standard input ("-"), and describes
each: what openssl x509 -text shows
(subject, issuer, serial, validity and time left, key, signature algorithm,
basic constraints, key usage, extended key usage, SANs, key IDs), then the
Kubernetes reading: its role in the cluster, the identity it authenticates as,
and which CA among the files read signed it. Of private keys only public facts
are shown. Nothing is changed.

With --manifest, inspect reads a static pod manifest (kube-apiserver, etcd,
kube-controller-manager, kube-scheduler) or a kubelet configuration, inspects
every certificate, key, CA and kubeconfig file its flags or fields name, and
checks them together: each key matches its certificate, each certificate
chains to the CA bundle its peers trust. The kube-apiserver certificate is
checked against the manifest's --advertise-address and
--service-cluster-ip-range; --advertise-address and --service-cidr given to
inspect win. It exits 1 when such a check fails.

Inspect exits 1 when a file cannot be read or parsed.`,
		Example: `  # What is this file, and who signed it?
  kubepki inspect /etc/kubernetes/pki/apiserver.crt

  # Every certificate, key and kubeconfig of a control-plane node
  kubepki inspect /etc/kubernetes

  # The files kube-apiserver uses, checked together
  kubepki inspect --manifest /etc/kubernetes/manifests/kube-apiserver.yaml

  # A certificate from standard input, as JSON
  kubectl get csr node-csr-abc -o jsonpath='{.status.certificate}' | base64 -d | kubepki inspect - -o json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	cmd.Flags().StringVar(&o.manifest, "manifest", "", "static pod manifest or kubelet configuration whose files to inspect and check together")
	o.lint.addFlags(cmd, false)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete takes the paths from the arguments.
func (o *inspectOptions) Complete(args []string) error {
	o.paths = args
	return nil
}

// Validate checks the flags and arguments.
func (o *inspectOptions) Validate() error {
	if err := validateOutput(o.output); err != nil {
		return err
	}
	switch {
	case o.manifest == "" && len(o.paths) == 0:
		return &UsageError{Err: errors.New(`nothing to inspect: name a FILE, DIR or "-" for standard input, or --manifest FILE`)}
	case o.manifest != "" && len(o.paths) > 0:
		return &UsageError{Err: errors.New("--manifest takes no further FILE or DIR arguments; run inspect again for them")}
	}
	return o.lint.validate()
}

// Run inspects and prints.
func (o *inspectOptions) Run() error {
	opts := inspect.Options{Stdin: o.streams.In}
	var rep *inspect.Report
	var err error
	if o.manifest != "" {
		rep, err = inspect.InspectManifest(o.manifest, opts, o.lint.context())
	} else {
		rep, err = inspect.Inspect(o.paths, opts)
	}
	if err != nil {
		return err
	}
	if err := writeInspectOutput(o.streams.Out, o.output, rep, rep.WriteText); err != nil {
		return err
	}
	bad := 0
	for _, it := range rep.Items {
		if it.Error != "" {
			bad++
		}
	}
	errs := 0
	for _, f := range rep.Findings {
		if f.Severity == inspect.SeverityError {
			errs++
		}
	}
	switch {
	case bad > 0:
		return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d input(s) could not be read or parsed; see the errors above", bad, len(rep.Items))}
	case errs > 0:
		return &ExitError{Code: 1, Err: fmt.Errorf("the files of %s have %d error finding(s); see the fixes above", o.manifest, errs)}
	}
	return nil
}

// validateOutput accepts the -o values of inspect and lint.
func validateOutput(output string) error {
	switch output {
	case "text", "json", "yaml":
		return nil
	}
	return &UsageError{Err: fmt.Errorf("unknown output format %q: use text, json or yaml", output)}
}

// writeInspectOutput writes v as JSON or YAML, or with text for "text".
func writeInspectOutput(w io.Writer, output string, v any, text func(io.Writer) error) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return text(w)
}
