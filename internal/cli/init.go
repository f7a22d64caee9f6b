package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kubepki/kubepki/internal/cluster"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// pkiResultAPIVersion is the apiVersion of the -o json|yaml documents of
// init, renew and issue.
const pkiResultAPIVersion = "kubepki.io/v1alpha1"

// pkiRunResult is the -o json|yaml form of a cluster.Result.
type pkiRunResult struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	*cluster.Result
}

// writePKIData writes v to out as JSON or YAML.
func writePKIData(out io.Writer, format string, v any) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

// checkPKIOutput accepts "" (text) or one of formats for -o.
func checkPKIOutput(output string, formats ...string) error {
	if output == "" {
		return nil
	}
	for _, f := range formats {
		if output == f {
			return nil
		}
	}
	return &UsageError{Err: fmt.Errorf("unknown output format %q for -o: use %s", output, strings.Join(formats, " or "))}
}

// writeRunResult prints a run result: one "STATUS  PATH" line per file
// for text, the document for -o json|yaml; warnings go to errOut.
func writeRunResult(streams IOStreams, output, kind string, res *cluster.Result) error {
	for _, w := range res.Warnings {
		fmt.Fprintf(streams.ErrOut, "warning: %s\n", w)
	}
	if output != "" {
		return writePKIData(streams.Out, output, pkiRunResult{APIVersion: pkiResultAPIVersion, Kind: kind, Result: res})
	}
	tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
	for _, f := range res.Files {
		fmt.Fprintf(tw, "%s\t%s\n", f.Status, f.Path)
	}
	if res.BackupDir != "" {
		fmt.Fprintf(tw, "backup\t%s\n", res.BackupDir)
	}
	return tw.Flush()
}

// pkiDirFlags are the --cert-dir and --kubeconfig-dir of init and certs.
type pkiDirFlags struct {
	certDir       string
	kubeconfigDir string
}

func (f *pkiDirFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.certDir, "cert-dir", cluster.DefaultCertDir, "folder of the certificates and keys")
	cmd.Flags().StringVar(&f.kubeconfigDir, "kubeconfig-dir", cluster.DefaultKubeconfigDir, "folder of the kubeconfig files")
}

// initOptions are the flags of "kubepki init".
type initOptions struct {
	dirs                 pkiDirFlags
	nodeName             string
	advertiseAddress     string
	controlPlaneEndpoint string
	extraSANs            []string
	serviceCIDR          string
	dnsDomain            string
	clusterName          string
	keyAlgorithm         string
	certValidity         time.Duration
	caValidity           time.Duration
	config               string
	force                bool
	output               string

	opts cluster.Options
}

// initClusterFlags are the init flags that --config replaces.
func initClusterFlags() []string {
	return []string{"node-name", "advertise-address", "control-plane-endpoint", "apiserver-cert-extra-sans",
		"service-cidr", "service-dns-domain", "cluster-name", "key-algorithm", "cert-validity", "ca-validity"}
}

