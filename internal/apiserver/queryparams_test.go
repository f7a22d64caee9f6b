package apiserver

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/validate/content"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeListInfo is the verb and name kube-apiserver's RequestInfoFactory
// gives a GET of a collection with query q, computed with apimachinery's
// own ListOptions decoding: the oracle for parseRequestInfo.
func kubeListInfo(q url.Values) (verb, name string) {
	var opts metainternalversion.ListOptions
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(q, metav1.SchemeGroupVersion, &opts); err != nil {
		// Without ListOptions, only watch is read, lowered.
		opts = metainternalversion.ListOptions{}
		if vs := q["watch"]; len(vs) > 0 {
			l := strings.ToLower(vs[0])
			opts.Watch = l != "0" && l != "false"
		}
	}
	verb = "list"
	if opts.Watch {
		verb = "watch"
	}
	if opts.FieldSelector != nil {
		if n, ok := opts.FieldSelector.RequiresExactMatch("metadata.name"); ok && len(content.IsPathSegmentName(n)) == 0 {
			name = n
		}
	}
	return verb, name
}

func TestQueryBool(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{"", false},
		{"other=true", false},
		{"watch=false", false},
		{"watch=FALSE", false},
		{"watch=False", false},
		{"watch=0", false},
		{"watch=fal%C5%BFe", false}, // U+017F folds to s, as in strings.EqualFold
		{"watch=false&watch=true", false},
		{"watch=true", true},
		{"watch=1", true},
		{"watch=True", true},
		{"watch=TRUE", true},
		{"watch=t", true},
		{"watch=yes", true},
		{"watch=no", true},
		{"watch=00", true},
		{"watch=", true},
		{"watch", true},
		{"watch=true&watch=false", true},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := queryBool(q, "watch"); got != tc.want {
			t.Errorf("queryBool(%q) = %v, want %v", tc.query, got, tc.want)
		}
		var opts metainternalversion.ListOptions
		if err := metainternalversionscheme.ParameterCodec.DecodeParameters(q, metav1.SchemeGroupVersion, &opts); err != nil || opts.Watch != tc.want {
			t.Errorf("apimachinery decodes %q as watch %v (%v), the table says %v", tc.query, opts.Watch, err, tc.want)
		}
	}
}

// TestParseRequestInfoQuery: the verb and the name authorization sees for
// a GET of a collection, as kube-apiserver's RequestInfoFactory derives
// them from the query.
func TestParseRequestInfoQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query    string
		wantVerb string
		wantName string
	}{
		{"", "list", ""},
		{"watch=True", "watch", ""},
		{"watch=t", "watch", ""},
		{"watch=TRUE", "watch", ""},
		{"watch=yes", "watch", ""},
		{"watch=", "watch", ""},
		{"watch=FALSE", "list", ""},
		{"watch=0", "list", ""},
		{"watch=fal%C5%BFe", "list", ""},
		// A query that does not decode: watch is read lowered, and no name.
		{"watch=fal%C5%BFe&limit=x", "watch", ""},
		{"watch=false&limit=x&fieldSelector=metadata.name%3Da", "list", ""},
		{"fieldSelector=metadata.name%3Da", "list", "a"},
		{"fieldSelector=metadata.name%3D%3Da&watch=1", "watch", "a"},
		{"fieldSelector=metadata.name%3Da,spec.signerName%3Dx", "list", "a"},
		{"fieldSelector=spec.signerName%3Dx,metadata.name%3Da", "list", "a"},
		{"fieldSelector=metadata.name%3Da,metadata.name%3Db", "list", "a"},
		{"fieldSelector=metadata.name!%3Da", "list", ""},
		{"fieldSelector=spec.signerName%3Da", "list", ""},
		{"fieldSelector=metadata.name%3D..", "list", ""},
		{"fieldSelector=metadata.name%3Da%2Fb", "list", ""},
		{"fieldSelector=metadata.name%3Da%25b", "list", ""},
		{"fieldSelector=metadata.name%3D", "list", ""},
		{"fieldSelector=metadata.name%3Da&labelSelector=!!", "list", ""},
		{"fieldSelector=metadata.name%3Da&timeoutSeconds=", "list", ""},
		{"fieldSelector=metadata.name%3Da&timeoutSeconds=99999999999999999999", "list", ""},
		{"fieldSelector=metadata.name%3Da&limit=500&timeoutSeconds=-1", "list", "a"},
		{"fieldSelector=other&fieldSelector=metadata.name%3Da", "list", ""},
		{"fieldSelector=metadata.name%3Da&fieldSelector=other", "list", "a"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/apis/certificates.k8s.io/v1/certificatesigningrequests?"+tc.query, nil)
		ri := parseRequestInfo(r)
		if ri.verb != tc.wantVerb || ri.selectorName != tc.wantName || ri.watch != (tc.wantVerb == "watch") {
			t.Errorf("GET ?%s = verb %q (watch %v), name %q; want %q, %q", tc.query, ri.verb, ri.watch, ri.selectorName, tc.wantVerb, tc.wantName)
		}
		if verb, name := kubeListInfo(r.URL.Query()); verb != tc.wantVerb || name != tc.wantName {
			t.Errorf("kube-apiserver reads ?%s as %q, %q; the table says %q, %q", tc.query, verb, name, tc.wantVerb, tc.wantName)
		}
		if a := attributes(&reqState{info: ri}); a.Name != tc.wantName || a.Verb != tc.wantVerb {
			t.Errorf("GET ?%s is authorized as %s of %q, want %s of %q", tc.query, a.Verb, a.Name, tc.wantVerb, tc.wantName)
		}
	}
	// A named object, and DELETE of a collection, take no name from the
	// selector.
	for _, target := range []string{
		"/apis/certificates.k8s.io/v1/certificatesigningrequests/b?fieldSelector=metadata.name%3Da",
	} {
		if ri := parseRequestInfo(httptest.NewRequest(http.MethodGet, target, nil)); ri.name != "b" || ri.selectorName != "" {
			t.Errorf("GET %s = name %q, selector name %q; want b and none", target, ri.name, ri.selectorName)
		}
	}
	r := httptest.NewRequest(http.MethodDelete, "/apis/certificates.k8s.io/v1/certificatesigningrequests?fieldSelector=metadata.name%3Da", nil)
	if ri := parseRequestInfo(r); ri.verb != "deletecollection" || ri.selectorName != "" {
		t.Errorf("DELETE of the collection = %q, selector name %q; want deletecollection and none", ri.verb, ri.selectorName)
	}
}

