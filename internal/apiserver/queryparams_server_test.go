package apiserver_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// queryPolicy binds group "listers" to list CSRs only, "watchers" to watch
// them only, and "one" to get, list and watch the CSR named "mine" only.
func queryPolicy() *apiserver.Policy {
	p := apiserver.DefaultPolicy()
	csrs := []string{"certificatesigningrequests"}
	role := func(name string, rule rbacv1.PolicyRule) {
		rule.APIGroups, rule.Resources = []string{"certificates.k8s.io"}, csrs
		p.ClusterRoles = append(p.ClusterRoles, rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{rule}})
		p.ClusterRoleBindings = append(p.ClusterRoleBindings, rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			Subjects: []rbacv1.Subject{{Kind: "Group", Name: name}},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}})
	}
	role("listers", rbacv1.PolicyRule{Verbs: []string{"list"}})
	role("watchers", rbacv1.PolicyRule{Verbs: []string{"watch"}})
	role("one", rbacv1.PolicyRule{Verbs: []string{"get", "list", "watch"}, ResourceNames: []string{"mine"}})
	return p
}

// watchEvents reads a watch answer to its end and returns its event types
// and the names of their objects.
func watchEvents(t *testing.T, body []byte) (types, names []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Type   string `json:"type"`
			Object struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"object"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("watch line %q: %v", sc.Bytes(), err)
		}
		types = append(types, ev.Type)
		names = append(names, ev.Object.Metadata.Name)
	}
	return types, names
}

// TestWatchBooleanAuthorized: every spelling of watch that kube-apiserver
// takes as true (anything but absent, "0" and "false" in any case) is
// authorized as watch and served as a watch; the others as list. A user
// who may only list gets 403 for watch=True, one who may only watch gets
// the stream.
func TestWatchBooleanAuthorized(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Policy: queryPolicy()})
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if _, err := admin.Create(t.Context(), newCSR(t, "a", "alice"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lister := httpClient(t, srv, "lister", "listers")
	watcher := httpClient(t, srv, "watcher", "watchers")
	for _, tc := range []struct {
		value string // url-encoded
		watch bool
	}{
		{"True", true}, {"t", true}, {"TRUE", true}, {"yes", true}, {"", true}, {"1", true},
		{"false", false}, {"FALSE", false}, {"0", false}, {"fal%C5%BFe", false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			target := srv.URL + csrPath + "?resourceVersion=0&timeoutSeconds=1&watch=" + tc.value
			allowed, denied := lister, watcher
			if tc.watch {
				allowed, denied = watcher, lister
			}
			if res := do(t, denied, "GET", target, "", nil); res.code != http.StatusForbidden {
				t.Errorf("watch=%s by the user who may not = %d %s, want 403", tc.value, res.code, res.body)
			}
			res := do(t, allowed, "GET", target, "", nil)
			if res.code != http.StatusOK {
				t.Fatalf("watch=%s by the user who may = %d %s, want 200", tc.value, res.code, res.body)
			}
			if !tc.watch {
				var list certv1.CertificateSigningRequestList
				if err := json.Unmarshal(res.body, &list); err != nil || list.Kind != "CertificateSigningRequestList" || len(list.Items) != 1 {
					t.Errorf("watch=%s = %.200s (%v), want the list", tc.value, res.body, err)
				}
				return
			}
			if types, names := watchEvents(t, res.body); !slices.Equal(types, []string{"ADDED"}) || !slices.Equal(names, []string{"a"}) {
				t.Errorf("watch=%s streamed %v of %v, want ADDED a", tc.value, types, names)
			}
		})
	}
}

