package inspect

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"slices"
	"strings"
)

// Role IDs: the stable identifiers of the Kubernetes reading of a
// certificate, after kubeadm's certificate list (kubernetes-pki.md §1.2,
// §1.3, §2.1).
const (
	RoleClusterCA              = "cluster-ca"
	RoleFrontProxyCA           = "front-proxy-ca"
	RoleEtcdCA                 = "etcd-ca"
	RoleCA                     = "ca"
	RoleAPIServer              = "apiserver"
	RoleAPIServerKubeletClient = "apiserver-kubelet-client"
	RoleAPIServerEtcdClient    = "apiserver-etcd-client"
	RoleFrontProxyClient       = "front-proxy-client"
	RoleEtcdServer             = "etcd-server"
	RoleEtcdPeer               = "etcd-peer"
	RoleEtcdMember             = "etcd-member"
	RoleEtcdHealthcheckClient  = "etcd-healthcheck-client"
	RoleKubeletClient          = "kubelet-client"
	RoleKubeletServing         = "kubelet-serving"
	RoleAdmin                  = "admin"
	RoleSuperAdmin             = "super-admin"
	RoleControllerManager      = "controller-manager"
	RoleScheduler              = "scheduler"
	RoleKubeProxy              = "kube-proxy"
	RoleUser                   = "user"
	RoleServing                = "serving"
	RoleUnknown                = "unknown"
)

// Well-known names (kubernetes-pki.md §5.2, §5.3).
const (
	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
	mastersGroup   = "system:masters"
)

// role is the Kubernetes reading of a certificate.
type role struct {
	id   string
	name string
	// node is the node name of a kubelet certificate, as written.
	node string
	// ca, client and server say what the certificate is meant to be.
	ca, client, server bool
	// issuer is the role ID of the CA that should sign it, if known.
	issuer string
}

// leafRoles are the fixed-identity leaves of a kubeadm cluster, by role ID.
var leafRoles = map[string]role{
	RoleAPIServer:              {id: RoleAPIServer, name: "kube-apiserver serving certificate", server: true, issuer: RoleClusterCA},
	RoleAPIServerKubeletClient: {id: RoleAPIServerKubeletClient, name: "kube-apiserver client certificate for kubelets", client: true, issuer: RoleClusterCA},
	RoleAPIServerEtcdClient:    {id: RoleAPIServerEtcdClient, name: "kube-apiserver client certificate for etcd", client: true, issuer: RoleEtcdCA},
	RoleFrontProxyClient:       {id: RoleFrontProxyClient, name: "front-proxy client certificate (kube-apiserver to extension API servers)", client: true, issuer: RoleFrontProxyCA},
	RoleEtcdHealthcheckClient:  {id: RoleEtcdHealthcheckClient, name: "etcd health-check client certificate", client: true, issuer: RoleEtcdCA},
	RoleEtcdServer:             {id: RoleEtcdServer, name: "etcd server certificate", server: true, client: true, issuer: RoleEtcdCA},
	RoleEtcdPeer:               {id: RoleEtcdPeer, name: "etcd peer certificate", server: true, client: true, issuer: RoleEtcdCA},
	RoleEtcdMember:             {id: RoleEtcdMember, name: "etcd server or peer certificate", server: true, client: true, issuer: RoleEtcdCA},
	RoleAdmin:                  {id: RoleAdmin, name: "cluster admin client certificate (admin.conf)", client: true, issuer: RoleClusterCA},
	RoleSuperAdmin:             {id: RoleSuperAdmin, name: "super-admin client certificate (super-admin.conf, group system:masters)", client: true, issuer: RoleClusterCA},
	RoleControllerManager:      {id: RoleControllerManager, name: "kube-controller-manager client certificate", client: true, issuer: RoleClusterCA},
	RoleScheduler:              {id: RoleScheduler, name: "kube-scheduler client certificate", client: true, issuer: RoleClusterCA},
	RoleKubeProxy:              {id: RoleKubeProxy, name: "kube-proxy client certificate", client: true, issuer: RoleClusterCA},
}

var caRoles = map[string]role{
	RoleClusterCA:    {id: RoleClusterCA, name: "cluster CA", ca: true},
	RoleFrontProxyCA: {id: RoleFrontProxyCA, name: "front-proxy CA", ca: true},
	RoleEtcdCA:       {id: RoleEtcdCA, name: "etcd CA", ca: true},
	RoleCA:           {id: RoleCA, name: "certificate authority", ca: true},
}

// leafByCN maps kubeadm's fixed common names to roles.
var leafByCN = map[string]string{
	"kube-apiserver":                 RoleAPIServer,
	"kube-apiserver-kubelet-client":  RoleAPIServerKubeletClient,
	"kube-apiserver-etcd-client":     RoleAPIServerEtcdClient,
	"front-proxy-client":             RoleFrontProxyClient,
	"kube-etcd-healthcheck-client":   RoleEtcdHealthcheckClient,
	"kubernetes-admin":               RoleAdmin,
	"kubernetes-super-admin":         RoleSuperAdmin,
	"system:kube-controller-manager": RoleControllerManager,
	"system:kube-scheduler":          RoleScheduler,
	"system:kube-proxy":              RoleKubeProxy,
}

