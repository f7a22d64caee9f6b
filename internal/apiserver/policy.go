package apiserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Policy is an RBAC policy: cluster roles and the bindings that grant them.
// Only cluster-scoped objects exist, since everything kubepki serves is
// cluster-scoped. Role references to missing roles grant nothing.
//
// A Policy is plain data; [NewRBACAuthorizer] takes a snapshot of it, so
// later changes to a Policy do not affect an authorizer built from it.
type Policy struct {
	ClusterRoles        []rbacv1.ClusterRole
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
}

// MaxPolicyFileBytes bounds the size of an authorization policy file.
const MaxPolicyFileBytes = 8 << 20

// PolicyProblem is one thing wrong in an authorization policy file.
type PolicyProblem struct {
	// Document is the 1-based index of the YAML or JSON document.
	Document int
	// Item is the 1-based index inside a List document, 0 outside one.
	Item int
	// Object names the object, as `ClusterRole "name"`, when known.
	Object string
	// Field is the path of the offending field, empty for the whole
	// document.
	Field string
	// Detail says what is wrong.
	Detail string
}

// String renders p as "document 2 item 1 (ClusterRole "x"): rules[0].verbs: detail".
func (p PolicyProblem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "document %d", p.Document)
	if p.Item > 0 {
		fmt.Fprintf(&b, " item %d", p.Item)
	}
	if p.Object != "" {
		fmt.Fprintf(&b, " (%s)", p.Object)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Detail)
	return b.String()
}

// PolicyError reports every problem found in an authorization policy file
// or a bootstrap token file.
type PolicyError struct {
	// What names the kind of file; empty means "authorization policy".
	What     string
	File     string
	Problems []PolicyProblem
}

func (e *PolicyError) Error() string {
	what := e.What
	if what == "" {
		what = "authorization policy"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s is invalid; fix these and restart:", what, e.File)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// LoadPolicyFile reads the authorization policy file at path (the
// --authorization-policy-file of kubepki serve) and returns
// [DefaultPolicy] with the file's objects merged on top: an object named
// like a default one replaces it, others are added.
//
// The file holds rbac.authorization.k8s.io/v1 ClusterRole and
// ClusterRoleBinding manifests as YAML documents separated by "---", as
// one or more JSON objects, or as a v1 List (or ClusterRoleList,
// ClusterRoleBindingList) of them. Decoding is strict: unknown or
// duplicate fields, unknown kinds, namespaced kinds, two objects of the
// same kind and name, and objects that Kubernetes would refuse are all
// errors. All problems are returned together in a *[PolicyError] naming the
// document, item and field.
func LoadPolicyFile(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read authorization policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read authorization policy %s: %w", path, err)
	}
	if len(data) > MaxPolicyFileBytes {
		return nil, fmt.Errorf("authorization policy %s is larger than %d bytes; split it or remove unused objects", path, MaxPolicyFileBytes)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		if pe, ok := errors.AsType[*PolicyError](err); ok {
			pe.File = path
		}
		return nil, err
	}
	return MergePolicy(DefaultPolicy(), p), nil
}

// ParsePolicy decodes policy manifests as [LoadPolicyFile] does, without
// merging them with the defaults. Its errors are *[PolicyError] with File
// empty.
func ParsePolicy(data []byte) (*Policy, error) {
	d := &policyDecoder{policy: &Policy{}, seen: map[string]int{}}
	docs, err := splitDocuments(data)
	if err != nil {
		d.problems = append(d.problems, PolicyProblem{Document: len(docs) + 1, Detail: err.Error()})
	}
	for i, doc := range docs {
		d.decodeDocument(i+1, doc)
	}
	if len(d.problems) > 0 {
		return nil, &PolicyError{File: "(input)", Problems: d.problems}
	}
	return d.policy, nil
}

// MergePolicy returns base with the objects of over merged on top: an
// object of over replaces the object of base with the same kind and name,
// and is appended otherwise. Neither argument is modified.
func MergePolicy(base, over *Policy) *Policy {
	out := &Policy{
		ClusterRoles:        append([]rbacv1.ClusterRole(nil), base.ClusterRoles...),
		ClusterRoleBindings: append([]rbacv1.ClusterRoleBinding(nil), base.ClusterRoleBindings...),
	}
	for _, r := range over.ClusterRoles {
		if i := indexByName(out.ClusterRoles, r.Name, func(x *rbacv1.ClusterRole) string { return x.Name }); i >= 0 {
			out.ClusterRoles[i] = r
		} else {
			out.ClusterRoles = append(out.ClusterRoles, r)
		}
	}
	for _, b := range over.ClusterRoleBindings {
		if i := indexByName(out.ClusterRoleBindings, b.Name, func(x *rbacv1.ClusterRoleBinding) string { return x.Name }); i >= 0 {
			out.ClusterRoleBindings[i] = b
		} else {
			out.ClusterRoleBindings = append(out.ClusterRoleBindings, b)
		}
	}
	return out
}

func indexByName[T any](s []T, name string, nameOf func(*T) string) int {
	for i := range s {
		if nameOf(&s[i]) == name {
			return i
		}
	}
	return -1
}

// splitDocuments cuts data into its YAML documents, or its JSON objects
// when data starts with "{". Documents holding only whitespace and
// comments are dropped. On a syntax error it returns the documents read
// so far and the error.
func splitDocuments(data []byte) ([][]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var docs [][]byte
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				if err == io.EOF {
					return docs, nil
				}
				return docs, fmt.Errorf("malformed JSON: %w", err)
			}
			docs = append(docs, raw)
		}
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if err != nil {
			if err == io.EOF {
				return docs, nil
			}
			return docs, fmt.Errorf("malformed YAML: %w", err)
		}
		if isBlankYAML(doc) {
			continue
		}
		docs = append(docs, doc)
	}
}