// TestWatchListBooleans: sendInitialEvents and allowWatchBookmarks take
// any true spelling: a WatchList in capitals gets its initial events and
// the bookmark that ends them.
func TestWatchListBooleans(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if _, err := admin.Create(t.Context(), newCSR(t, "a", "alice"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	res := do(t, c, "GET", srv.URL+csrPath+"?watch=TRUE&sendInitialEvents=True&allowWatchBookmarks=t&resourceVersionMatch=NotOlderThan&timeoutSeconds=1", "", nil)
	if res.code != http.StatusOK {
		t.Fatalf("WatchList in capitals = %d %s, want 200", res.code, res.body)
	}
	if types, _ := watchEvents(t, res.body); !slices.Equal(types, []string{"ADDED", "BOOKMARK"}) {
		t.Errorf("WatchList in capitals streamed %v, want ADDED then the initial-events BOOKMARK", types)
	}
}

// TestWatchHugeTimeout: a timeoutSeconds too large for a time.Duration is
// the server's cap, not a watch that ends at once.
func TestWatchHugeTimeout(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for i, seconds := range []int64{9223372037, math.MaxInt64} {
		w, err := admin.Watch(t.Context(), metav1.ListOptions{TimeoutSeconds: &seconds})
		if err != nil {
			t.Fatalf("watch with timeoutSeconds=%d: %v", seconds, err)
		}
		name := fmt.Sprintf("huge-%d", i)
		if _, err := admin.Create(t.Context(), newCSR(t, name, "alice"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The current CSRs come first, then the new one.
		deadline := time.After(10 * time.Second)
	events:
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Errorf("watch with timeoutSeconds=%d ended before %s was added", seconds, name)
					break events
				}
				if csr, _ := ev.Object.(*certv1.CertificateSigningRequest); ev.Type == watch.Added && csr != nil && csr.Name == name {
					break events
				}
			case <-deadline:
				t.Errorf("watch with timeoutSeconds=%d: no ADDED %s in 10 s", seconds, name)
				break events
			}
		}
		w.Stop()
	}
}

// TestFieldSelectorNameAuthorized: a list or watch whose fieldSelector
// pins metadata.name is authorized for that name, as on kube-apiserver,
// so that a role with resourceNames may list and watch its one object
// (kubectl get csr NAME -w, kubectl wait, informers on one object), and
// the answer holds that object only.
func TestFieldSelectorNameAuthorized(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Policy: queryPolicy()})
	ctx := t.Context()
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for _, name := range []string{"mine", "other"} {
		if _, err := admin.Create(ctx, newCSR(t, name, "alice"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	one := srv.Clientset("olivia", "one").CertificatesV1().CertificateSigningRequests()
	for _, tc := range []struct {
		selector string
		want     []string // nil: 403
	}{
		{"metadata.name=mine", []string{"mine"}},
		{"metadata.name==mine", []string{"mine"}},
		{"metadata.name=mine,spec.signerName=" + certv1.KubeAPIServerClientSignerName, []string{"mine"}},
		{"spec.signerName=" + certv1.KubeAPIServerClientSignerName + ",metadata.name=mine", []string{"mine"}},
		{"metadata.name=mine,spec.signerName=example.com/x", []string{}},
		{"metadata.name=mine,metadata.name=other", []string{}}, // authorized for mine, which is not other
		{"metadata.name=other", nil},
		{"metadata.name!=other", nil},
		{"spec.signerName=" + certv1.KubeAPIServerClientSignerName, nil},
		{"", nil},
	} {
		list, err := one.List(ctx, metav1.ListOptions{FieldSelector: tc.selector})
		if tc.want == nil {
			if !apierrors.IsForbidden(err) {
				t.Errorf("list %q = %v, want 403", tc.selector, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("list %q: %v", tc.selector, err)
			continue
		}
		var got []string
		for _, c := range list.Items {
			got = append(got, c.Name)
		}
		if !slices.Equal(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
			t.Errorf("list %q = %v, want %v", tc.selector, got, tc.want)
		}
	}
	// kube-apiserver takes no name from a query that does not decode.
	c := httpClient(t, srv, "olivia", "one")
	if res := do(t, c, "GET", srv.URL+csrPath+"?fieldSelector=metadata.name%3Dmine&labelSelector=!!", "", nil); res.code != http.StatusForbidden {
		t.Errorf("list of mine with a bad labelSelector = %d, want 403", res.code)
	}

	// The watch: mine's changes only, though other changes too.
	w, err := one.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=mine", ResourceVersion: "0"})
	if err != nil {
		t.Fatalf("watch of mine: %v", err)
	}
	defer w.Stop()
	if _, err := one.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=other"}); !apierrors.IsForbidden(err) {
		t.Errorf("watch of other = %v, want 403", err)
	}
	for _, name := range []string{"other", "mine"} {
		csr, err := admin.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		csr.Labels = map[string]string{"touched": "yes"}
		if _, err := admin.Update(ctx, csr, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(got) < 2 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("the watch of mine ended after %v", got)
			}
			csr, _ := ev.Object.(*certv1.CertificateSigningRequest)
			if csr == nil {
				t.Fatalf("watch event %v carries %T", ev.Type, ev.Object)
			}
			got = append(got, string(ev.Type)+" "+csr.Name)
		case <-time.After(10 * time.Second):
			t.Fatalf("watch of mine: %v after 10 s, want ADDED and MODIFIED", got)
		}
	}
	if want := []string{"ADDED mine", "MODIFIED mine"}; !slices.Equal(got, want) {
		t.Errorf("watch of mine = %v, want %v", got, want)
	}
}

// TestListNegativeLimit: a negative limit is no limit, as kube-apiserver's
// storage reads it: every CSR in one answer, with no continue token.
func TestListNegativeLimit(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for i := range 3 {
		if _, err := client.Create(t.Context(), newCSR(t, fmt.Sprintf("n-%d", i), "whoever"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := client.List(t.Context(), metav1.ListOptions{Limit: -1})
	if err != nil {
		t.Fatalf("list with limit -1: %v", err)
	}
	if len(l.Items) != 3 || l.Continue != "" {
		t.Errorf("list with limit -1: %d items, continue %q; want all 3 and no continue", len(l.Items), l.Continue)
	}
}
