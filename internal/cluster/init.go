package cluster

import (
	"context"
)

// Init creates the cluster's PKI as kubeadm's "init phase certs all" and
// "init phase kubeconfig all" do, plus the node, kube-proxy and user
// credentials of opts: the CAs ca, front-proxy-ca and etcd/ca; the leaves
// apiserver, apiserver-kubelet-client, front-proxy-client, etcd/server,
// etcd/peer, etcd/healthcheck-client and apiserver-etcd-client; sa.key and
// sa.pub; and admin.conf, super-admin.conf, controller-manager.conf,
// scheduler.conf and kubelet.conf.
//
// Certificates are 0644, keys, sa.pub and kubeconfigs 0600; folders made
// under CertDir are 0700 and under KubeconfigDir 0755. Existing files are
// checked and kept ([StatusUnchanged]) when they match the plan: a
// certificate signed by its CA with the planned subject, usages and SANs,
// in date and with its key; a kubeconfig with the CA's certificate and
// such a client certificate. A CA whose key is absent is used as an
// external CA: its certificates must already exist. Files that do not
// match make Init fail with a *[MismatchError] for each, unless
// opts.Force, which replaces them ([StatusReplaced]) after copying each
// into a backup folder, as [Renew] does (Result.BackupDir). Init is
// idempotent.
//
// Init checks everything and makes all keys and certificates in memory
// before it writes a file, and restores every file and folder if a write
// fails, so on error the folders are as they were; it first completes a
// run that a crash interrupted (see the package documentation). Keys are
// made on all cores.
func Init(ctx context.Context, opts Options) (*Result, error) {
	p, err := NewPlan(opts)
	if err != nil {
		return nil, err
	}
	return p.Init(ctx)
}

// Init is [Init] on an already resolved plan.
func (p *Plan) Init(ctx context.Context) (*Result, error) {
	r := newRun(p)
	if err := r.start(true); err != nil {
		return nil, err
	}
	defer r.release()
	for _, ca := range p.CAs {
		r.planCA(ca)
	}
	for _, c := range p.Certs {
		r.planCert(c)
	}
	r.planServiceAccount()
	for _, k := range p.Kubeconfigs {
		r.planKubeconfig(k)
	}
	res, err := r.execute(ctx)
	if err != nil {
		r.undoStart()
	}
	return res, err
}
