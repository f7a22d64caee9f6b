package apiserver_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

var csrGVR = certv1.SchemeGroupVersion.WithResource("certificatesigningrequests")

// TestMetadataClient drives client-go's metadata client, which asks for
// PartialObjectMetadata(List) in protobuf first, through get, list,
// watch, patch and delete.
func TestMetadataClient(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	ctx := t.Context()
	mc, err := metadata.NewForConfig(srv.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	csrs := mc.Resource(csrGVR)
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	for _, name := range []string{"md-a", "md-b", "md-c"} {
		in := newCSR(t, name, name)
		in.Labels = map[string]string{"team": "blue"}
		if name == "md-c" {
			in.Labels["team"] = "red"
		}
		if _, err := admin.Create(ctx, in, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	got, err := csrs.Get(ctx, "md-a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Name != "md-a" || got.UID == "" || got.ResourceVersion == "" || got.Labels["team"] != "blue" {
		t.Errorf("Get = %+v, want md-a's metadata", got.ObjectMeta)
	}

	list, err := csrs.List(ctx, metav1.ListOptions{LabelSelector: "team=blue", Limit: 1})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "md-a" || list.Continue == "" || list.ResourceVersion == "" {
		t.Fatalf("List page 1 = %d items, continue %q, rv %q; want md-a and a continue token", len(list.Items), list.Continue, list.ResourceVersion)
	}
	rest, err := csrs.List(ctx, metav1.ListOptions{LabelSelector: "team=blue", Continue: list.Continue})
	if err != nil {
		t.Fatalf("List page 2: %v", err)
	}
	if len(rest.Items) != 1 || rest.Items[0].Name != "md-b" || rest.Continue != "" {
		t.Errorf("List page 2 = %+v, want md-b alone", rest.Items)
	}

	w, err := csrs.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()
	patched, err := csrs.Patch(ctx, "md-b", types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"green"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("Patch: %v", err)
	}
	if patched.Labels["team"] != "green" {
		t.Errorf("Patch = labels %v, want team=green", patched.Labels)
	}
	if err := csrs.Delete(ctx, "md-c", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	want := []struct {
		typ  watch.EventType
		name string
	}{{watch.Modified, "md-b"}, {watch.Deleted, "md-c"}}
	for _, wnt := range want {
		select {
		case ev := <-w.ResultChan():
			m, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if ev.Type != wnt.typ || !ok || m.Name != wnt.name {
				t.Fatalf("watch event %s %T %v, want %s of %s as PartialObjectMetadata", ev.Type, ev.Object, ev.Object, wnt.typ, wnt.name)
			}
			if wnt.typ == watch.Modified && m.Labels["team"] != "green" {
				t.Errorf("MODIFIED labels = %v, want team=green", m.Labels)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event for %s", wnt.typ, wnt.name)
		}
	}
}

// TestMetadataInformer runs a metadata informer (a WatchList stream with
// its initial-events bookmark, then a watch) until it sees a change.
func TestMetadataInformer(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	ctx := t.Context()
	mc, err := metadata.NewForConfig(srv.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if _, err := admin.Create(ctx, newCSR(t, "before", "before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	factory := metadatainformer.NewSharedInformerFactory(mc, 0)
	inf := factory.ForResource(csrGVR)
	stop := make(chan struct{})
	factory.Start(stop)
	defer func() {
		close(stop)
		factory.Shutdown()
	}()
	syncCtx, cancel := contextWithTimeout(t, 20*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.Informer().HasSynced) {
		t.Fatal("the metadata informer did not sync")
	}
	if _, err := inf.Lister().Get("before"); err != nil {
		t.Fatalf("lister after sync: %v", err)
	}
	admin2 := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	lists := func() int {
		t.Helper()
		res := do(t, admin2, "GET", srv.URL+"/metrics", "", nil)
		n := 0
		for line := range strings.Lines(string(res.body)) {
			if strings.HasPrefix(line, `kubepki_apiserver_requests_total{`) && strings.Contains(line, `verb="list"`) {
				var v float64
				if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
					t.Fatalf("metrics line %q: %v", line, err)
				}
				n += int(v)
			}
		}
		return n
	}
	listsBefore := lists()
	in := newCSR(t, "after", "after")
	in.Labels = map[string]string{"seen": "yes"}
	if _, err := admin.Create(ctx, in, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sel := labels.SelectorFromSet(labels.Set{"seen": "yes"})
	deadline := time.Now().Add(20 * time.Second)
	for {
		objs, err := inf.Lister().List(sel)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) == 1 {
			if m, ok := objs[0].(*metav1.PartialObjectMetadata); !ok || m.Name != "after" {
				t.Fatalf("informer holds %T %v, want the PartialObjectMetadata of after", objs[0], objs[0])
			}
			// Seen through the watch, not by listing again after a
			// failed one.
			if n := lists(); n != listsBefore {
				t.Errorf("the informer listed %d more times after its sync; its watch failed", n-listsBefore)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the informer did not see the new CSR; it holds %d with the label", len(objs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetadataForms checks the wire form of metadata answers, and that a
// list form for one object (and the other way round) is a 406, as in
// kube-apiserver.
func TestMetadataForms(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := httpClient(t, srv, apiservertest.AdminUser, apiservertest.AdminGroup)
	cs := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	if _, err := cs.Create(t.Context(), newCSR(t, "forms", "forms"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const (
		obj  = ";as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
		list = ";as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
	)
	for _, tc := range []struct {
		path, accept string
		code         int
		contentType  string
		body         string // in the answer
	}{
		{"/forms", "application/json" + obj, 200, "application/json", `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"forms"`},
		{"/forms", "application/yaml" + obj, 200, "application/yaml", "kind: PartialObjectMetadata\n"},
		{"/forms", "application/vnd.kubernetes.protobuf" + obj, 200, "application/vnd.kubernetes.protobuf", "\x12\x15PartialObjectMetadata"},
		{"", "application/json" + list, 200, "application/json", `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":`},
		{"", "application/vnd.kubernetes.protobuf" + list, 200, "application/vnd.kubernetes.protobuf", "\x12\x19PartialObjectMetadataList"},
		{"/forms", "application/json" + list, 406, "application/json", "the requested object is not a list"},
		{"", "application/json" + obj, 406, "application/json", "the requested object is a list"},
		{"?watch=true", "application/json" + list, 406, "application/json", "the requested object is not a list"},
		// Another version of the meta group is not served: the next
		// clause is.
		{"/forms", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2,application/json", 200, "application/json", `{"kind":"CertificateSigningRequest"`},
	} {
		res := do(t, admin, "GET", srv.URL+csrPath+tc.path, "", nil, "Accept", tc.accept)
		if res.code != tc.code || res.header.Get("Content-Type") != tc.contentType || !bytes.Contains(res.body, []byte(tc.body)) {
			t.Errorf("GET %s Accept %s = %d %s %q, want %d %s with %q", tc.path, tc.accept, res.code,
				res.header.Get("Content-Type"), res.body[:min(len(res.body), 200)], tc.code, tc.contentType, tc.body)
		}
		if res.code == http.StatusOK && bytes.Contains(res.body, []byte("spec")) && strings.Contains(tc.accept, "PartialObjectMetadata;g=meta.k8s.io;v=v1") {
			t.Errorf("GET %s Accept %s carries the spec: %q", tc.path, tc.accept, res.body)
		}
	}
}
