package cli

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	certv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubepki/kubepki/internal/cluster"
	"github.com/kubepki/kubepki/internal/pki"
)

// Identity of a kubelet's client certificate (kubernetes-pki reference
// §5.3 and §4.10).
const (
	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
)

// nodeAddOptions are the options of "node add".
type nodeAddOptions struct {
	enrollOptions
	name        string
	ips         []string
	dnsNames    []string
	servingCert string
	servingKey  string
	sans        pki.SANs
}

func newNodeCommand(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node SUBCOMMAND",
		Short: "Onboard nodes with kubelet certificates",
		Long:  `Onboard kubelets with client (and optionally serving) certificates issued through the Certificates API.`,
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			return &UsageError{Err: errors.New(`"node" needs a subcommand; see "kubepki node --help"`)}
		},
	}
	cmd.AddCommand(newNodeAddCommand(streams))
	return cmd
}

func newNodeAddCommand(streams IOStreams) *cobra.Command {
	o := &nodeAddOptions{}
	cmd := &cobra.Command{
		Use:   "add NAME [--ip IP]... [--dns NAME]... [-o FILE]",
		Short: "Issue a kubelet client certificate for a node and write its kubelet.conf",
		Long: `Create a node's kubelet credentials in one step, as "user add" does for users:
a key generated locally, a CertificateSigningRequest for CN=system:node:NAME,
O=system:nodes to the signer kubernetes.io/kube-apiserver-client-kubelet with
the usages "digital signature" and "client auth" (and "key encipherment" for
RSA keys), approved with --approve, waited for, verified, and a kubeconfig
written (0600, to kubelet-NAME.conf unless -o) whose user is system:node:NAME,
as kubeadm's kubelet.conf.

Without --approve the client request is approved by the cluster's kubelet
client auto-approver (kube-controller-manager's csrapproving controller, or
kubepki serve's), which approves it at once, with reason AutoApproved, when
the identity of your kubeconfig may "create" certificatesigningrequests/nodeclient
(cluster admins in system:masters or kubeadm:cluster-admins, and kubeadm's
bootstrap tokens, may), or when you are system:node:NAME itself with
"create" on certificatesigningrequests/selfnodeclient (group system:nodes may).
Otherwise, or on a cluster without that auto-approver, the request waits, up
to --timeout, for an approver to run "kubepki csr approve" or "kubectl
certificate approve". The serving request (--ip, --dns) is never auto-approved
for anyone but the node itself (kube-controller-manager has no approver for
it), so without --approve it waits too. Approving and waiting retry as "user
add" does: lost connections, 5xx and 429 answers (after their Retry-After) and
expired watches until --timeout, while other answers, such as 403 or 422, end
the command at once. The permissions it needs are those of "user add": "create"
and "get" on certificatesigningrequests, and "watch" (with "list" to resume an
expired watch), or it polls with "get".

With --ip or --dns a kubelet serving certificate is requested too (signer
kubernetes.io/kubelet-serving, usages "digital signature" and "server auth", the
given IP and DNS SANs) and written to --serving-cert-file and --serving-key-file.
Nothing is written unless every certificate was issued and verified, and the
kubeconfig and serving files are written as one commit: all of them or none.
If a step fails, the requests this command created are deleted again.

SECURITY NOTICE: the written kubeconfig lets its holder act as the node, and a
serving certificate lets it serve as the kubelet for the given names; copy them
to the node only, over a private channel, and delete the local copies.`,
		Example: `  kubepki node add worker-1 --approve
  kubepki node add worker-1 --ip 10.0.0.11 --dns worker-1.example --approve -o /tmp/worker-1.conf`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), streams)
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&o.ips, "ip", nil, "IP address for the kubelet serving certificate; repeat for several")
	f.StringArrayVar(&o.dnsNames, "dns", nil, "DNS name for the kubelet serving certificate; repeat for several")
	f.StringVar(&o.servingCert, "serving-cert-file", "", "where to write the serving certificate (default kubelet-NAME-serving.crt)")
	f.StringVar(&o.servingKey, "serving-key-file", "", "where to write the serving key (default kubelet-NAME-serving.key)")
	return cmd
}

