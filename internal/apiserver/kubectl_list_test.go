package apiserver_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
)

// TestKubectlListFile checks the backup-and-restore round trip: what
// "kubectl get csr A B -o yaml" and "kubectl get csr -o json" write
// (apiVersion v1, kind List) is read back by delete -f, create -f, apply -f
// and replace -f, each acting on every item, and validated against the
// OpenAPI schema. kubectl maps the kind List only in a group version that
// discovery lists, so this needs the core v1 version in /api.
//
// Restoring a backup with create -f and apply -f also relies on the server
// clearing metadata.resourceVersion and uid on create, where
// kube-apiserver refuses a create that sets resourceVersion.
func TestKubectlListFile(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	srv := apiservertest.Start(t, apiservertest.Options{})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	dir := t.TempDir()
	for _, name := range []string{"lena", "milo"} {
		manifest := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(manifest, []byte(csrManifest(name, csrPEM(t, name), "example.com/signer")), 0o600); err != nil {
			t.Fatal(err)
		}
		kubectl.ok(admin, "create", "-f", manifest)
	}
	const wantNames = "certificatesigningrequest.certificates.k8s.io/lena\ncertificatesigningrequest.certificates.k8s.io/milo\n"
	names := func() string {
		t.Helper()
		return kubectl.ok(admin, "get", "csr", "-o", "name")
	}
	// save writes what kubectl get printed to a file in dir.
	save := func(file, data string) string {
		t.Helper()
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// The YAML backup of two CSRs by name.
	list := kubectl.ok(admin, "get", "csr", "lena", "milo", "-o", "yaml")
	if !strings.Contains(list, "apiVersion: v1\n") || !strings.Contains(list, "kind: List\n") {
		t.Fatalf("get csr lena milo -o yaml = %q, want a v1 List", list)
	}
	backup := save("backup.yaml", list)
	if out := kubectl.ok(admin, "delete", "-f", backup); !strings.Contains(out, `"lena" deleted`) || !strings.Contains(out, `"milo" deleted`) {
		t.Errorf("delete -f List = %q, want both deleted", out)
	}
	if out := names(); out != "" {
		t.Errorf("after delete -f, get csr -o name = %q, want nothing", out)
	}
	if out := kubectl.ok(admin, "create", "-f", backup, "-o", "name"); out != wantNames {
		t.Errorf("create -f List = %q, want %q", out, wantNames)
	}
	if out := names(); out != wantNames {
		t.Errorf("after create -f, get csr -o name = %q, want %q", out, wantNames)
	}
	// The restored objects are new; replace -f and apply -f take a fresh
	// List, since the backup's uid and resourceVersion are stale.
	relabel := func(team string) string {
		t.Helper()
		fresh := kubectl.ok(admin, "get", "csr", "lena", "milo", "-o", "yaml")
		return save("relabelled.yaml", strings.ReplaceAll(fresh, "team: ", "team: "+team+"-"))
	}
	if out := kubectl.ok(admin, "replace", "-f", relabel("green")); !strings.Contains(out, "lena replaced") || !strings.Contains(out, "milo replaced") {
		t.Errorf("replace -f List = %q, want both replaced", out)
	}
	if out := kubectl.ok(admin, "apply", "-f", relabel("red")); !strings.Contains(out, "lena configured") || !strings.Contains(out, "milo configured") {
		t.Errorf("apply -f List = %q, want both configured", out)
	}
	if out := kubectl.ok(admin, "get", "csr", "-l", "team=red-green-blue", "-o", "name"); out != wantNames {
		t.Errorf("get -l team=red-green-blue = %q, want %q", out, wantNames)
	}

	// The JSON backup of every CSR, restored by apply -f.
	list = kubectl.ok(admin, "get", "csr", "-o", "json")
	var doc struct{ APIVersion, Kind string }
	if err := json.Unmarshal([]byte(list), &doc); err != nil || doc.APIVersion != "v1" || doc.Kind != "List" {
		t.Fatalf("get csr -o json = %q (%v), want a v1 List", list, err)
	}
	backup = save("backup.json", list)
	if out := kubectl.ok(admin, "delete", "-f", backup); !strings.Contains(out, `"lena" deleted`) || !strings.Contains(out, `"milo" deleted`) {
		t.Errorf("delete -f JSON List = %q, want both deleted", out)
	}
	if out := names(); out != "" {
		t.Errorf("after delete -f of the JSON List, get csr -o name = %q, want nothing", out)
	}
	if out := kubectl.ok(admin, "apply", "-f", backup); !strings.Contains(out, "lena created") || !strings.Contains(out, "milo created") {
		t.Errorf("apply -f JSON List = %q, want both created", out)
	}
	if out := kubectl.ok(admin, "get", "csr", "-l", "team=red-green-blue", "-o", "name"); out != wantNames {
		t.Errorf("after apply -f, get -l team=red-green-blue = %q, want %q", out, wantNames)
	}
	kubectl.ok(admin, "delete", "-f", backup)
	// kubectl validates a List's items against the OpenAPI schema, and
	// creates none of them when one is wrong.
	typo := save("typo.json", strings.Replace(list, `"spec": {`, `"spec": {"signerNmae": "x",`, 1))
	if _, errOut, code := kubectl.run(admin, "create", "-f", typo); code != 1 || !strings.Contains(errOut, `unknown field "signerNmae"`) {
		t.Errorf("create -f of a List with a typo = exit %d, %q; want the unknown field refused", code, errOut)
	}
	if out := names(); out != "" {
		t.Errorf("after create -f of a List with a typo, get csr -o name = %q, want nothing", out)
	}
	if out := kubectl.ok(admin, "create", "-f", backup, "-o", "name"); out != wantNames {
		t.Errorf("create -f JSON List = %q, want %q", out, wantNames)
	}
}

// TestKubectlDiscoveryCached: kubectl caches discovery with the core v1
// version in it, so that a warm kubectl asks for /api and /apis no more;
// client-go's cache keeps only versions with resources, and one without
// would make every command fetch discovery again. api-versions and
// api-resources always refetch, and list core v1 with events.
func TestKubectlDiscoveryCached(t *testing.T) {
	t.Parallel()
	kubectl := newKubectl(t)
	requests := newRequestCounter()
	srv := apiservertest.Start(t, apiservertest.Options{Logger: slog.New(requests)})
	admin := srv.KubeconfigFor(apiservertest.AdminUser, apiservertest.AdminGroup)
	discovery := func() (api, apis int) {
		return requests.count("get", "/api"), requests.count("get", "/apis")
	}

	kubectl.ok(admin, "get", "csr") // cold: fetches and caches discovery
	if api, apis := discovery(); api != 1 || apis != 1 {
		t.Fatalf("cold get csr: %d GET /api, %d GET /apis; want 1 each", api, apis)
	}
	for _, args := range [][]string{
		{"get", "csr"}, {"get", "events"}, {"get", "events", "-A"}, {"get", "ev", "-n", "kube-system"},
		{"get", "csr,events"}, {"describe", "csr"},
	} {
		kubectl.ok(admin, args...)
		if api, apis := discovery(); api != 1 || apis != 1 {
			t.Errorf("after warm kubectl %s: %d GET /api, %d GET /apis in all; want 1 each, from the cache", strings.Join(args, " "), api, apis)
		}
	}

	if out := kubectl.ok(admin, "api-versions"); !slices.Contains(strings.Split(out, "\n"), "v1") {
		t.Errorf("api-versions = %q, want v1 among them", out)
	}
	out := kubectl.ok(admin, "api-resources", "--api-group=")
	if want := []string{"events", "ev", "v1", "true", "Event"}; !slices.ContainsFunc(strings.Split(out, "\n"),
		func(line string) bool { return slices.Equal(strings.Fields(line), want) }) {
		t.Errorf("api-resources --api-group= = %q, want a row %v", out, want)
	}
	if api, apis := discovery(); api != 3 || apis != 3 {
		t.Errorf("api-versions and api-resources: %d GET /api, %d GET /apis in all; want 3 each", api, apis)
	}

	// client-go reads the same: core v1 with events, nothing failed.
	groups, resources, err := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("ServerGroupsAndResources: %v", err)
	}
	if len(groups) == 0 || groups[0].Name != "" || groups[0].PreferredVersion.GroupVersion != "v1" {
		t.Errorf("discovered groups = %+v, want the core group v1 first", groups)
	}
	var core []string
	for _, list := range resources {
		if list.GroupVersion != "v1" {
			continue
		}
		for _, r := range list.APIResources {
			core = append(core, fmt.Sprintf("%s namespaced=%t %s %v", r.Name, r.Namespaced, r.Kind, r.Verbs))
		}
	}
	if want := []string{"events namespaced=true Event [list watch]"}; !slices.Equal(core, want) {
		t.Errorf("client-go core v1 resources = %q, want %q", core, want)
	}
}