// byFile maps kubeadm's file names (relative to the pki directory, with
// the etcd/ prefix where kubeadm uses it) to roles.
var byFile = map[string]string{
	"ca.crt":                       RoleClusterCA,
	"front-proxy-ca.crt":           RoleFrontProxyCA,
	"etcd/ca.crt":                  RoleEtcdCA,
	"apiserver.crt":                RoleAPIServer,
	"apiserver-kubelet-client.crt": RoleAPIServerKubeletClient,
	"apiserver-etcd-client.crt":    RoleAPIServerEtcdClient,
	"front-proxy-client.crt":       RoleFrontProxyClient,
	"etcd/server.crt":              RoleEtcdServer,
	"etcd/peer.crt":                RoleEtcdPeer,
	"etcd/healthcheck-client.crt":  RoleEtcdHealthcheckClient,
	"admin.conf":                   RoleAdmin,
	"super-admin.conf":             RoleSuperAdmin,
	"controller-manager.conf":      RoleControllerManager,
	"scheduler.conf":               RoleScheduler,
}

// fileKey returns the kubeadm-relative name of path: its base name, with
// "etcd/" in front when its directory is called etcd.
func fileKey(path string) string {
	if path == "" {
		return ""
	}
	base := filepath.Base(path)
	if filepath.Base(filepath.Dir(path)) == "etcd" {
		return "etcd/" + base
	}
	return base
}

// classify returns the Kubernetes reading of a certificate found at path
// (which may be empty, or a kubeconfig file for its user's certificate).
func classify(cert *x509.Certificate, path string) role {
	sans := len(cert.DNSNames)+len(cert.IPAddresses)+len(cert.URIs)+len(cert.EmailAddresses) > 0
	return classifySubject(cert.Subject, cert.IsCA, cert.ExtKeyUsage, sans, cert.Issuer.CommonName, path)
}

// classifyCSR returns the Kubernetes reading of a certificate request.
func classifyCSR(csr *x509.CertificateRequest, path string) role {
	sans := len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.URIs)+len(csr.EmailAddresses) > 0
	if fileKey(path) != "" {
		path = strings.TrimSuffix(path, ".csr") + ".crt"
	}
	var ekus []x509.ExtKeyUsage
	if sans { // requests carry no usages; names mean a serving certificate
		ekus = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	return classifySubject(csr.Subject, false, ekus, sans, "", path)
}

// classifySubject reads a role from, in order: kubeadm's file name, a
// fixed kubeadm common name, a node identity, CA-ness, then the usages.
func classifySubject(subject pkix.Name, isCA bool, ekus []x509.ExtKeyUsage, sans bool, issuer, path string) role {
	cn := subject.CommonName
	groups := subject.Organization
	if id, ok := byFile[fileKey(path)]; ok {
		if r, ok := caRoles[id]; ok {
			return r
		}
		return leafRoles[id]
	}
	if id, ok := leafByCN[cn]; ok {
		return leafRoles[id]
	}
	lower := strings.ToLower(cn)
	if strings.HasPrefix(lower, nodeUserPrefix) || slices.Contains(groups, nodesGroup) {
		node := cn
		if strings.HasPrefix(lower, nodeUserPrefix) {
			node = cn[len(nodeUserPrefix):]
		}
		serverOnly := slices.Contains(ekus, x509.ExtKeyUsageServerAuth) && !slices.Contains(ekus, x509.ExtKeyUsageClientAuth)
		base := filepath.Base(path)
		if serverOnly || base == "kubelet.crt" || strings.HasPrefix(base, "kubelet-server") {
			return role{id: RoleKubeletServing, name: "kubelet serving certificate for node " + node, node: node, server: true, issuer: RoleClusterCA}
		}
		return role{id: RoleKubeletClient, name: "kubelet client certificate for node " + node, node: node, client: true, issuer: RoleClusterCA}
	}
	if isCA {
		switch cn {
		case "kubernetes", "kubernetes-ca":
			return caRoles[RoleClusterCA]
		case "front-proxy-ca", "kubernetes-front-proxy-ca":
			return caRoles[RoleFrontProxyCA]
		case "etcd-ca":
			return caRoles[RoleEtcdCA]
		}
		return caRoles[RoleCA]
	}
	server := slices.Contains(ekus, x509.ExtKeyUsageServerAuth)
	client := slices.Contains(ekus, x509.ExtKeyUsageClientAuth)
	if issuer == "etcd-ca" && server {
		return leafRoles[RoleEtcdMember]
	}
	switch {
	case server && (!client || sans):
		return role{id: RoleServing, name: "serving certificate", server: true}
	case client || (len(ekus) == 0 && !sans && cn != ""):
		name := "client certificate for user " + quoteIfNeeded(cn)
		return role{id: RoleUser, name: name, client: true, issuer: RoleClusterCA}
	case sans:
		return role{id: RoleServing, name: "serving certificate", server: true}
	}
	return role{id: RoleUnknown, name: "certificate of unknown role"}
}

// quoteIfNeeded quotes s when it is empty or holds spaces.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}
