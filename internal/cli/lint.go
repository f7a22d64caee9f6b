package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubepki/kubepki/internal/inspect"
)

// defaultLintPath is what lint checks without arguments: kubeadm's
// configuration directory, holding pki/ and the kubeconfig files.
const defaultLintPath = "/etc/kubernetes"

// lintContextFlags are the cluster settings lint checks against; their
// names are kubeadm init's.
type lintContextFlags struct {
	warnWithin       time.Duration
	serviceCIDR      string
	dnsDomain        string
	advertiseAddress string
	endpoint         string
	nodeName         string
	// hasWarnWithin is set when --warn-within is a flag of the command.
	hasWarnWithin bool
	// changed reports whether the command line set a flag.
	changed func(name string) bool
}

func (f *lintContextFlags) addFlags(cmd *cobra.Command, withWarn bool) {
	f.changed = cmd.Flags().Changed
	if withWarn {
		f.hasWarnWithin = true
		cmd.Flags().DurationVar(&f.warnWithin, "warn-within", inspect.DefaultWarnWithin, "warn about certificates expiring within this duration (0 disables)")
	}
	cmd.Flags().StringVar(&f.serviceCIDR, "service-cidr", inspect.DefaultServiceCIDR, "service subnet; its first address must be in the kube-apiserver certificate")
	cmd.Flags().StringVar(&f.dnsDomain, "service-dns-domain", inspect.DefaultDNSDomain, "cluster DNS domain; kubernetes.default.svc.<domain> must be in the kube-apiserver certificate")
	cmd.Flags().StringVar(&f.advertiseAddress, "advertise-address", "", "address kube-apiserver advertises; must be in its certificate")
	cmd.Flags().StringVar(&f.endpoint, "control-plane-endpoint", "", "shared endpoint (host[:port]) of the control plane; its host must be in the kube-apiserver certificate")
	cmd.Flags().StringVar(&f.nodeName, "node-name", "", "expected node name of kubelet certificates")
}

func (f *lintContextFlags) validate() error {
	for _, c := range strings.Split(f.serviceCIDR, ",") {
		if _, err := netip.ParsePrefix(strings.TrimSpace(c)); err != nil {
			return &UsageError{Err: fmt.Errorf("--service-cidr %q: %v; give a CIDR such as 10.96.0.0/12", f.serviceCIDR, err)}
		}
	}
	if f.advertiseAddress != "" {
		if _, err := netip.ParseAddr(f.advertiseAddress); err != nil {
			return &UsageError{Err: fmt.Errorf("--advertise-address %q is not an IP address", f.advertiseAddress)}
		}
	}
	if f.warnWithin < 0 {
		return &UsageError{Err: fmt.Errorf("--warn-within %s is negative; give 0 to disable the warning", f.warnWithin)}
	}
	return nil
}

// context returns the settings to check against. A service CIDR and an
// advertise address not given on the command line are left empty, so that
// inspect --manifest takes kube-apiserver's own; lint then uses kubeadm's
// default service CIDR.
func (f *lintContextFlags) context() inspect.Context {
	ctx := inspect.Context{
		WarnWithin:       f.warnWithin,
		DNSDomain:        f.dnsDomain,
		NodeName:         f.nodeName,
		AdvertiseAddress: f.advertiseAddress,
	}
	if f.changed == nil || f.changed("service-cidr") {
		ctx.ServiceCIDR = f.serviceCIDR
	}
	if f.hasWarnWithin && f.warnWithin == 0 {
		ctx.WarnWithin = -1
	}
	if f.endpoint != "" {
		ctx.APIServerAddresses = append(ctx.APIServerAddresses, f.endpoint)
	}
	return ctx
}

// lintOptions are the flags and arguments of kubepki lint.
type lintOptions struct {
	streams IOStreams
	output  string
	list    bool
	failOn  string
	paths   []string
	lint    lintContextFlags
}

