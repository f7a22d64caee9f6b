package cluster

import (
	"fmt"
	"strings"
)

// Components lists the components [ComponentFlags] knows.
func Components() []string {
	return []string{"kube-apiserver", "etcd", "kubelet", "kube-controller-manager", "kube-scheduler"}
}

// ComponentFlags returns the command-line flags (one "--flag=value" per
// line) that make component use the files of the plan of opts, as
// kubeadm's static-pod manifests do; for "kubelet" it returns a
// KubeletConfiguration fragment (kubelet-config.yaml) preceded by a
// comment with the flags. node, for the kubelet only, selects the node
// credentials made by a cluster file or "certs issue node" (nodes/<node>/);
// empty means kubeadm's kubelet.conf with certificate rotation. Paths are
// derived from the same table Init writes by.
func ComponentFlags(opts Options, component, node string) (string, error) {
	p, err := NewPlan(withPlaceholders(opts))
	if err != nil {
		return "", err
	}
	return p.ComponentFlags(component, node)
}

// ComponentFlags is [ComponentFlags] on a resolved plan.
func (p *Plan) ComponentFlags(component, node string) (string, error) {
	crt := func(name string) string { return p.CertPath(p.baseOf(name), certSuffix) }
	key := func(name string) string { return p.CertPath(p.baseOf(name), keySuffix) }
	kc := p.KubeconfigPath
	sa := p.CertPath("sa", keySuffix)
	saPub := p.CertPath("sa", ".pub")
	var lines []string
	add := func(flag, value string) { lines = append(lines, "--"+flag+"="+value) }
	switch component {
	case "kube-apiserver":
		add("client-ca-file", crt(CAName))
		add("tls-cert-file", crt("apiserver"))
		add("tls-private-key-file", key("apiserver"))
		add("kubelet-client-certificate", crt("apiserver-kubelet-client"))
		add("kubelet-client-key", key("apiserver-kubelet-client"))
		add("etcd-cafile", crt(EtcdCAName))
		add("etcd-certfile", crt("apiserver-etcd-client"))
		add("etcd-keyfile", key("apiserver-etcd-client"))
		add("proxy-client-cert-file", crt("front-proxy-client"))
		add("proxy-client-key-file", key("front-proxy-client"))
		add("requestheader-client-ca-file", crt(FrontProxyCAName))
		add("requestheader-allowed-names", p.certSpec("front-proxy-client").CommonName)
		add("requestheader-username-headers", "X-Remote-User")
		add("requestheader-group-headers", "X-Remote-Group")
		add("requestheader-extra-headers-prefix", "X-Remote-Extra-")
		add("service-account-key-file", saPub)
		add("service-account-signing-key-file", sa)
		add("service-account-issuer", "https://kubernetes.default.svc."+p.DNSDomain)
	case "etcd":
		add("cert-file", crt("etcd-server"))
		add("key-file", key("etcd-server"))
		add("peer-cert-file", crt("etcd-peer"))
		add("peer-key-file", key("etcd-peer"))
		add("trusted-ca-file", crt(EtcdCAName))
		add("peer-trusted-ca-file", crt(EtcdCAName))
		add("client-cert-auth", "true")
		add("peer-client-cert-auth", "true")
	case "kube-controller-manager":
		add("cluster-signing-cert-file", crt(CAName))
		add("cluster-signing-key-file", key(CAName))
		add("root-ca-file", crt(CAName))
		add("service-account-private-key-file", sa)
		add("client-ca-file", crt(CAName))
		add("requestheader-client-ca-file", crt(FrontProxyCAName))
		add("kubeconfig", kc("controller-manager.conf"))
		add("authentication-kubeconfig", kc("controller-manager.conf"))
		add("authorization-kubeconfig", kc("controller-manager.conf"))
		add("use-service-account-credentials", "true")
	case "kube-scheduler":
		add("kubeconfig", kc("scheduler.conf"))
		add("authentication-kubeconfig", kc("scheduler.conf"))
		add("authorization-kubeconfig", kc("scheduler.conf"))
	case "kubelet":
		return p.kubeletConfig(node)
	default:
		return "", fmt.Errorf("unknown component %q: use one of %s", component, strings.Join(Components(), ", "))
	}
	return strings.Join(lines, "\n") + "\n", nil
}

// kubeletConfig is the kubelet-config.yaml fragment for the kubelet.
func (p *Plan) kubeletConfig(node string) (string, error) {
	kubeconfigPath := p.KubeconfigPath("kubelet.conf")
	tls := "rotateCertificates: true\n"
	if node != "" {
		if err := ValidateNodeName(node); err != nil {
			return "", err
		}
		paths := PathsForNode(node)
		kubeconfigPath = p.KubeconfigPath(paths.Kubeconfig)
		tls = fmt.Sprintf("tlsCertFile: %s\ntlsPrivateKeyFile: %s\n",
			p.CertPath(paths.ServingBase, certSuffix), p.CertPath(paths.ServingBase, keySuffix))
	}
	return fmt.Sprintf(`# kubelet --config=kubelet-config.yaml --kubeconfig=%s
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
%s`, kubeconfigPath, p.CertPath(p.baseOf(CAName), certSuffix), tls), nil
}

// baseOf returns the base name of a CA or certificate of the plan.
func (p *Plan) baseOf(name string) string {
	if ca := p.CA(name); ca != nil {
		return ca.BaseName
	}
	if c := p.certSpec(name); c != nil {
		return c.BaseName
	}
	panic("cluster: no plan entry " + name) // the callers name table entries
}
