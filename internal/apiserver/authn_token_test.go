package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Test bootstrap tokens; they authenticate nothing outside these tests.
const (
	testTokenID     = "abcdef"
	testTokenSecret = "0123456789abcdef"
)

const tokenSecretYAML = `apiVersion: v1
kind: Secret
metadata:
  name: bootstrap-token-abcdef
  namespace: kube-system
type: bootstrap.kubernetes.io/token
stringData:
  token-id: abcdef
  token-secret: 0123456789abcdef
  expiration: "2030-01-02T03:04:05Z"
  usage-bootstrap-authentication: "true"
  usage-bootstrap-signing: "true"
  auth-extra-groups: system:bootstrappers:kubeadm:default-node-token
---
# base64 data, as kubectl get secret -o yaml prints it; no expiry
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-zzzzzz, namespace: kube-system}
type: bootstrap.kubernetes.io/token
data:
  token-id: enp6enp6
  token-secret: MTExMTExMTExMTExMTExMQ==
  usage-bootstrap-authentication: dHJ1ZQ==
---
# signing only: not for authentication
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-sssss1}
type: bootstrap.kubernetes.io/token
stringData: {token-id: sssss1, token-secret: "2222222222222222", usage-bootstrap-signing: "true"}
`

func bearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/apis", nil)
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	return r
}

