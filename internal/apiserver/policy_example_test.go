package apiserver_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubepki/kubepki/internal/apiserver"
)

// An approver role for one signer, granted to a group, on top of the
// defaults, asked the way the approval admission check asks.
func ExampleNewRBACAuthorizer() {
	extra, err := apiserver.ParsePolicy([]byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: client-approver}
rules:
- {verbs: [update], apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval]}
- {verbs: [approve], apiGroups: [certificates.k8s.io], resources: [signers], resourceNames: [kubernetes.io/kube-apiserver-client]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: security-approves}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: client-approver}
subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: security}]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	az := apiserver.NewRBACAuthorizer(apiserver.MergePolicy(apiserver.DefaultPolicy(), extra))
	sam := &apiserver.UserInfo{Name: "sam", Groups: []string{"security", apiserver.GroupAuthenticated}}
	for _, signer := range []string{"kubernetes.io/kube-apiserver-client", "kubernetes.io/kubelet-serving"} {
		allowed, reason, _ := az.Authorize(context.Background(), apiserver.Attributes{
			User: sam, Verb: "approve", APIGroup: "certificates.k8s.io", APIVersion: "*",
			Resource: "signers", Name: signer, ResourceRequest: true,
		})
		fmt.Println(signer, allowed, reason)
	}
	// Output:
	// kubernetes.io/kube-apiserver-client true RBAC: allowed by ClusterRoleBinding "security-approves" of ClusterRole "client-approver" to Group "security"
	// kubernetes.io/kubelet-serving false
}

// Every problem of a policy file is reported at once, with its document
// and field.
func ExampleParsePolicy_errors() {
	_, err := apiserver.ParsePolicy([]byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: broken}
rules: [{verb: [get], apiGroups: [""], resources: [pods]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: namespaced}
`))
	if pe, ok := errors.AsType[*apiserver.PolicyError](err); ok {
		for _, p := range pe.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// document 1 (ClusterRole "broken"): rules[0].verb: unknown field "rules[0].verb"
	// document 1 (ClusterRole "broken"): rules[0].verbs: Required value: list at least one verb, or "*"
	// document 2: kind: RoleBinding is namespaced and everything kubepki serves is cluster-scoped; use ClusterRoleBinding
}