func newLintCommand(streams IOStreams) *cobra.Command {
	o := &lintOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "lint [DIR|FILE|-]...",
		Short: "Check a cluster's certificates, keys and kubeconfigs for mistakes that break clusters",
		Long: `Lint reads certificates, certificate requests, keys, kubeconfig files and
CertificateSigningRequest objects (as inspect does; directories recursively, default ` + defaultLintPath + `) and checks
them against a catalogue of rules drawn from the mistakes that break real
clusters: node identities, usages that do not fit the role, missing
kube-apiserver and etcd names, CA and leaf constraints, keys that do not match,
certificates that do not chain to their CA, expiry, weak crypto, serials, key
file modes, kubeconfig credentials, and CertificateSigningRequest objects
before they are submitted. In a directory, a file of kubeadm's layout (or any
.crt, .key, .pem, .pub or .csr) that does not parse, is truncated or holds the
wrong kind of object is an error (L00), and so is a kubeadm pair with one half
missing (L42). Each finding names the file, the rule,
what is wrong and the fix. "kubepki lint --list" shows the catalogue.

Lint changes nothing. It exits 1 when any finding has severity error (or, with
--fail-on warning, any finding at all), and 0 otherwise.`,
		Example: `  # Check a kubeadm control-plane node
  kubepki lint /etc/kubernetes

  # The same, knowing the cluster's settings, warning 60 days before expiry
  kubepki lint --service-cidr 10.100.0.0/16 --advertise-address 192.168.1.10 --warn-within 1440h /etc/kubernetes/pki

  # The rule catalogue, for scripts
  kubepki lint --list -o json`,
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
	cmd.Flags().BoolVar(&o.list, "list", false, "list the lint rules instead of checking files")
	cmd.Flags().StringVar(&o.failOn, "fail-on", string(inspect.SeverityError), "exit 1 when a finding has this severity or worse: error or warning")
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"error", "warning"}, cobra.ShellCompDirectiveNoFileComp))
	o.lint.addFlags(cmd, true)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete fills in the default path.
func (o *lintOptions) Complete(args []string) error {
	o.paths = args
	if len(o.paths) == 0 && !o.list {
		o.paths = []string{defaultLintPath}
	}
	return nil
}

// Validate checks the flags and arguments.
func (o *lintOptions) Validate() error {
	if err := validateOutput(o.output); err != nil {
		return err
	}
	if o.failOn != string(inspect.SeverityError) && o.failOn != string(inspect.SeverityWarning) {
		return &UsageError{Err: fmt.Errorf("--fail-on %q: use error or warning", o.failOn)}
	}
	if o.list && len(o.paths) > 0 {
		return &UsageError{Err: errors.New("--list takes no FILE or DIR arguments")}
	}
	return o.lint.validate()
}

// Run lists the rules or lints the paths.
func (o *lintOptions) Run() error {
	if o.list {
		list := struct {
			APIVersion string         `json:"apiVersion"`
			Kind       string         `json:"kind"`
			Rules      []inspect.Rule `json:"rules"`
		}{inspect.APIVersion, inspect.RuleListKind, inspect.Rules()}
		return writeInspectOutput(o.streams.Out, o.output, list, func(w io.Writer) error { return inspect.WriteRulesText(w, list.Rules) })
	}
	rep, err := inspect.Lint(o.paths, inspect.LintOptions{Options: inspect.Options{Stdin: o.streams.In}, Context: o.lint.context()})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w; name the directory that holds the certificates (kubeadm: /etc/kubernetes/pki)", err)
		}
		return err
	}
	if err := writeInspectOutput(o.streams.Out, o.output, rep, rep.WriteText); err != nil {
		return err
	}
	if rep.Files == 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("found no certificate, request, key or kubeconfig in %s; name the folder that holds them (kubeadm: /etc/kubernetes)", strings.Join(o.paths, ", "))}
	}
	if rep.Errors > 0 || (o.failOn == string(inspect.SeverityWarning) && rep.Warnings > 0) {
		return &ExitError{Code: 1, Err: fmt.Errorf("lint found %d error(s) and %d warning(s); see the fixes above", rep.Errors, rep.Warnings)}
	}
	return nil
}