func TestParseBootstrapTokens(t *testing.T) {
	t.Parallel()
	got, err := ParseBootstrapTokens([]byte(tokenSecretYAML))
	if err != nil {
		t.Fatalf("ParseBootstrapTokens: %v", err)
	}
	want := []BootstrapToken{
		{ID: "abcdef", Secret: "0123456789abcdef", Expiration: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), ExtraGroups: []string{GroupKubeadmNodeToken}},
		{ID: "zzzzzz", Secret: "1111111111111111"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	if s := fmt.Sprint(got[0]) + fmt.Sprintf("%#v %v", got[0], got); strings.Contains(s, testTokenSecret) {
		t.Errorf("formatting a token shows its secret: %s", s)
	}
}

func TestParseBootstrapTokensErrors(t *testing.T) {
	t.Parallel()
	secret := func(name, body string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name + "}\ntype: bootstrap.kubernetes.io/token\n" + body
	}
	tests := []struct {
		name    string
		content string
		want    []problem
	}{
		{"not a Secret", "apiVersion: v1\nkind: ConfigMap\n", []problem{{1, 0, ""}}},
		{"wrong type", "apiVersion: v1\nkind: Secret\nmetadata: {name: bootstrap-token-abcdef}\ntype: Opaque\nstringData: {token-id: abcdef, token-secret: 0123456789abcdef}\n", []problem{{1, 0, "type"}}},
		{"short secret", secret("bootstrap-token-abcdef", "stringData: {token-id: abcdef, token-secret: short}\n"), []problem{{1, 0, "data.token-secret"}}},
		{"upper-case id", secret("bootstrap-token-ABCDEF", "stringData: {token-id: ABCDEF, token-secret: 0123456789abcdef}\n"), []problem{{1, 0, "data.token-id"}}},
		{"name not matching id", secret("bootstrap-token-aaaaaa", "stringData: {token-id: abcdef, token-secret: 0123456789abcdef}\n"), []problem{{1, 0, "metadata.name"}}},
		{"bad expiration", secret("bootstrap-token-abcdef", "stringData: {token-id: abcdef, token-secret: 0123456789abcdef, expiration: tomorrow}\n"), []problem{{1, 0, "data.expiration"}}},
		{"extra group outside system:bootstrappers", secret("bootstrap-token-abcdef", "stringData: {token-id: abcdef, token-secret: 0123456789abcdef, auth-extra-groups: 'system:masters'}\n"), []problem{{1, 0, "data.auth-extra-groups"}}},
		{"unknown field", secret("bootstrap-token-abcdef", "stringDate: {}\n"), []problem{{1, 0, "stringDate"}, {1, 0, "data.token-id"}, {1, 0, "data.token-secret"}, {1, 0, "metadata.name"}}},
		{"bad base64", secret("bootstrap-token-abcdef", "data: {token-id: '!!!'}\n"), []problem{{1, 0, ""}}},
		{"other namespace", "apiVersion: v1\nkind: Secret\nmetadata: {name: bootstrap-token-abcdef, namespace: default}\ntype: bootstrap.kubernetes.io/token\nstringData: {token-id: abcdef, token-secret: 0123456789abcdef}\n", []problem{{1, 0, "metadata.namespace"}}},
		{"same token twice", secret("bootstrap-token-abcdef", "stringData: {token-id: abcdef, token-secret: 0123456789abcdef, usage-bootstrap-authentication: 'true'}\n") + "---\n" +
			secret("bootstrap-token-abcdef", "stringData: {token-id: abcdef, token-secret: 0123456789abcdef, usage-bootstrap-authentication: 'true'}\n"), []problem{{2, 0, "data.token-id"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseBootstrapTokens([]byte(tc.content))
			pe, ok := errors.AsType[*PolicyError](err)
			if !ok {
				t.Fatalf("ParseBootstrapTokens = %v, want *PolicyError", err)
			}
			var got []problem
			for _, p := range pe.Problems {
				got = append(got, problem{p.Document, p.Item, p.Field})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
			}
			if strings.Contains(err.Error(), testTokenSecret) {
				t.Errorf("error shows the token secret: %v", err)
			}
		})
	}
}

func TestBootstrapTokenAuthenticator(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte(tokenSecretYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadBootstrapTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Date(2030, 1, 2, 3, 4, 4, 0, time.UTC)
	after := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	valid := "Bearer " + testTokenID + "." + testTokenSecret
	tests := []struct {
		name    string
		header  string
		at      time.Time
		want    *UserInfo
		wantErr error
	}{
		{"valid", valid, before, &UserInfo{Name: "system:bootstrap:abcdef", Groups: []string{GroupBootstrappers, GroupKubeadmNodeToken, GroupAuthenticated}}, nil},
		{"scheme case-insensitive", "bearer " + testTokenID + "." + testTokenSecret, before, &UserInfo{Name: "system:bootstrap:abcdef", Groups: []string{GroupBootstrappers, GroupKubeadmNodeToken, GroupAuthenticated}}, nil},
		{"from base64 data, no expiry", "Bearer zzzzzz.1111111111111111", after.AddDate(50, 0, 0), &UserInfo{Name: "system:bootstrap:zzzzzz", Groups: []string{GroupBootstrappers, GroupAuthenticated}}, nil},
		{"expired at expiration", valid, after, nil, errInvalidBootstrapToken},
		{"wrong secret", "Bearer abcdef.0123456789abcdee", before, nil, errInvalidBootstrapToken},
		{"unknown id", "Bearer bbbbbb.0123456789abcdef", before, nil, errInvalidBootstrapToken},
		{"signing-only token", "Bearer sssss1.2222222222222222", before, nil, errInvalidBootstrapToken},
		{"no header", "", before, nil, nil},
		{"basic auth", "Basic YTpi", before, nil, nil},
		{"not a bootstrap token", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig", before, nil, nil},
		{"upper case token", "Bearer ABCDEF.0123456789ABCDEF", before, nil, nil},
		{"secret too long", "Bearer abcdef.0123456789abcdef0", before, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := NewBootstrapTokenAuthenticator(tokens, func() time.Time { return tc.at })
			got, ok, err := a.AuthenticateRequest(bearer(tc.header))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if ok != (tc.want != nil) {
				t.Fatalf("ok = %v, want %v", ok, tc.want != nil)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("user (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseBootstrapTokens checks that the token file parser never panics,
// fails only with *PolicyError, and returns only well-formed tokens.
func FuzzParseBootstrapTokens(f *testing.F) {
	f.Add([]byte(tokenSecretYAML))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"bootstrap-token-abcdef"},"type":"bootstrap.kubernetes.io/token","stringData":{"token-id":"abcdef","token-secret":"0123456789abcdef","usage-bootstrap-authentication":"true"}}`))
	f.Add([]byte("apiVersion: v1\nkind: Secret\ndata: {token-id: '!!'}\n"))
	f.Add([]byte(aliasBomb))
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := ParseBootstrapTokens(data)
		if err != nil {
			if pe, ok := errors.AsType[*PolicyError](err); !ok || len(pe.Problems) == 0 {
				t.Fatalf("error %v is not a *PolicyError with problems", err)
			}
			return
		}
		for _, tok := range tokens {
			if _, _, ok := parseBootstrapToken(tok.ID + "." + tok.Secret); !ok {
				t.Fatalf("accepted malformed token %s", tok)
			}
			for _, g := range tok.ExtraGroups {
				if !strings.HasPrefix(g, GroupBootstrappers+":") {
					t.Fatalf("accepted extra group %q", g)
				}
			}
		}
	})
}
