package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kubepki/kubepki/internal/cluster"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/spf13/cobra"
)

func newCertsCommand(streams IOStreams) *cobra.Command {
	return newGroupCommand("certs", "Check, renew and issue the cluster's certificates",
		`Day-two work on a PKI made by "kubepki init" or by kubeadm: report expiry, renew
certificates in place, issue credentials for new nodes and users, and print the
component flags that use the files.`,
		newCertsFlagsCommand(streams),
		newCertsCheckExpirationCommand(streams),
		newCertsRenewCommand(streams),
		newCertsIssueCommand(streams),
	)
}

// newGroupCommand builds a command that only groups subcommands: run alone,
// it is a usage error naming them.
func newGroupCommand(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return &UsageError{Err: errors.New("name a subcommand: " + subcommandNames(cmd))}
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

func subcommandNames(cmd *cobra.Command) string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return strings.Join(names, ", ")
}

// certsPlanFlags are the flags every certs subcommand shares: the folders
// and an optional cluster file for nodes and users.
type certsPlanFlags struct {
	dirs   pkiDirFlags
	config string
}

func (f *certsPlanFlags) add(cmd *cobra.Command) {
	f.dirs.add(cmd)
	cmd.Flags().StringVar(&f.config, "config", "", "cluster file, to include its nodes, kube-proxy and users")
}

// options returns the cluster options of the flags. The service CIDR and
// DNS domain are left empty unless the cluster file sets them: the certs
// commands do not know the cluster's, and renew then keeps the names of
// the certificate in service instead of judging it by kubeadm's defaults.
func (f *certsPlanFlags) options() (cluster.Options, error) {
	o := cluster.DefaultOptions()
	o.ServiceCIDR, o.DNSDomain = "", ""
	if f.config != "" {
		cf, err := cluster.ReadClusterFile(f.config)
		if err != nil {
			return o, err
		}
		cf.Apply(&o)
	}
	o.CertDir, o.KubeconfigDir = f.dirs.certDir, f.dirs.kubeconfigDir
	return o, nil
}

// certs flags

type certsFlagsOptions struct {
	plan      certsPlanFlags
	dnsDomain string
	node      string
	component string
}

func newCertsFlagsCommand(streams IOStreams) *cobra.Command {
	o := &certsFlagsOptions{}
	cmd := &cobra.Command{
		Use:   "flags COMPONENT",
		Short: "Print the flags that make a component use the PKI files",
		Long: `Print the command-line flags (kube-apiserver, etcd, kube-controller-manager,
kube-scheduler) or the kubelet-config.yaml fragment (kubelet) that point a component
at the files "kubepki init" writes, as kubeadm's static-pod manifests do.`,
		Example: `  kubepki certs flags kube-apiserver --cert-dir /etc/kubernetes/pki
  kubepki certs flags kubelet --node worker1 > kubelet-config.yaml`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: cluster.Components(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.component = args[0]
			opts, err := o.plan.options()
			if err != nil {
				return err
			}
			opts.DNSDomain = o.dnsDomain
			// Components run from other folders: print absolute paths.
			if opts.CertDir, err = filepath.Abs(opts.CertDir); err != nil {
				return err
			}
			if opts.KubeconfigDir, err = filepath.Abs(opts.KubeconfigDir); err != nil {
				return err
			}
			out, err := cluster.ComponentFlags(opts, o.component, o.node)
			if err != nil {
				return &UsageError{Err: err}
			}
			_, err = fmt.Fprint(streams.Out, out)
			return err
		},
	}
	o.plan.add(cmd)
	cmd.Flags().StringVar(&o.dnsDomain, "service-dns-domain", cluster.DefaultDNSDomain, "cluster DNS domain (service-account issuer)")
	cmd.Flags().StringVar(&o.node, "node", "", "kubelet only: use the credentials of this node (nodes/NAME/)")
	return cmd
}

// certs check-expiration

