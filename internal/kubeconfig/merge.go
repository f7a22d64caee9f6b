package kubeconfig

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Prefer says which entry wins when files define the same name
// differently.
type Prefer string

// Conflict resolutions for [Merge].
const (
	// PreferNone makes any conflict an error.
	PreferNone Prefer = ""
	// PreferFirst keeps the first file's entry, as kubectl's merge does.
	PreferFirst Prefer = "first"
	// PreferLast keeps the last file's entry.
	PreferLast Prefer = "last"
)

// ParsePrefer parses a --prefer value: "", "first" or "last".
func ParsePrefer(s string) (Prefer, error) {
	switch p := Prefer(s); p {
	case PreferNone, PreferFirst, PreferLast:
		return p, nil
	}
	return "", fmt.Errorf("unknown preference %q: want first or last", s)
}

// Conflict is a name defined differently by several files.
type Conflict struct {
	// Kind is "cluster", "user" or "context".
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Files define the name, in the order given; the entries differ.
	Files []string `json:"files"`
	// Kept is the file whose entry was kept; empty when none was.
	Kept string `json:"kept,omitempty"`
}

func (c Conflict) String() string {
	s := fmt.Sprintf("%s %q is defined differently in %s", c.Kind, c.Name, strings.Join(c.Files, ", "))
	if c.Kept != "" {
		s += "; kept the one from " + c.Kept
	}
	return s
}

// ConflictError is returned by [Merge] with [PreferNone] when files
// conflict.
type ConflictError struct{ Conflicts []Conflict }

func (e *ConflictError) Error() string {
	lines := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		lines[i] = c.String()
	}
	return fmt.Sprintf("%d conflicting entries: %s; rename them, or pass --prefer first|last", len(e.Conflicts), strings.Join(lines, "; "))
}

// ErrNoFiles is returned by [Merge] when it is given no file.
var ErrNoFiles = errors.New("no kubeconfig files to merge")

// Merge reads files (each must exist) and returns one configuration with
// every cluster, user and context. Relative paths are made absolute
// against the directory of the file that holds them, so that the result
// works from anywhere. Entries with the same name and the same content are
// merged silently; entries with the same name and different content are
// conflicts, which are an error (*ConflictError) with PreferNone and are
// otherwise resolved as prefer says and returned. current-context is the
// first non-empty one, as kubectl's merge.
func Merge(files []string, prefer Prefer) (*clientcmdapi.Config, []Conflict, error) {
	if len(files) == 0 {
		return nil, nil, ErrNoFiles
	}
	configs := make([]*clientcmdapi.Config, len(files))
	for i, f := range files {
		cfg, err := Read(f)
		if err != nil {
			return nil, nil, err
		}
		if err := clientcmd.ResolveLocalPaths(cfg); err != nil {
			return nil, nil, fmt.Errorf("resolve paths in %s: %w", f, err)
		}
		configs[i] = cfg
	}
	out := clientcmdapi.NewConfig()
	var conflicts []Conflict
	conflicts = append(conflicts, mergeMap(files, configs, prefer, "cluster", func(c *clientcmdapi.Config) map[string]*clientcmdapi.Cluster { return c.Clusters }, out.Clusters)...)
	conflicts = append(conflicts, mergeMap(files, configs, prefer, "user", func(c *clientcmdapi.Config) map[string]*clientcmdapi.AuthInfo { return c.AuthInfos }, out.AuthInfos)...)
	conflicts = append(conflicts, mergeMap(files, configs, prefer, "context", func(c *clientcmdapi.Config) map[string]*clientcmdapi.Context { return c.Contexts }, out.Contexts)...)
	for _, c := range configs {
		if out.CurrentContext == "" {
			out.CurrentContext = c.CurrentContext
		}
	}
	if len(conflicts) > 0 && prefer == PreferNone {
		return nil, conflicts, &ConflictError{Conflicts: conflicts}
	}
	return out, conflicts, nil
}

// entry is what the three kubeconfig maps hold.
type entry[T any] interface {
	*T
	DeepCopy() *T
}

func mergeMap[T any, P entry[T]](files []string, configs []*clientcmdapi.Config, prefer Prefer, kind string, get func(*clientcmdapi.Config) map[string]P, out map[string]P) []Conflict {
	names := map[string][]int{}
	for i, c := range configs {
		for name := range get(c) {
			names[name] = append(names[name], i)
		}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	var conflicts []Conflict
	for _, name := range sorted {
		idx := names[name]
		first := clean(get(configs[idx[0]])[name])
		differs := false
		for _, i := range idx[1:] {
			if !reflect.DeepEqual(first, clean(get(configs[i])[name])) {
				differs = true
			}
		}
		keep := idx[0]
		if differs {
			c := Conflict{Kind: kind, Name: name}
			for _, i := range idx {
				c.Files = append(c.Files, files[i])
			}
			switch prefer {
			case PreferFirst:
				c.Kept = files[keep]
			case PreferLast:
				keep = idx[len(idx)-1]
				c.Kept = files[keep]
			}
			conflicts = append(conflicts, c)
		}
		out[name] = clean(get(configs[keep])[name])
	}
	return conflicts
}

// clean returns a copy of e without its LocationOfOrigin and with empty
// maps and slices normalised, so that equal entries from different files
// compare equal.
func clean[T any, P entry[T]](e P) P {
	c := P(e.DeepCopy())
	v := reflect.ValueOf(c).Elem()
	if f := v.FieldByName("LocationOfOrigin"); f.IsValid() {
		f.SetString("")
	}
	for i := range v.NumField() {
		f := v.Field(i)
		if k := f.Kind(); (k == reflect.Map || k == reflect.Slice) && f.Len() == 0 && f.CanSet() {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return c
}