// Complete takes the node name, accepts "system:node:NAME" too, and
// defaults the output files.
func (o *nodeAddOptions) Complete(args []string) error {
	o.name = strings.TrimPrefix(args[0], nodeUserPrefix)
	if o.output == "" {
		o.output = "kubelet-" + o.name + ".conf"
	}
	if o.servingCert == "" {
		o.servingCert = "kubelet-" + o.name + "-serving.crt"
	}
	if o.servingKey == "" {
		o.servingKey = "kubelet-" + o.name + "-serving.key"
	}
	return nil
}

// maxNodeName is the longest node name whose user name,
// "system:node:NAME", fits the 64 characters of a certificate CN.
const maxNodeName = 64 - len(nodeUserPrefix)

// Validate checks the node name and SANs, then the serving files' paths
// (the kubeconfig's is checked by Run, with the common flags).
func (o *nodeAddOptions) Validate() error {
	if errs := validation.IsDNS1123Subdomain(o.name); len(errs) > 0 {
		return &UsageError{Err: fmt.Errorf("node name %q is not a valid node name: %s", o.name, strings.Join(errs, "; "))}
	}
	if len(o.name) > maxNodeName {
		return &UsageError{Err: fmt.Errorf("node name %q is %d characters long; at most %d fit, since the certificate CN system:node:NAME may have 64", o.name, len(o.name), maxNodeName)}
	}
	var specs []string
	for _, ip := range o.ips {
		if _, err := pki.ParseSANs([]string{"IP:" + ip}); err != nil {
			return &UsageError{Err: fmt.Errorf("--ip %q is not an IP address", ip)}
		}
		specs = append(specs, "IP:"+ip)
	}
	for _, d := range o.dnsNames {
		if err := checkDNSFlag(d); err != nil {
			return err
		}
		specs = append(specs, "DNS:"+d)
	}
	sans, err := pki.ParseSANs(specs)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--ip/--dns: %w", err)}
	}
	o.sans = sans
	if o.serving() {
		seen := map[string]string{absPath(o.output): "-o"}
		for _, f := range []struct{ flag, path string }{{"--serving-cert-file", o.servingCert}, {"--serving-key-file", o.servingKey}} {
			if other, dup := seen[absPath(f.path)]; dup {
				return &UsageError{Err: fmt.Errorf("%s %s is the file of %s too; give each file its own path", f.flag, f.path, other)}
			}
			seen[absPath(f.path)] = f.flag
			if err := checkOutputPath(f.path, o.force, "serving key and certificate"); err != nil {
				return err
			}
		}
	}
	return validateIdentity(nodeUserPrefix+o.name, []string{nodesGroup})
}

// absPath returns path made absolute and clean, for comparing paths; as
// given if that fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// checkDNSFlag checks one --dns value as the kubelet serving certificate
// needs it, an RFC 1123 subdomain (a leading "*." label allowed, as
// [pki.ParseSANs] does), and names the value as the user typed it: the
// certificate holds it lower-cased, since DNS names match case-blind.
func checkDNSFlag(d string) error {
	name := strings.TrimSuffix(d, ".")
	if name == "" {
		return &UsageError{Err: errors.New("--dns must not be empty")}
	}
	if len(name) > 253 {
		return &UsageError{Err: fmt.Errorf("--dns %q is longer than the 253 characters of a DNS name", d)}
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if l == "*" && i == 0 && len(labels) > 1 {
			continue
		}
		if l == "" || len(l) > 63 {
			return &UsageError{Err: fmt.Errorf("--dns %q: label %q must be 1 to 63 characters", d, l)}
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
			if !alnum && !(c == '-' && j > 0 && j < len(l)-1) {
				return &UsageError{Err: fmt.Errorf("--dns %q: label %q may hold only letters, digits and inner '-'", d, l)}
			}
		}
	}
	return nil
}

// serving reports whether a serving certificate was asked for.
func (o *nodeAddOptions) serving() bool {
	return len(o.sans.DNSNames)+len(o.sans.IPAddresses) > 0
}

