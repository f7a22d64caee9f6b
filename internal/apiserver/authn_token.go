package apiserver

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Bootstrap token names and Secret keys (k8s.io/cluster-bootstrap/token/api).
const (
	// BootstrapTokenSecretType is the type of a bootstrap token Secret.
	BootstrapTokenSecretType = corev1.SecretType("bootstrap.kubernetes.io/token")
	// BootstrapTokenSecretPrefix starts the name of a bootstrap token
	// Secret; the token ID follows.
	BootstrapTokenSecretPrefix = "bootstrap-token-"
	// BootstrapUserPrefix starts the user name of a bootstrap token; the
	// token ID follows.
	BootstrapUserPrefix = "system:bootstrap:"

	bootstrapKeyTokenID     = "token-id"
	bootstrapKeyTokenSecret = "token-secret"
	bootstrapKeyExpiration  = "expiration"
	bootstrapKeyUsageAuthn  = "usage-bootstrap-authentication"
	bootstrapKeyExtraGroups = "auth-extra-groups"
)

// BootstrapToken is a bootstrap token usable for authentication.
type BootstrapToken struct {
	// ID is the public part, six characters of [a-z0-9].
	ID string
	// Secret is the private part, sixteen characters of [a-z0-9].
	Secret string
	// Expiration is when the token stops working; zero means never.
	Expiration time.Time
	// ExtraGroups are added to system:bootstrappers; each starts with
	// "system:bootstrappers:".
	ExtraGroups []string
}

// String redacts the secret.
func (t BootstrapToken) String() string { return t.ID + ".<redacted>" }

// GoString redacts the secret in %#v.
func (t BootstrapToken) GoString() string {
	return "BootstrapToken{ID: " + t.ID + ", Secret: <redacted>}"
}

// LogValue redacts the secret in slog records.
func (t BootstrapToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

// errInvalidBootstrapToken is every failure of a well-formed bootstrap
// token: unknown ID, wrong secret or expired. One error for all keeps the
// failures indistinguishable to a client.
var errInvalidBootstrapToken = errors.New("invalid bootstrap token")

// isTokenPart reports whether s is n characters of [a-z0-9].
func isTokenPart(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// parseBootstrapToken splits "id.secret" and reports whether it has the
// bootstrap token format [a-z0-9]{6}.[a-z0-9]{16}.
func parseBootstrapToken(s string) (id, secret string, ok bool) {
	id, secret, found := strings.Cut(s, ".")
	if !found || !isTokenPart(id, 6) || !isTokenPart(secret, 16) {
		return "", "", false
	}
	return id, secret, true
}

// bootstrapTokenAuthenticator authenticates bearer bootstrap tokens.
type bootstrapTokenAuthenticator struct {
	tokens map[string]BootstrapToken
	now    func() time.Time
}

// NewBootstrapTokenAuthenticator returns an Authenticator for bootstrap
// tokens sent as "Authorization: Bearer ID.SECRET", as kube-apiserver's
// --enable-bootstrap-token-auth does with the Secrets in kube-system.
//
// A request without a bearer token, or whose token does not have the
// format [a-z0-9]{6}.[a-z0-9]{16}, is not this authenticator's (nil,
// false, nil). A well-formed token whose ID is unknown, whose secret does
// not match (compared in constant time) or that has expired at now() gets
// one and the same error. The identity is user "system:bootstrap:ID" in
// groups system:bootstrappers, the token's extra groups and
// system:authenticated. Tokens with an invalid ID or secret are ignored;
// of two with the same ID the last wins. nil now means time.Now.
func NewBootstrapTokenAuthenticator(tokens []BootstrapToken, now func() time.Time) Authenticator {
	if now == nil {
		now = time.Now
	}
	m := make(map[string]BootstrapToken, len(tokens))
	for _, t := range tokens {
		if isTokenPart(t.ID, 6) && isTokenPart(t.Secret, 16) {
			m[t.ID] = t
		}
	}
	return &bootstrapTokenAuthenticator{tokens: m, now: now}
}

// AuthenticateRequest implements [Authenticator].
func (a *bootstrapTokenAuthenticator) AuthenticateRequest(r *http.Request) (*UserInfo, bool, error) {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, found := strings.Cut(auth, " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return nil, false, nil
	}
	id, secret, ok := parseBootstrapToken(strings.TrimSpace(token))
	if !ok {
		return nil, false, nil
	}
	t, known := a.tokens[id]
	// Compare even for an unknown ID, so that both failures take the
	// same path.
	want := t.Secret
	if !known {
		want = strings.Repeat("0", 16)
	}
	match := subtle.ConstantTimeCompare([]byte(secret), []byte(want)) == 1
	if !known || !match || (!t.Expiration.IsZero() && !a.now().Before(t.Expiration)) {
		return nil, false, errInvalidBootstrapToken
	}
	groups := make([]string, 0, len(t.ExtraGroups)+2)
	groups = append(groups, GroupBootstrappers)
	groups = append(groups, t.ExtraGroups...)
	groups = append(groups, GroupAuthenticated)
	return &UserInfo{Name: BootstrapUserPrefix + id, Groups: groups}, true, nil
}

// MaxBootstrapTokenFileBytes bounds the size of a bootstrap token file.
const MaxBootstrapTokenFileBytes = 1 << 20

// LoadBootstrapTokenFile reads bootstrap tokens from path: YAML documents
// or JSON objects, each a v1 Secret of type bootstrap.kubernetes.io/token
// as kubeadm creates them in kube-system (name "bootstrap-token-ID";
// data, base64, or stringData keys token-id, token-secret, and optionally
// expiration in RFC 3339, usage-bootstrap-authentication and
// auth-extra-groups, comma-separated). Secrets whose
// usage-bootstrap-authentication is not "true" are skipped, as
// Kubernetes skips them. Decoding is strict; all problems are returned
// together in a *[PolicyError].
func LoadBootstrapTokenFile(path string) ([]BootstrapToken, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read bootstrap tokens: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBootstrapTokenFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read bootstrap tokens %s: %w", path, err)
	}
	if len(data) > MaxBootstrapTokenFileBytes {
		return nil, fmt.Errorf("bootstrap token file %s is larger than %d bytes", path, MaxBootstrapTokenFileBytes)
	}
	tokens, err := ParseBootstrapTokens(data)
	if pe, ok := errors.AsType[*PolicyError](err); ok {
		pe.File = path
	}
	return tokens, err
}

// ParseBootstrapTokens decodes bootstrap token Secrets as
// [LoadBootstrapTokenFile] does.
func ParseBootstrapTokens(data []byte) ([]BootstrapToken, error) {
	var problems []PolicyProblem
	add := func(doc int, object, fieldPath, detail string) {
		problems = append(problems, PolicyProblem{Document: doc, Object: object, Field: fieldPath, Detail: detail})
	}
	docs, err := splitDocuments(data)
	if err != nil {
		add(len(docs)+1, "", "", err.Error())
	}
	var tokens []BootstrapToken
	seen := map[string]int{}
	for i, doc := range docs {
		n := i + 1
		jsonData, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			add(n, "", "", fmt.Sprintf("malformed YAML or JSON: %v", err))
			continue
		}
		var tm typeMeta
		if err := json.Unmarshal(jsonData, &tm); err != nil || tm.APIVersion != "v1" || tm.Kind != "Secret" {
			add(n, "", "", "not a v1 Secret; each document must be a bootstrap token Secret (apiVersion: v1, kind: Secret)")
			continue
		}
		var s corev1.Secret
		strictErrs, err := sigsjson.UnmarshalStrict(jsonData, &s)
		if err != nil {
			add(n, "", "", fmt.Sprintf("cannot decode: %v", err))
			continue
		}
		object := fmt.Sprintf("Secret %q", s.Name)
		for _, se := range strictErrs {
			fp := ""
			if fe, ok := se.(sigsjson.FieldError); ok {
				fp = fe.FieldPath()
			}
			add(n, object, fp, se.Error())
		}
		t, use, errs := bootstrapTokenFromSecret(&s)
		for _, e := range errs {
			add(n, object, e[0], e[1])
		}
		if len(errs) > 0 || !use {
			continue
		}
		if first, dup := seen[t.ID]; dup {
			add(n, object, "data.token-id", fmt.Sprintf("token %s defined again (first in document %d); keep one", t.ID, first))
			continue
		}
		seen[t.ID] = n
		tokens = append(tokens, t)
	}
	if len(problems) > 0 {
		return nil, &PolicyError{What: "bootstrap token file", File: "(input)", Problems: problems}
	}
	return tokens, nil
}