func TestParseSelectorName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		selector, want string
	}{
		{"metadata.name=a", "a"},
		{"metadata.name==a", "a"},
		{"metadata.name=a,spec.signerName=x", "a"},
		{"metadata.name=a,metadata.name=b", "a"},
		{"metadata.name!=a", ""},
		{"metadata.name=..", ""},
		{"metadata.name=" + strings.Repeat("a", 300), ""}, // too long for a store key: no single read
	} {
		sel, err := parseSelector(url.Values{"fieldSelector": {tc.selector}})
		if err != nil {
			t.Fatalf("parseSelector(%q): %v", tc.selector, err)
		}
		if sel.name != tc.want {
			t.Errorf("parseSelector(%q).name = %q, want %q", tc.selector, sel.name, tc.want)
		}
	}
}

func TestParseWatchParams(t *testing.T) {
	t.Parallel()
	s := fuzzServer(t)
	s.cfg.MaxWatchDuration = DefaultMaxWatchDuration
	const maxSeconds = int64(DefaultMaxWatchDuration / time.Second)
	for _, tc := range []struct {
		query         string
		wantTimeout   time.Duration
		wantBookmarks bool
		wantInitial   bool // initialEventsEnd: a WatchList
		wantErr       bool
	}{
		{query: "", wantTimeout: DefaultMaxWatchDuration},
		{query: "timeoutSeconds=0", wantTimeout: DefaultMaxWatchDuration},
		{query: "timeoutSeconds=5", wantTimeout: 5 * time.Second},
		{query: "timeoutSeconds=" + strconv.FormatInt(maxSeconds, 10), wantTimeout: DefaultMaxWatchDuration},
		{query: "timeoutSeconds=" + strconv.FormatInt(maxSeconds+1, 10), wantTimeout: DefaultMaxWatchDuration},
		{query: "timeoutSeconds=9223372036", wantTimeout: DefaultMaxWatchDuration},
		{query: "timeoutSeconds=9223372037", wantTimeout: DefaultMaxWatchDuration},
		{query: "timeoutSeconds=" + strconv.FormatInt(math.MaxInt64, 10), wantTimeout: DefaultMaxWatchDuration},
		{query: "timeoutSeconds=9223372036854775808", wantErr: true},
		{query: "timeoutSeconds=-1", wantErr: true},
		{query: "timeoutSeconds=", wantErr: true},
		{query: "timeoutSeconds=1s", wantErr: true},
		{query: "limit=x", wantErr: true},
		{query: "limit=500", wantTimeout: DefaultMaxWatchDuration},
		{query: "allowWatchBookmarks=True", wantTimeout: DefaultMaxWatchDuration, wantBookmarks: true},
		{query: "allowWatchBookmarks=yes", wantTimeout: DefaultMaxWatchDuration, wantBookmarks: true},
		{query: "allowWatchBookmarks=False", wantTimeout: DefaultMaxWatchDuration},
		{query: "allowWatchBookmarks=TRUE&sendInitialEvents=True&resourceVersionMatch=NotOlderThan",
			wantTimeout: DefaultMaxWatchDuration, wantBookmarks: true, wantInitial: true},
		{query: "allowWatchBookmarks=1&sendInitialEvents=&resourceVersionMatch=NotOlderThan",
			wantTimeout: DefaultMaxWatchDuration, wantBookmarks: true, wantInitial: true},
		{query: "allowWatchBookmarks=1&sendInitialEvents=FALSE&resourceVersionMatch=NotOlderThan",
			wantTimeout: DefaultMaxWatchDuration, wantBookmarks: true},
		{query: "sendInitialEvents=True&resourceVersionMatch=NotOlderThan", wantErr: true}, // no bookmarks
		{query: "sendInitialEvents=0", wantTimeout: DefaultMaxWatchDuration},
		{query: "resourceVersionMatch=NotOlderThan", wantErr: true},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.parseWatch(q)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseWatch(%q) error = %v, want error %v", tc.query, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if p.timeout != tc.wantTimeout || p.bookmarks != tc.wantBookmarks || p.initialEventsEnd != tc.wantInitial {
			t.Errorf("parseWatch(%q) = timeout %v, bookmarks %v, WatchList %v; want %v, %v, %v",
				tc.query, p.timeout, p.bookmarks, p.initialEventsEnd, tc.wantTimeout, tc.wantBookmarks, tc.wantInitial)
		}
	}
}