// Run enrols the node's client (and serving) certificate and writes the
// files. Before any request is created, it checks every output path and
// the identity's permissions ([enroller.preflight]); after, every failure
// deletes the requests it created and says so.
func (o *nodeAddOptions) Run(ctx context.Context, streams IOStreams) error {
	if err := o.complete(); err != nil {
		return err
	}
	e, err := o.enroller(streams)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	subject := pkix.Name{CommonName: nodeUserPrefix + o.name, Organization: []string{nodesGroup}}
	clientReq := enrollRequest{
		kind:        "node",
		subject:     subject,
		signerName:  certv1.KubeAPIServerClientKubeletSignerName,
		usages:      []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		extKeyUsage: x509.ExtKeyUsageClientAuth,
		keyAlg:      o.alg,
		expiration:  o.expiration,
		approve:     o.approve,
		approver:    "kubepki node add",
	}
	reqs := []*enrollRequest{&clientReq}
	var servingReq enrollRequest
	if o.serving() {
		servingReq = enrollRequest{
			kind:        "node-serving",
			subject:     subject,
			sans:        o.sans,
			signerName:  certv1.KubeletServingSignerName,
			usages:      []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth},
			extKeyUsage: x509.ExtKeyUsageServerAuth,
			keyAlg:      o.alg,
			expiration:  o.expiration,
			approve:     o.approve,
			approver:    "kubepki node add",
		}
		reqs = append(reqs, &servingReq)
	}
	for _, r := range reqs {
		if err := r.chooseName(); err != nil {
			return err
		}
	}
	if err := e.preflight(ctx, reqs); err != nil {
		return err
	}
	client, err := e.enroll(ctx, clientReq)
	if err != nil {
		return err
	}
	var srv *enrollResult
	if o.serving() {
		srv, err = e.enroll(ctx, servingReq)
		if err != nil {
			return e.discard(client.obj, fmt.Errorf("%w; the client certificate was not saved either", err))
		}
	}
	if err := o.writeFiles(context.WithoutCancel(ctx), subject.CommonName, client, srv); err != nil {
		err = fmt.Errorf("%w; no file was written", err)
		if srv != nil {
			err = e.discard(srv.obj, err)
		}
		return e.discard(client.obj, err)
	}
	fmt.Fprintf(streams.Out, "node %q added: wrote %s (certificate from CertificateSigningRequest %s, valid until %s)\n",
		o.name, o.output, client.csrName, client.cert.NotAfter.UTC().Format(time.RFC3339))
	if srv != nil {
		fmt.Fprintf(streams.Out, "node %q serving certificate: wrote %s and %s (CertificateSigningRequest %s, valid until %s)\n",
			o.name, o.servingCert, o.servingKey, srv.csrName, srv.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// writeFiles writes the kubeconfig (0600) and, when srv is set, the
// serving key (0600) and certificate (0644) as one commit of
// [cluster.WriteFiles]: all of them, or none, also across a crash.
// Without --force, existing files are not replaced.
func (o *nodeAddOptions) writeFiles(ctx context.Context, userName string, client, srv *enrollResult) error {
	kc, err := o.marshalKubeconfig(userName, client)
	if err != nil {
		return err
	}
	defer clear(kc)
	files := []cluster.File{{Path: o.output, Data: kc, Mode: pki.ModeKubeconfig}}
	if srv != nil {
		files = append(files,
			cluster.File{Path: o.servingKey, Data: srv.keyPEM, Mode: pki.ModeKey},
			cluster.File{Path: o.servingCert, Data: srv.certPEM, Mode: pki.ModeCert})
	}
	err = cluster.WriteFiles(ctx, files, cluster.WriteFilesOptions{Replace: o.force})
	switch {
	case errors.Is(err, pki.ErrExists):
		return fmt.Errorf("%w: it appeared while waiting; run the command again with other paths or --force", err)
	case err != nil:
		return fmt.Errorf("write kubeconfig and serving files: %w", err)
	}
	return nil
}