// isBlankYAML reports whether doc holds only whitespace and comments.
func isBlankYAML(doc []byte) bool {
	for line := range bytes.Lines(doc) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

// policyDecoder accumulates decoded objects and problems.
type policyDecoder struct {
	policy   *Policy
	problems []PolicyProblem
	seen     map[string]int // "Kind/name" → document that defined it
}

func (d *policyDecoder) addProblem(doc, item int, object, fieldPath, detail string) {
	d.problems = append(d.problems, PolicyProblem{Document: doc, Item: item, Object: object, Field: fieldPath, Detail: detail})
}

// typeMeta is the part of a manifest that selects its type.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// policyList is a v1 List, ClusterRoleList or ClusterRoleBindingList.
type policyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []json.RawMessage `json:"items"`
}

// decodeDocument decodes the YAML or JSON document number doc.
func (d *policyDecoder) decodeDocument(doc int, data []byte) {
	jsonData, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		d.addProblem(doc, 0, "", "", fmt.Sprintf("malformed YAML or JSON: %v", err))
		return
	}
	d.decodeObject(doc, 0, jsonData, true)
}

// decodeObject decodes one JSON object; lists are allowed only at the top.
func (d *policyDecoder) decodeObject(doc, item int, data []byte, allowList bool) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		d.addProblem(doc, item, "", "", "empty object; remove it")
		return
	}
	var tm typeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		d.addProblem(doc, item, "", "", fmt.Sprintf("not a Kubernetes object: %v", err))
		return
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		d.addProblem(doc, item, "", "", "apiVersion and kind are required (apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole or ClusterRoleBinding)")
		return
	}
	d.decodeKind(doc, item, tm, data, allowList)
}

