package cluster

import (
	"context"
	"fmt"
)

// IssueNodes makes, for each node, a kubelet serving certificate, a
// kubelet client certificate and a kubelet kubeconfig (layout in
// [PathsForNode]), signed by the existing "ca" of opts.CertDir, in one
// staged run on all cores. server is the API server URL of the
// kubeconfigs; empty means the plan's (ControlPlaneEndpoint, else
// AdvertiseAddress:BindPort). Existing matching files are kept, others
// are a *[MismatchError] unless opts.Force. The CA must exist with its key:
// run [Init] first.
func IssueNodes(ctx context.Context, opts Options, nodes []Node, server string) (*Result, error) {
	opts.ControlPlaneNodes, opts.WorkerNodes, opts.Users, opts.KubeProxy = nil, nodes, nil, false
	p, err := NewPlan(withPlaceholders(opts))
	if err != nil {
		return nil, err
	}
	r, err := p.issueRun(server)
	if err != nil {
		return nil, err
	}
	defer r.release()
	for _, c := range p.Certs {
		if !c.Kubeadm {
			r.planCert(c)
		}
	}
	for _, k := range p.Kubeconfigs {
		if !k.Kubeadm {
			r.planKubeconfig(k)
		}
	}
	return r.execute(ctx)
}

// IssueUser makes a client certificate (CN user.Name, O user.Groups,
// clientAuth) signed by the existing "ca" and a ready kubeconfig with it
// embedded (layout in [PathsForUser]), like [IssueNodes].
func IssueUser(ctx context.Context, opts Options, user User, server string) (*Result, error) {
	opts.ControlPlaneNodes, opts.WorkerNodes, opts.Users, opts.KubeProxy = nil, nil, []User{user}, false
	p, err := NewPlan(withPlaceholders(opts))
	if err != nil {
		return nil, err
	}
	r, err := p.issueRun(server)
	if err != nil {
		return nil, err
	}
	defer r.release()
	for _, k := range p.Kubeconfigs {
		if !k.Kubeadm {
			r.planKubeconfig(k)
		}
	}
	return r.execute(ctx)
}

// issueRun starts a run that signs with the existing "ca" and never makes
// a CA; server, if set, replaces the kubeconfig servers of the plan. The
// caller must call release on the run.
func (p *Plan) issueRun(server string) (*run, error) {
	if server != "" {
		for i := range p.Kubeconfigs {
			if !p.Kubeconfigs[i].Kubeadm {
				p.Kubeconfigs[i].Server = server
			}
		}
	}
	spec := p.CA(CAName)
	crt := p.CertPath(spec.BaseName, certSuffix)
	if !exists(crt) {
		return nil, fmt.Errorf("CA certificate %s is missing: run \"kubepki init\" first or pass the right --cert-dir", crt)
	}
	r := newRun(p)
	if err := r.start(false); err != nil {
		return nil, err
	}
	force := p.Force
	p.Force = false // Force replaces the issued files, never the CA
	r.planCA(*spec)
	p.Force = force
	if len(r.errs) > 0 {
		r.release()
		return nil, r.errs[0]
	}
	r.results = nil // the CA is only read
	return r, nil
}
