package apiserver

import (
	"maps"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// API groups named by the default policy.
const (
	certificatesGroup   = "certificates.k8s.io"
	authenticationGroup = "authentication.k8s.io"
	authorizationGroup  = "authorization.k8s.io"
)

// Names of the built-in signers, as the default approver and signer roles
// name them.
const (
	signerKubeAPIServerClient        = "kubernetes.io/kube-apiserver-client"
	signerKubeAPIServerClientKubelet = "kubernetes.io/kube-apiserver-client-kubelet"
	signerKubeletServing             = "kubernetes.io/kubelet-serving"
	signerLegacyUnknown              = "kubernetes.io/legacy-unknown"
)

// Names of default roles that callers and tests refer to.
const (
	// RoleClusterAdmin may do everything.
	RoleClusterAdmin = "cluster-admin"
	// RoleCertificateController is what the signing, approving and cleaning
	// controllers need (Kubernetes' system:controller:certificate-controller).
	RoleCertificateController = "system:controller:certificate-controller"
	// RoleCSRRequester lets its subjects create CSRs (bound to every
	// authenticated user by default).
	RoleCSRRequester = "kubepki:certificatesigningrequests:requester"
	// ServiceAccountCertificateController is the user name of Kubernetes'
	// certificate-controller service account, bound to
	// RoleCertificateController as in Kubernetes.
	ServiceAccountCertificateController = "system:serviceaccount:kube-system:certificate-controller"
)

// bootstrapLabel marks default objects as Kubernetes marks its bootstrap
// policy.
var bootstrapLabel = map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}