func newInitCommand(streams IOStreams) *cobra.Command {
	o := &initOptions{}
	def := cluster.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a cluster's PKI in kubeadm's layout",
		Long: `Create every certificate, key and kubeconfig file that "kubeadm init phase certs all"
and "kubeadm init phase kubeconfig all" create, with kubeadm's names, subjects, usages,
SANs, validity and file modes: the CAs ca, front-proxy-ca and etcd/ca; apiserver,
apiserver-kubelet-client, front-proxy-client, etcd/server, etcd/peer,
etcd/healthcheck-client and apiserver-etcd-client; sa.key and sa.pub; admin.conf,
super-admin.conf, controller-manager.conf, scheduler.conf and kubelet.conf.

With --config, a cluster file (docs/cluster-config.md) describes the whole cluster:
every node also gets kubelet serving and client certificates and a kubeconfig, and
kube-proxy and extra users get client certificates and kubeconfigs.

Existing files that match are kept and reported "unchanged", so init can be re-run.
A file that does not match (another CA, subject or SANs, expired, a key that does not
belong) stops init with the fix; --force replaces it, after copying every file it
replaces to a dated backup folder under <kubeconfig-dir>/tmp (replacing a CA
invalidates everything the old one signed). Nothing is written unless everything
can be: on any error the folders are left as they were. One init, renew or issue
works on a certificate folder at a time.

SECURITY NOTICE: this creates CA keys and credentials with full access to the
cluster (super-admin.conf is system:masters). Keep the folders private.`,
		Example: `  # Everything for one control-plane node, in local folders
  kubepki init --cert-dir ./pki --kubeconfig-dir ./kubeconfigs --node-name cp1 --advertise-address 10.0.0.10

  # A whole cluster from a cluster file, result as JSON
  kubepki init --config cluster.yaml --cert-dir ./pki --kubeconfig-dir ./kubeconfigs -o json

  # kubeadm's key type
  kubepki init --key-algorithm RSA-2048`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd, streams)
		},
	}
	o.dirs.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.nodeName, "node-name", def.NodeName, "name of this control-plane node (lower case)")
	f.StringVar(&o.advertiseAddress, "advertise-address", "", "IP address the API server advertises (default: this machine's first global address)")
	f.StringVar(&o.controlPlaneEndpoint, "control-plane-endpoint", "", "shared host[:port] of the control plane")
	f.StringSliceVar(&o.extraSANs, "apiserver-cert-extra-sans", nil, "extra SANs (IPs or DNS names) of the API server certificate")
	f.StringVar(&o.serviceCIDR, "service-cidr", cluster.DefaultServiceCIDR, "service subnet; its first address is an API server SAN")
	f.StringVar(&o.dnsDomain, "service-dns-domain", cluster.DefaultDNSDomain, "cluster DNS domain")
	f.StringVar(&o.clusterName, "cluster-name", cluster.DefaultClusterName, "cluster name in the kubeconfig files")
	f.StringVar(&o.keyAlgorithm, "key-algorithm", string(pki.DefaultKeyAlgorithm), "key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096 (kubeadm's ECDSA-P256, RSA-2048 … too)")
	f.DurationVar(&o.certValidity, "cert-validity", cluster.DefaultCertValidity, "lifetime of leaf certificates")
	f.DurationVar(&o.caValidity, "ca-validity", cluster.DefaultCAValidity, "lifetime of CA certificates")
	f.StringVar(&o.config, "config", "", "cluster file describing nodes and users (docs/cluster-config.md)")
	f.BoolVar(&o.force, "force", false, "replace existing files that do not match instead of failing")
	f.StringVarP(&o.output, "output", "o", "", "output format: json or yaml (default: one line per file)")
	return cmd
}

// Complete builds the cluster options from the flags or the cluster file.
func (o *initOptions) Complete(cmd *cobra.Command) error {
	if o.config != "" {
		var mixed []string
		for _, name := range initClusterFlags() {
			if cmd.Flags().Changed(name) {
				mixed = append(mixed, "--"+name)
			}
		}
		if len(mixed) > 0 {
			return &UsageError{Err: fmt.Errorf("cannot mix --config with %s: put those settings in the cluster file", strings.Join(mixed, ", "))}
		}
	}
	o.opts = cluster.DefaultOptions()
	o.opts.CertDir, o.opts.KubeconfigDir = o.dirs.certDir, o.dirs.kubeconfigDir
	o.opts.Force = o.force
	if o.config != "" {
		f, err := cluster.ReadClusterFile(o.config)
		if err != nil {
			return err
		}
		f.Apply(&o.opts)
		return nil
	}
	alg, err := cluster.ParseKeyAlgorithm(o.keyAlgorithm)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--key-algorithm: %w", err)}
	}
	o.opts.NodeName = o.nodeName
	o.opts.AdvertiseAddress = o.advertiseAddress
	o.opts.ControlPlaneEndpoint = o.controlPlaneEndpoint
	o.opts.APIServerCertSANs = o.extraSANs
	o.opts.ServiceCIDR = o.serviceCIDR
	o.opts.DNSDomain = o.dnsDomain
	o.opts.ClusterName = o.clusterName
	o.opts.KeyAlgorithm = alg
	o.opts.CertValidity = o.certValidity
	o.opts.CAValidity = o.caValidity
	return nil
}

// Validate checks the output format; the cluster options are checked by
// the plan, which reports every problem at once.
func (o *initOptions) Validate() error {
	if err := checkPKIOutput(o.output, "json", "yaml"); err != nil {
		return err
	}
	if _, err := cluster.NewPlan(o.opts); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// Run creates or checks the files and prints the result.
func (o *initOptions) Run(cmd *cobra.Command, streams IOStreams) error {
	tuneGCForRun()
	o.opts.Progress = terminalProgress(streams.ErrOut)
	res, err := cluster.Init(cmd.Context(), o.opts)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return writeRunResult(streams, o.output, "InitResult", res)
}