// decodeKind decodes data as the object of type tm.
func (d *policyDecoder) decodeKind(doc, item int, tm typeMeta, data []byte, allowList bool) {
	rbacGV := rbacv1.SchemeGroupVersion.String()
	gv := tm.APIVersion
	switch {
	case gv == rbacGV && tm.Kind == "ClusterRole":
		var r rbacv1.ClusterRole
		if !d.strict(doc, item, fmt.Sprintf("ClusterRole %q", objectName(data)), data, &r) {
			return
		}
		r.TypeMeta = metav1.TypeMeta{APIVersion: rbacGV, Kind: "ClusterRole"}
		obj := fmt.Sprintf("ClusterRole %q", r.Name)
		if d.unique(doc, item, obj) {
			d.fieldProblems(doc, item, obj, validateClusterRole(&r))
			d.policy.ClusterRoles = append(d.policy.ClusterRoles, r)
		}
	case gv == rbacGV && tm.Kind == "ClusterRoleBinding":
		var b rbacv1.ClusterRoleBinding
		if !d.strict(doc, item, fmt.Sprintf("ClusterRoleBinding %q", objectName(data)), data, &b) {
			return
		}
		b.TypeMeta = metav1.TypeMeta{APIVersion: rbacGV, Kind: "ClusterRoleBinding"}
		obj := fmt.Sprintf("ClusterRoleBinding %q", b.Name)
		if d.unique(doc, item, obj) {
			d.fieldProblems(doc, item, obj, validateClusterRoleBinding(&b))
			d.policy.ClusterRoleBindings = append(d.policy.ClusterRoleBindings, b)
		}
	case (gv == "v1" && tm.Kind == "List") ||
		(gv == rbacGV && (tm.Kind == "ClusterRoleList" || tm.Kind == "ClusterRoleBindingList")):
		if !allowList {
			d.addProblem(doc, item, "", "kind", "a List cannot be nested in a List")
			return
		}
		var l policyList
		if !d.strict(doc, item, tm.Kind, data, &l) {
			return
		}
		for i, raw := range l.Items {
			if tm.Kind == "List" {
				d.decodeObject(doc, i+1, raw, false)
				continue
			}
			// A typed list fixes the type of its items, which may omit it.
			want := typeMeta{APIVersion: rbacGV, Kind: strings.TrimSuffix(tm.Kind, "List")}
			var itm typeMeta
			if err := json.Unmarshal(raw, &itm); err != nil {
				d.addProblem(doc, i+1, "", "", fmt.Sprintf("not a Kubernetes object: %v", err))
				continue
			}
			if (itm.Kind != "" && itm.Kind != want.Kind) || (itm.APIVersion != "" && itm.APIVersion != want.APIVersion) {
				d.addProblem(doc, i+1, "", "kind", fmt.Sprintf("an item of a %s must be a %s %s, not %s %s", tm.Kind, want.APIVersion, want.Kind, itm.APIVersion, itm.Kind))
				continue
			}
			d.decodeKind(doc, i+1, want, raw, false)
		}
	case gv == rbacGV && (tm.Kind == "Role" || tm.Kind == "RoleBinding"):
		d.addProblem(doc, item, "", "kind", fmt.Sprintf("%s is namespaced and everything kubepki serves is cluster-scoped; use Cluster%s", tm.Kind, tm.Kind))
	default:
		d.addProblem(doc, item, "", "", fmt.Sprintf("unsupported apiVersion %q kind %q; use rbac.authorization.k8s.io/v1 ClusterRole or ClusterRoleBinding", gv, tm.Kind))
	}
}

// strict decodes data into v, recording unknown and duplicate fields. It
// reports whether v was decoded (strict problems do not prevent that).
func (d *policyDecoder) strict(doc, item int, object string, data []byte, v any) bool {
	strictErrs, err := sigsjson.UnmarshalStrict(data, v)
	if err != nil {
		d.addProblem(doc, item, object, "", fmt.Sprintf("cannot decode: %v", err))
		return false
	}
	for _, se := range strictErrs {
		fieldPath := ""
		if fe, ok := se.(sigsjson.FieldError); ok {
			fieldPath = fe.FieldPath()
		}
		d.addProblem(doc, item, object, fieldPath, se.Error())
	}
	return true
}

// unique records object and reports whether it was not seen before.
func (d *policyDecoder) unique(doc, item int, object string) bool {
	if first, ok := d.seen[object]; ok {
		d.addProblem(doc, item, object, "metadata.name", fmt.Sprintf("defined again (first in document %d); keep one", first))
		return false
	}
	d.seen[object] = doc
	return true
}

