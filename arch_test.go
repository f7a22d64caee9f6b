package kubepki_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/kubepki/kubepki/"

// forbidden maps a package (and its subpackages) to the internal packages
// it must never import from non-test code. Dependencies point one way:
// cli → apiserver, controller, cluster, kubeconfig, inspect → certificates,
// storage, pki (STYLE.md §1).
var forbidden = map[string][]string{
	"internal/pki":          {"internal/cli", "internal/cluster", "internal/kubeconfig", "internal/inspect", "internal/certificates", "internal/storage", "internal/apiserver", "internal/controller"},
	"internal/storage":      {"internal/cli", "internal/cluster", "internal/kubeconfig", "internal/inspect", "internal/certificates", "internal/apiserver", "internal/controller"},
	"internal/certificates": {"internal/cli", "internal/cluster", "internal/kubeconfig", "internal/inspect", "internal/apiserver", "internal/controller", "internal/storage"},
	"internal/cluster":      {"internal/cli", "internal/apiserver", "internal/controller"},
	"internal/kubeconfig":   {"internal/cli", "internal/apiserver", "internal/controller", "internal/cluster"},
	"internal/inspect":      {"internal/cli", "internal/apiserver", "internal/controller"},
	"internal/apiserver":    {"internal/cli", "internal/controller"},
	"internal/controller":   {"internal/cli", "internal/apiserver"},
}

type goPackage struct {
	dir      string
	imports  map[string]bool
	docCount int
	name     string
}

func loadPackages(t *testing.T) map[string]*goPackage {
	t.Helper()
	pkgs := map[string]*goPackage{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || (strings.HasPrefix(name, ".") && path != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if hasBuildIgnore(f) {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		p := pkgs[dir]
		if p == nil {
			p = &goPackage{dir: dir, imports: map[string]bool{}, name: f.Name.Name}
			pkgs[dir] = p
		}
		if f.Doc != nil {
			p.docCount++
		}
		for _, imp := range f.Imports {
			p.imports[strings.Trim(imp.Path.Value, `"`)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func hasBuildIgnore(f *ast.File) bool {
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//go:build") && (strings.Contains(c.Text, "ignore") || strings.Contains(c.Text, "tools")) {
				return true
			}
		}
	}
	return false
}

func within(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

// isTestSupport reports whether dir is a test-support package (pkitest,
// storagetest, etcdtest, apiservertest): imported only by tests, and so
// free to import what it needs to start real components.
func isTestSupport(dir string) bool { return strings.HasSuffix(filepath.Base(dir), "test") }

// TestImportRules enforces the dependency direction of DESIGN.md, and that
// no production code imports a test-support package.
func TestImportRules(t *testing.T) {
	t.Parallel()
	pkgs := loadPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages; is the test run from the module root?", len(pkgs))
	}
	for dir, p := range pkgs {
		for imp := range p.imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			target := strings.TrimPrefix(imp, module)
			if isTestSupport(target) && !isTestSupport(dir) {
				t.Errorf("%s imports the test-support package %s", dir, target)
			}
			if isTestSupport(dir) {
				continue
			}
			if within(target, "internal/cli") && dir != "cmd/kubepki" {
				t.Errorf("%s imports %s: nothing but main imports cli", dir, target)
			}
			for root, bad := range forbidden {
				if !within(dir, root) {
					continue
				}
				for _, b := range bad {
					if within(target, b) {
						t.Errorf("%s imports %s, against the dependency direction", dir, target)
					}
				}
			}
		}
	}
}

// TestPackageComments checks that every package has exactly one package
// comment (STYLE.md §8).
func TestPackageComments(t *testing.T) {
	t.Parallel()
	for dir, p := range loadPackages(t) {
		if p.docCount != 1 {
			t.Errorf("package %s (%s) has %d package comments, want exactly 1", p.name, dir, p.docCount)
		}
	}
}