func TestParseListIntegers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query     string
		wantLimit int64
		wantErr   bool
	}{
		{query: "limit=500", wantLimit: 500},
		{query: "limit=", wantErr: true},
		{query: "limit=-1", wantLimit: 0}, // no limit, as in kube
		{query: "limit=1e3", wantErr: true},
		{query: "timeoutSeconds=x", wantErr: true},
		{query: "timeoutSeconds=-5"},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		p, err := parseList(q)
		if (err != nil) != tc.wantErr || err == nil && p.limit != tc.wantLimit {
			t.Errorf("parseList(%q) = limit %d, error %v; want %d, error %v", tc.query, p.limit, err, tc.wantLimit, tc.wantErr)
		}
	}
}

// FuzzListQuery checks the query parsing of a GET of a collection against
// kube-apiserver's: parseRequestInfo gives the verb and name that
// apimachinery's ListOptions decoding and the RequestInfoFactory rule
// give; a query the handlers accept decodes as ListOptions; and a watch
// timeout is always within (0, MaxWatchDuration].
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{
		"watch=True", "watch=t", "watch=yes", "watch=", "watch", "watch=fal%C5%BFe", "watch=fal%C5%BFe&limit=x",
		"fieldSelector=metadata.name%3Da", "fieldSelector=metadata.name%3D%3Da,spec.signerName%3Dx&watch=1",
		"fieldSelector=metadata.name%3Da&labelSelector=!!", "fieldSelector=metadata.name%3D..",
		"timeoutSeconds=9223372037&watch=1", "timeoutSeconds=-1", "timeoutSeconds=&limit=",
		"allowWatchBookmarks=True&sendInitialEvents=True&resourceVersionMatch=NotOlderThan&watch=TRUE",
		"watch=1;x", "watch=%zz&watch=1",
	} {
		f.Add(q)
	}
	s := fuzzServer(f)
	s.cfg.MaxWatchDuration = DefaultMaxWatchDuration
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "https://x/apis/certificates.k8s.io/v1/certificatesigningrequests", nil)
		r.URL.RawQuery = query
		q := r.URL.Query()
		ri := parseRequestInfo(r)
		verb, name := kubeListInfo(q)
		if ri.verb != verb || ri.selectorName != name || ri.watch != (verb == "watch") {
			t.Fatalf("?%s = verb %q, name %q; kube-apiserver reads %q, %q", query, ri.verb, ri.selectorName, verb, name)
		}
		var opts metainternalversion.ListOptions
		decodeErr := metainternalversionscheme.ParameterCodec.DecodeParameters(q, metav1.SchemeGroupVersion, &opts)
		if decodesAsListOptions(q) != (decodeErr == nil) {
			t.Fatalf("decodesAsListOptions(?%s) = %v; apimachinery: %v", query, decodesAsListOptions(q), decodeErr)
		}
		if p, err := s.parseWatch(q); err == nil {
			if decodeErr != nil {
				t.Fatalf("parseWatch accepts ?%s, which does not decode: %v", query, decodeErr)
			}
			if p.timeout <= 0 || p.timeout > DefaultMaxWatchDuration {
				t.Fatalf("parseWatch(?%s).timeout = %v, want within (0, %v]", query, p.timeout, DefaultMaxWatchDuration)
			}
			if p.bookmarks != opts.AllowWatchBookmarks {
				t.Fatalf("parseWatch(?%s).bookmarks = %v, kube-apiserver reads %v", query, p.bookmarks, opts.AllowWatchBookmarks)
			}
		} else if err.Error() == "" {
			t.Fatalf("parseWatch(?%s): empty error", query)
		}
		if p, err := parseList(q); err == nil {
			if decodeErr != nil {
				t.Fatalf("parseList accepts ?%s, which does not decode: %v", query, decodeErr)
			}
			if p.sel.name != "" && p.sel.name != ri.selectorName {
				t.Fatalf("?%s reads key %q, authorized for %q", query, p.sel.name, ri.selectorName)
			}
		}
	})
}