func (d *policyDecoder) fieldProblems(doc, item int, object string, errs field.ErrorList) {
	for _, e := range errs {
		d.addProblem(doc, item, object, e.Field, e.ErrorBody())
	}
}

// objectName digs metadata.name out of data for messages, best effort.
func objectName(data []byte) string {
	var m struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(data, &m)
	return m.Metadata.Name
}

// validateClusterRole checks r as Kubernetes' RBAC validation does for the
// parts that matter to authorization.
func validateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	var errs field.ErrorList
	if r.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name the role"))
	}
	if r.Namespace != "" {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "namespace"), "a ClusterRole has no namespace"))
	}
	for i := range r.Rules {
		errs = append(errs, validatePolicyRule(&r.Rules[i], field.NewPath("rules").Index(i))...)
	}
	if ar := r.AggregationRule; ar != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(ar.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(p, "list at least one label selector, or remove aggregationRule"))
		}
		for i := range ar.ClusterRoleSelectors {
			if _, err := metav1.LabelSelectorAsSelector(&ar.ClusterRoleSelectors[i]); err != nil {
				errs = append(errs, field.Invalid(p.Index(i), ar.ClusterRoleSelectors[i], err.Error()))
			}
		}
	}
	return errs
}

// validatePolicyRule checks one rule (k8s pkg/apis/rbac/validation).
func validatePolicyRule(rule *rbacv1.PolicyRule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(rule.Verbs) == 0 {
		errs = append(errs, field.Required(p.Child("verbs"), "list at least one verb, or \"*\""))
	}
	if len(rule.NonResourceURLs) > 0 {
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs,
				"rules cannot apply to both regular resources and non-resource URLs; split the rule"))
		}
		for i, u := range rule.NonResourceURLs {
			if u != rbacv1.NonResourceAll && !strings.HasPrefix(u, "/") {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs").Index(i), u, "must be \"*\" or start with \"/\""))
			}
			if k := strings.Index(u, "*"); k >= 0 && k != len(u)-1 {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs").Index(i), u, "\"*\" is allowed only at the end"))
			}
		}
		return errs
	}
	if len(rule.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), "list the API groups (\"\" for the core group, \"*\" for all)"))
	}
	if len(rule.Resources) == 0 {
		errs = append(errs, field.Required(p.Child("resources"), "list the resources (\"*\" for all)"))
	}
	return errs
}

// validateClusterRoleBinding checks b as Kubernetes' RBAC validation does.
func validateClusterRoleBinding(b *rbacv1.ClusterRoleBinding) field.ErrorList {
	var errs field.ErrorList
	if b.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name the binding"))
	}
	if b.Namespace != "" {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "namespace"), "a ClusterRoleBinding has no namespace"))
	}
	rp := field.NewPath("roleRef")
	if b.RoleRef.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(rp.Child("apiGroup"), b.RoleRef.APIGroup, []string{rbacv1.GroupName}))
	}
	if b.RoleRef.Kind != "ClusterRole" {
		errs = append(errs, field.NotSupported(rp.Child("kind"), b.RoleRef.Kind, []string{"ClusterRole"}))
	}
	if b.RoleRef.Name == "" {
		errs = append(errs, field.Required(rp.Child("name"), "name the ClusterRole to grant"))
	}
	for i := range b.Subjects {
		s := &b.Subjects[i]
		sp := field.NewPath("subjects").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), "name the user, group or service account"))
		}
		switch s.Kind {
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
			if s.Namespace != "" {
				errs = append(errs, field.Forbidden(sp.Child("namespace"), "only ServiceAccount subjects have a namespace"))
			}
		case rbacv1.ServiceAccountKind:
			if s.APIGroup != "" {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if s.Namespace == "" {
				errs = append(errs, field.Required(sp.Child("namespace"), "a ServiceAccount subject needs its namespace"))
			}
		default:
			errs = append(errs, field.NotSupported(sp.Child("kind"), s.Kind, []string{rbacv1.UserKind, rbacv1.GroupKind, rbacv1.ServiceAccountKind}))
		}
	}
	return errs
}