// bootstrapTokenFromSecret checks s and extracts its token. use is false
// for a valid Secret not meant for authentication. errs pairs field paths
// and details.
func bootstrapTokenFromSecret(s *corev1.Secret) (t BootstrapToken, use bool, errs [][2]string) {
	value := func(key string) (string, bool) {
		if v, ok := s.StringData[key]; ok {
			return v, true
		}
		v, ok := s.Data[key]
		return string(v), ok
	}
	fail := func(fieldPath, detail string) { errs = append(errs, [2]string{fieldPath, detail}) }
	if s.Type != BootstrapTokenSecretType {
		fail("type", fmt.Sprintf("must be %q", BootstrapTokenSecretType))
	}
	if s.Namespace != "" && s.Namespace != "kube-system" {
		fail("metadata.namespace", "bootstrap token Secrets live in kube-system")
	}
	id, _ := value(bootstrapKeyTokenID)
	secret, _ := value(bootstrapKeyTokenSecret)
	if !isTokenPart(id, 6) {
		fail("data."+bootstrapKeyTokenID, "must be 6 characters of [a-z0-9]")
	}
	if !isTokenPart(secret, 16) {
		fail("data."+bootstrapKeyTokenSecret, "must be 16 characters of [a-z0-9]")
	}
	if s.Name != BootstrapTokenSecretPrefix+id {
		fail("metadata.name", fmt.Sprintf("must be %s followed by the token ID", BootstrapTokenSecretPrefix))
	}
	t = BootstrapToken{ID: id, Secret: secret}
	if exp, ok := value(bootstrapKeyExpiration); ok {
		at, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			fail("data."+bootstrapKeyExpiration, "must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		t.Expiration = at
	}
	if g, ok := value(bootstrapKeyExtraGroups); ok && g != "" {
		for _, name := range strings.Split(g, ",") {
			name = strings.TrimSpace(name)
			if !strings.HasPrefix(name, GroupBootstrappers+":") || len(name) == len(GroupBootstrappers)+1 {
				fail("data."+bootstrapKeyExtraGroups, fmt.Sprintf("group %q must start with %q", name, GroupBootstrappers+":"))
				continue
			}
			t.ExtraGroups = append(t.ExtraGroups, name)
		}
	}
	usage, _ := value(bootstrapKeyUsageAuthn)
	return t, usage == "true", errs
}