// DefaultPolicy returns the built-in policy, which mirrors the parts of
// Kubernetes' bootstrap policy (plugin/pkg/auth/authorizer/rbac/
// bootstrappolicy) and of kubeadm's bindings that concern what kubepki
// serves:
//
//   - cluster-admin (everything) bound to system:masters, and as kubeadm
//     binds it to kubeadm:cluster-admins, admin.conf's group;
//   - system:discovery (get /api, /apis, /openapi, /version, health) bound
//     to system:authenticated; system:public-info-viewer (get /healthz,
//     /livez, /readyz, /version) bound to system:authenticated and
//     system:unauthenticated; system:monitoring (/metrics and health
//     details) bound to the group system:monitoring;
//   - system:basic-user (create selfsubjectreviews, selfsubjectaccessreviews,
//     selfsubjectrulesreviews) bound to system:authenticated;
//   - system:node-bootstrapper and the nodeclient / selfnodeclient roles
//     bound as kubeadm binds them (kubeadm:kubelet-bootstrap,
//     kubeadm:node-autoapprove-bootstrap to the default-node-token group,
//     kubeadm:node-autoapprove-certificate-rotation to system:nodes);
//   - the four system:certificates.k8s.io:*-approver roles, unbound;
//   - system:controller:certificate-controller, bound to Kubernetes'
//     certificate-controller service account and to the user
//     system:kube-controller-manager (kubeadm's controller-manager.conf).
//
// Unlike Kubernetes, every authenticated user may also create CSRs
// (kubepki:certificatesigningrequests:requester bound to
// system:authenticated): obtaining a certificate is what the server is
// for. Reading, approving and signing still need their own grants.
//
// Each call returns a new Policy the caller may modify.
func DefaultPolicy() *Policy {
	csr := []string{"certificatesigningrequests"}
	roles := []rbacv1.ClusterRole{
		clusterRole(RoleClusterAdmin,
			rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}),
		clusterRole("system:discovery",
			rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{
				"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
				"/openapi", "/openapi/*", "/readyz", "/version", "/version/"}}),
		clusterRole("system:public-info-viewer",
			rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{
				"/healthz", "/livez", "/readyz", "/version", "/version/"}}),
		clusterRole("system:monitoring",
			rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{
				"/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis",
				"/readyz", "/readyz/*"}}),
		clusterRole("system:basic-user",
			rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{authenticationGroup}, Resources: []string{"selfsubjectreviews"}},
			rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{authorizationGroup}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}}),
		clusterRole(RoleCSRRequester,
			rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{certificatesGroup}, Resources: csr}),
		clusterRole("system:node-bootstrapper",
			rbacv1.PolicyRule{Verbs: []string{"create", "get", "list", "watch"}, APIGroups: []string{certificatesGroup}, Resources: csr}),
		clusterRole("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
			rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{certificatesGroup}, Resources: []string{"certificatesigningrequests/nodeclient"}}),
		clusterRole("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
			rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{certificatesGroup}, Resources: []string{"certificatesigningrequests/selfnodeclient"}}),
		approverRole("system:certificates.k8s.io:kube-apiserver-client-approver", signerKubeAPIServerClient),
		approverRole("system:certificates.k8s.io:kube-apiserver-client-kubelet-approver", signerKubeAPIServerClientKubelet),
		approverRole("system:certificates.k8s.io:kubelet-serving-approver", signerKubeletServing),
		approverRole("system:certificates.k8s.io:legacy-unknown-approver", signerLegacyUnknown),
		clusterRole(RoleCertificateController,
			rbacv1.PolicyRule{Verbs: []string{"get", "list", "watch", "delete"}, APIGroups: []string{certificatesGroup}, Resources: csr},
			rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{certificatesGroup}, Resources: []string{
				"certificatesigningrequests/approval", "certificatesigningrequests/status"}},
			// Kubernetes' controller approves only kubelet client
			// certificates; kubepki's also approves kubelet serving
			// certificates whose names match the node inventory.
			rbacv1.PolicyRule{Verbs: []string{"approve"}, APIGroups: []string{certificatesGroup}, Resources: []string{"signers"},
				ResourceNames: []string{signerKubeAPIServerClientKubelet, signerKubeletServing}},
			rbacv1.PolicyRule{Verbs: []string{"sign"}, APIGroups: []string{certificatesGroup}, Resources: []string{"signers"},
				ResourceNames: []string{signerLegacyUnknown, signerKubeAPIServerClient, signerKubeAPIServerClientKubelet, signerKubeletServing}},
			rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{authorizationGroup}, Resources: []string{"subjectaccessreviews"}}),
	}
	bindings := []rbacv1.ClusterRoleBinding{
		clusterRoleBinding(RoleClusterAdmin, RoleClusterAdmin, group(GroupMasters)),
		clusterRoleBinding("kubeadm:cluster-admins", RoleClusterAdmin, group(GroupKubeadmClusterAdmins)),
		clusterRoleBinding("system:discovery", "system:discovery", group(GroupAuthenticated)),
		clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer", group(GroupAuthenticated), group(GroupUnauthenticated)),
		clusterRoleBinding("system:monitoring", "system:monitoring", group("system:monitoring")),
		clusterRoleBinding("system:basic-user", "system:basic-user", group(GroupAuthenticated)),
		clusterRoleBinding("kubepki:authenticated-csr-requesters", RoleCSRRequester, group(GroupAuthenticated)),
		clusterRoleBinding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", group(GroupKubeadmNodeToken)),
		clusterRoleBinding("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", group(GroupKubeadmNodeToken)),
		clusterRoleBinding("kubeadm:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", group(GroupNodes)),
		clusterRoleBinding(RoleCertificateController, RoleCertificateController,
			rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "kube-system", Name: "certificate-controller"},
			rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: UserKubeControllerManager}),
	}
	return &Policy{ClusterRoles: roles, ClusterRoleBindings: bindings}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: maps.Clone(bootstrapLabel)},
		Rules:      rules,
	}
}

func approverRole(name, signer string) rbacv1.ClusterRole {
	return clusterRole(name, rbacv1.PolicyRule{
		Verbs: []string{"approve"}, APIGroups: []string{certificatesGroup},
		Resources: []string{"signers"}, ResourceNames: []string{signer},
	})
}

func clusterRoleBinding(name, role string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: maps.Clone(bootstrapLabel)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}