type checkExpirationOptions struct {
	plan       certsPlanFlags
	output     string
	failWithin time.Duration
}

func newCertsCheckExpirationCommand(streams IOStreams) *cobra.Command {
	o := &checkExpirationOptions{}
	cmd := &cobra.Command{
		Use:   "check-expiration",
		Short: "Report when each certificate and CA expires",
		Long: `Print kubeadm's two tables: every certificate (including those embedded in kubeconfig
files; kubelet.conf is left out because the kubelet rotates it) and every CA, with
EXPIRES, RESIDUAL TIME, CERTIFICATE AUTHORITY and EXTERNALLY MANAGED (the CA key file
is absent). Missing files are marked !MISSING!.

With --fail-within, exit with status 3 when anything is missing or expires sooner,
for cron jobs and monitoring.`,
		Example: `  kubepki certs check-expiration
  kubepki certs check-expiration -o json
  kubepki certs check-expiration --fail-within 720h || alert "renew the cluster certificates"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkPKIOutput(o.output, "json", "yaml"); err != nil {
				return err
			}
			if o.failWithin < 0 {
				return &UsageError{Err: fmt.Errorf("--fail-within %s is negative", o.failWithin)}
			}
			opts, err := o.plan.options()
			if err != nil {
				return err
			}
			info, err := cluster.CheckExpiration(opts)
			if err != nil {
				return fmt.Errorf("check-expiration: %w", err)
			}
			if o.output != "" {
				err = writePKIData(streams.Out, o.output, info)
			} else {
				err = writeExpirationTables(streams, info)
			}
			if err != nil {
				return err
			}
			if o.failWithin > 0 {
				if bad := info.ExpiringWithin(o.failWithin); len(bad) > 0 {
					var names []string
					for _, r := range bad {
						names = append(names, r.Name)
					}
					return &ExitError{Code: 3, Err: fmt.Errorf("%d certificates are missing or expire within %s: %s; run \"kubepki certs renew\"",
						len(bad), o.failWithin, strings.Join(names, ", "))}
				}
			}
			return nil
		},
	}
	o.plan.add(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: json or yaml (default: kubeadm's tables)")
	cmd.Flags().DurationVar(&o.failWithin, "fail-within", 0, "exit 3 if anything is missing or expires within this duration (e.g. 720h)")
	return cmd
}

// writeExpirationTables prints kubeadm's two tabwriter tables.
func writeExpirationTables(streams IOStreams, info *cluster.ExpirationInfo) error {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	const layout = "Jan 02, 2006 15:04 MST"
	tw := tabwriter.NewWriter(streams.Out, 10, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED")
	for _, r := range info.Certificates {
		if r.Missing {
			fmt.Fprintf(tw, "!MISSING! %s\t\t\t\t\n", r.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.ExpirationDate.Format(layout), r.HumanResidual(), r.CAName, yesNo(r.ExternallyManaged))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(streams.Out)
	tw = tabwriter.NewWriter(streams.Out, 10, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED")
	for _, r := range info.CertificateAuthorities {
		if r.Missing {
			fmt.Fprintf(tw, "!MISSING! %s\t\t\t\n", r.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.ExpirationDate.Format(layout), r.HumanResidual(), yesNo(r.ExternallyManaged))
	}
	return tw.Flush()
}

// certs renew

type certsRenewOptions struct {
	plan         certsPlanFlags
	rotateKeys   bool
	certValidity time.Duration
	keyAlgorithm string
	output       string
}

func newCertsRenewCommand(streams IOStreams) *cobra.Command {
	o := &certsRenewOptions{}
	cmd := &cobra.Command{
		Use:   "renew all|NAME...",
		Short: "Renew certificates in place, keeping subject, SANs and usages",
		Long: `Re-issue certificates as "kubeadm certs renew" does: from the same CA, with the
subject, SANs and usages of the existing certificate and a new validity period. NAME
is a row of check-expiration (apiserver, etcd-peer, admin.conf, …) or "all".
Certificates embedded in kubeconfig files are replaced in the file, everything else
in it kept. Keys are kept unless --rotate-keys. Every replaced file is first copied
to a dated backup folder under <kubeconfig-dir>/tmp. Restart kube-apiserver,
kube-controller-manager, kube-scheduler and etcd afterwards.

A renewal keeps every SAN of the certificate it replaces, whatever the cluster's
service CIDR and DNS domain; with --config, the apiserver certificate must also
have the names that the file's serviceCIDR and dnsDomain give. "all" fails when
the folders hold none of the cluster's files.

SECURITY NOTICE: this signs new credentials with the cluster CAs.`,
		Example: `  kubepki certs renew all
  kubepki certs renew apiserver admin.conf --rotate-keys`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPKIOutput(o.output, "json", "yaml"); err != nil {
				return err
			}
			alg, err := cluster.ParseKeyAlgorithm(o.keyAlgorithm)
			if err != nil {
				return &UsageError{Err: fmt.Errorf("--key-algorithm: %w", err)}
			}
			opts, err := o.plan.options()
			if err != nil {
				return err
			}
			opts.CertValidity, opts.KeyAlgorithm = o.certValidity, alg
			tuneGCForRun()
			res, err := cluster.Renew(cmd.Context(), opts, cluster.RenewOptions{Names: args, RotateKeys: o.rotateKeys})
			if err != nil {
				if _, bad := errors.AsType[*cluster.OptionsError](err); bad || errors.Is(err, cluster.ErrUnknownName) {
					return &UsageError{Err: err}
				}
				return err
			}
			if err := writeRunResult(streams, o.output, "RenewResult", res); err != nil {
				return err
			}
			if o.output == "" && len(res.Files) > 0 {
				fmt.Fprintln(streams.ErrOut, "Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.")
			}
			return nil
		},
	}
	o.plan.add(cmd)
	cmd.Flags().BoolVar(&o.rotateKeys, "rotate-keys", false, "make a new key for every renewed certificate")
	cmd.Flags().DurationVar(&o.certValidity, "cert-validity", cluster.DefaultCertValidity, "lifetime of the renewed certificates")
	cmd.Flags().StringVar(&o.keyAlgorithm, "key-algorithm", string(pki.DefaultKeyAlgorithm), "key type for --rotate-keys")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: json or yaml")
	return cmd
}

// certs issue

func newCertsIssueCommand(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue credentials for a node or a user from the cluster CA",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return &UsageError{Err: errors.New("name what to issue: " + subcommandNames(cmd))}
		},
	}
	cmd.AddCommand(newCertsIssueNodeCommand(streams), newCertsIssueUserCommand(streams))
	return cmd
}

// issueFlags are the flags of both issue commands.
type issueFlags struct {
	plan   certsPlanFlags
	server string
	force  bool
	output string
}

func (f *issueFlags) add(cmd *cobra.Command) {
	f.plan.add(cmd)
	cmd.Flags().StringVar(&f.server, "server", "", "API server URL for the kubeconfig (default: the server of admin.conf)")
	cmd.Flags().BoolVar(&f.force, "force", false, "replace existing files that do not match")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "output format: json or yaml")
}

// complete returns the cluster options and the server URL.
func (f *issueFlags) complete() (cluster.Options, string, error) {
	if err := checkPKIOutput(f.output, "json", "yaml"); err != nil {
		return cluster.Options{}, "", err
	}
	opts, err := f.plan.options()
	if err != nil {
		return opts, "", err
	}
	opts.Force = f.force
	server := f.server
	if server == "" {
		admin := cluster.Plan{KubeconfigDir: f.plan.dirs.kubeconfigDir}
		cfg, err := kubeconfig.Read(admin.KubeconfigPath("admin.conf"))
		if err != nil {
			return opts, "", &UsageError{Err: fmt.Errorf("no --server given and admin.conf cannot tell it: %w", err)}
		}
		if kctx := cfg.Contexts[cfg.CurrentContext]; kctx != nil && cfg.Clusters[kctx.Cluster] != nil {
			server = cfg.Clusters[kctx.Cluster].Server
		}
		if server == "" {
			return opts, "", &UsageError{Err: errors.New("no --server given and admin.conf has no server: pass --server https://HOST:6443")}
		}
	}
	if !strings.HasPrefix(server, "https://") {
		return opts, "", &UsageError{Err: fmt.Errorf("--server %q must be an https:// URL", server)}
	}
	return opts, server, nil
}

func newCertsIssueNodeCommand(streams IOStreams) *cobra.Command {
	f := &issueFlags{}
	var ips, dnsNames []string
	cmd := &cobra.Command{
		Use:   "node NAME",
		Short: "Issue a node's kubelet serving and client certificates and kubeconfig",
		Long: `Sign, with the cluster CA, a kubelet serving certificate (CN system:node:NAME, O
system:nodes, serverAuth, SANs NAME, --dns and --ip) and a kubelet client certificate
(clientAuth), and write a kubelet kubeconfig with it: nodes/NAME/kubelet.crt|key and
nodes/NAME/kubelet-client.crt|key under --cert-dir, nodes/NAME/kubelet.conf under
--kubeconfig-dir. NAME must be the lower-case node name.

SECURITY NOTICE: the kubeconfig authenticates as the node.`,
		Example: `  kubepki certs issue node worker1 --ip 10.0.0.21 --dns worker1.example.com`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cluster.ValidateNodeName(args[0]); err != nil {
				return &UsageError{Err: err}
			}
			opts, server, err := f.complete()
			if err != nil {
				return err
			}
			res, err := cluster.IssueNodes(cmd.Context(), opts, []cluster.Node{{Name: args[0], IPs: ips, DNSNames: dnsNames}}, server)
			if err != nil {
				return fmt.Errorf("issue node %s: %w", args[0], err)
			}
			return writeRunResult(streams, f.output, "IssueResult", res)
		},
	}
	f.add(cmd)
	cmd.Flags().StringSliceVar(&ips, "ip", nil, "IP address SAN of the serving certificate (repeatable)")
	cmd.Flags().StringSliceVar(&dnsNames, "dns", nil, "extra DNS SAN of the serving certificate (repeatable)")
	return cmd
}

func newCertsIssueUserCommand(streams IOStreams) *cobra.Command {
	f := &issueFlags{}
	var groups []string
	cmd := &cobra.Command{
		Use:   "user NAME",
		Short: "Issue a user's client certificate and a ready kubeconfig",
		Long: `Sign, with the cluster CA, a client certificate with CN NAME and O the --group values,
and write it with a kubeconfig that embeds it: users/NAME.crt|key under --cert-dir,
users/NAME.conf under --kubeconfig-dir.

SECURITY NOTICE: the group system:masters bypasses all authorization; prefer groups
bound by RBAC.`,
		Example: `  kubepki certs issue user jane --group dev --group ops
  KUBECONFIG=/etc/kubernetes/users/jane.conf kubectl auth whoami`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cluster.ValidateUserName(args[0]); err != nil {
				return &UsageError{Err: err}
			}
			opts, server, err := f.complete()
			if err != nil {
				return err
			}
			warnOfIdentity(streams.ErrOut, fmt.Sprintf("user %q", args[0]), args[0], groups)
			res, err := cluster.IssueUser(cmd.Context(), opts, cluster.User{Name: args[0], Groups: groups}, server)
			if err != nil {
				return fmt.Errorf("issue user %s: %w", args[0], err)
			}
			return writeRunResult(streams, f.output, "IssueResult", res)
		},
	}
	f.add(cmd)
	cmd.Flags().StringSliceVar(&groups, "group", nil, "group (certificate O) of the user (repeatable)")
	return cmd
}
