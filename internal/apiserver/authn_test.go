package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// requestWithChain returns a request whose TLS state carries chain as the
// client's certificates.
func requestWithChain(chain ...*x509.Certificate) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/api", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: chain}
	return r
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestX509Authenticator(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "kubernetes")
	foreign := pkitest.NewCA(t, "kubernetes")
	now := time.Now()

	interCert, interKey := pkitest.Leaf(t, ca, pki.CertOptions{Subject: pkix.Name{CommonName: "intermediate"}, IsCA: true})
	inter, err := pki.NewCA(interCert, interKey)
	if err != nil {
		t.Fatalf("NewCA(intermediate): %v", err)
	}

	client := func(signer *pki.CA, subject pkix.Name, eku ...x509.ExtKeyUsage) *x509.Certificate {
		c, _ := pkitest.Leaf(t, signer, pki.CertOptions{Subject: subject, ExtKeyUsage: eku})
		return c
	}
	clientAuth := x509.ExtKeyUsageClientAuth
	alice := client(ca, pkix.Name{CommonName: "alice", Organization: []string{"dev", "ops"}, OrganizationalUnit: []string{"not-a-group"}}, clientAuth)
	short, _ := pkitest.Leaf(t, ca, pki.CertOptions{
		Subject:     pkix.Name{CommonName: "short"},
		ExtKeyUsage: []x509.ExtKeyUsage{clientAuth},
		NotBefore:   now.Add(time.Hour),
		NotAfter:    now.Add(2 * time.Hour),
	})

	tests := []struct {
		name       string
		chain      []*x509.Certificate
		roots      *x509.CertPool
		at         time.Time
		want       *UserInfo
		wantOK     bool
		wantReason x509.InvalidReason // for x509.CertificateInvalidError
		wantErr    error              // for errors.Is
		wantAs     func(error) bool   // for typed errors
	}{{
		name:   "CN user and O groups",
		chain:  []*x509.Certificate{alice},
		want:   &UserInfo{Name: "alice", Groups: []string{"dev", "ops", GroupAuthenticated}},
		wantOK: true,
	}, {
		name:   "system:authenticated not repeated",
		chain:  []*x509.Certificate{client(ca, pkix.Name{CommonName: "bob", Organization: []string{"x", GroupAuthenticated}}, clientAuth)},
		want:   &UserInfo{Name: "bob", Groups: []string{"x", GroupAuthenticated}},
		wantOK: true,
	}, {
		name:   "no groups",
		chain:  []*x509.Certificate{client(ca, pkix.Name{CommonName: "carol"}, clientAuth)},
		want:   &UserInfo{Name: "carol", Groups: []string{GroupAuthenticated}},
		wantOK: true,
	}, {
		name:   "CN verbatim and case-sensitive",
		chain:  []*x509.Certificate{client(ca, pkix.Name{CommonName: "System:Node:Worker-1 "}, clientAuth)},
		want:   &UserInfo{Name: "System:Node:Worker-1 ", Groups: []string{GroupAuthenticated}},
		wantOK: true,
	}, {
		name:   "no EKU extension is accepted",
		chain:  []*x509.Certificate{client(ca, pkix.Name{CommonName: "noeku"})},
		want:   &UserInfo{Name: "noeku", Groups: []string{GroupAuthenticated}},
		wantOK: true,
	}, {
		name:   "UID attribute",
		chain:  []*x509.Certificate{client(ca, pkix.Name{CommonName: "dave", ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidUID, Value: "uid-42"}}}, clientAuth)},
		want:   &UserInfo{Name: "dave", UID: "uid-42", Groups: []string{GroupAuthenticated}},
		wantOK: true,
	}, {
		name:   "intermediate sent by the client",
		chain:  []*x509.Certificate{client(inter, pkix.Name{CommonName: "erin", Organization: []string{"g"}}, clientAuth), interCert},
		want:   &UserInfo{Name: "erin", Groups: []string{"g", GroupAuthenticated}},
		wantOK: true,
	}, {
		name:   "intermediate missing",
		chain:  []*x509.Certificate{client(inter, pkix.Name{CommonName: "erin"}, clientAuth)},
		wantAs: func(err error) bool { _, ok := errors.AsType[x509.UnknownAuthorityError](err); return ok },
	}, {
		name:   "foreign CA",
		chain:  []*x509.Certificate{client(foreign, pkix.Name{CommonName: "mallory", Organization: []string{GroupMasters}}, clientAuth)},
		wantAs: func(err error) bool { _, ok := errors.AsType[x509.UnknownAuthorityError](err); return ok },
	}, {
		name:   "nil roots never fall back to system roots",
		chain:  []*x509.Certificate{alice},
		roots:  nil,
		wantAs: func(err error) bool { _, ok := errors.AsType[x509.UnknownAuthorityError](err); return ok },
	}, {
		name:       "serverAuth only",
		chain:      []*x509.Certificate{client(ca, pkix.Name{CommonName: "server"}, x509.ExtKeyUsageServerAuth)},
		wantReason: x509.IncompatibleUsage,
	}, {
		name:       "expired",
		chain:      []*x509.Certificate{short},
		at:         now.Add(3 * time.Hour),
		wantReason: x509.Expired,
	}, {
		name:       "not yet valid",
		chain:      []*x509.Certificate{short},
		at:         now,
		wantReason: x509.Expired, // crypto/x509 uses Expired for both ends
	}, {
		name:   "valid inside its window",
		chain:  []*x509.Certificate{short},
		at:     now.Add(90 * time.Minute),
		want:   &UserInfo{Name: "short", Groups: []string{GroupAuthenticated}},
		wantOK: true,
	}, {
		name:    "empty CN",
		chain:   []*x509.Certificate{client(ca, pkix.Name{Organization: []string{GroupMasters}}, clientAuth)},
		wantErr: errEmptyCommonName,
	}, {
		name:   "empty UID attribute",
		chain:  []*x509.Certificate{client(ca, pkix.Name{CommonName: "u", ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidUID, Value: ""}}}, clientAuth)},
		wantAs: func(err error) bool { return err != nil },
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			roots := poolOf(ca.Cert)
			if tc.name == "nil roots never fall back to system roots" {
				roots = nil
			}
			at := tc.at
			if at.IsZero() {
				at = now
			}
			a := NewX509Authenticator(roots, func() time.Time { return at })
			got, ok, err := a.AuthenticateRequest(requestWithChain(tc.chain...))
			switch {
			case tc.wantOK:
				if err != nil || !ok {
					t.Fatalf("AuthenticateRequest = %v, %v, %v; want user", got, ok, err)
				}
				if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(UserInfo{}, "Extra")); diff != "" {
					t.Errorf("user (-want +got):\n%s", diff)
				}
				if id := got.Extra[ExtraCredentialID]; len(id) != 1 || !strings.HasPrefix(id[0], "X509SHA256=") || len(id[0]) != len("X509SHA256=")+64 {
					t.Errorf("extra %s = %q, want one X509SHA256=<64 hex>", ExtraCredentialID, id)
				}
				return
			case err == nil:
				t.Fatalf("AuthenticateRequest = %v, %v, nil; want an error", got, ok)
			}
			if ok || got != nil {
				t.Errorf("AuthenticateRequest = %v, %v with error; want nil, false", got, ok)
			}
			if tc.wantReason != 0 {
				ci, isInvalid := errors.AsType[x509.CertificateInvalidError](err)
				if !isInvalid || ci.Reason != tc.wantReason {
					t.Errorf("error = %v, want x509.CertificateInvalidError reason %d", err, tc.wantReason)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantAs != nil && !tc.wantAs(err) {
				t.Errorf("error = %v of unexpected type", err)
			}
		})
	}
}

func TestX509AuthenticatorNoCredentials(t *testing.T) {
	t.Parallel()
	a := NewX509Authenticator(x509.NewCertPool(), nil)
	plain := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api", nil)
	for name, r := range map[string]*http.Request{"no TLS": plain, "no client certificate": requestWithChain()} {
		u, ok, err := a.AuthenticateRequest(r)
		if u != nil || ok || err != nil {
			t.Errorf("%s: AuthenticateRequest = %v, %v, %v; want nil, false, nil", name, u, ok, err)
		}
	}
}

// TestX509AuthenticatorOverTLS drives the authenticator through a real TLS
// handshake on loopback, with the client sending leaf and intermediate.
func TestX509AuthenticatorOverTLS(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t)
	interCert, interKey := pkitest.Leaf(t, ca, pki.CertOptions{Subject: pkix.Name{CommonName: "intermediate"}, IsCA: true})
	inter, err := pki.NewCA(interCert, interKey)
	if err != nil {
		t.Fatal(err)
	}
	a := NewX509Authenticator(poolOf(ca.Cert), nil)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := a.AuthenticateRequest(r)
		switch {
		case err != nil:
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case !ok:
			w.WriteHeader(http.StatusNoContent)
		default:
			_ = json.NewEncoder(w).Encode(u)
		}
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	get := func(t *testing.T, certs ...tls.Certificate) (*http.Response, *UserInfo) {
		t.Helper()
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = certs
		c := &http.Client{Transport: tr}
		t.Cleanup(c.CloseIdleConnections)
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer resp.Body.Close()
		var u UserInfo
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
				t.Fatal(err)
			}
		}
		return resp, &u
	}

	leaf, key := pkitest.ClientCert(t, inter, "jane", "dev")
	resp, u := get(t, tls.Certificate{Certificate: [][]byte{leaf.Raw, interCert.Raw}, PrivateKey: key})
	if resp.StatusCode != http.StatusOK || u.Name != "jane" || !cmp.Equal(u.Groups, []string{"dev", GroupAuthenticated}) {
		t.Errorf("with chain: status %d user %+v, want 200 jane [dev system:authenticated]", resp.StatusCode, u)
	}
	resp, _ = get(t, tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without intermediate: status %d, want 401", resp.StatusCode)
	}
	foreignLeaf, foreignKey := pkitest.ClientCert(t, pkitest.NewCA(t), "jane")
	resp, _ = get(t, tls.Certificate{Certificate: [][]byte{foreignLeaf.Raw}, PrivateKey: foreignKey})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("foreign CA: status %d, want 401", resp.StatusCode)
	}
	resp, _ = get(t)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("no certificate: status %d, want 204 (no credentials)", resp.StatusCode)
	}
}

// staticAuthenticator answers every request the same way.
type staticAuthenticator struct {
	user *UserInfo
	ok   bool
	err  error
}

func (s staticAuthenticator) AuthenticateRequest(*http.Request) (*UserInfo, bool, error) {
	return s.user, s.ok, s.err
}

func TestUnionAuthenticator(t *testing.T) {
	t.Parallel()
	errA, errB := errors.New("a rejected"), errors.New("b rejected")
	alice := &UserInfo{Name: "alice"}
	none := staticAuthenticator{}
	tests := []struct {
		name    string
		auths   []Authenticator
		want    *UserInfo
		wantErr []error
	}{
		{name: "empty", auths: nil},
		{name: "none sees credentials", auths: []Authenticator{none, none}},
		{name: "first success wins", auths: []Authenticator{none, staticAuthenticator{user: alice, ok: true}, staticAuthenticator{err: errA}}, want: alice},
		{name: "success after an error", auths: []Authenticator{staticAuthenticator{err: errA}, staticAuthenticator{user: alice, ok: true}}, want: alice},
		{name: "errors joined", auths: []Authenticator{staticAuthenticator{err: errA}, none, staticAuthenticator{err: errB}}, wantErr: []error{errA, errB}},
		{name: "nil entries skipped", auths: []Authenticator{nil, staticAuthenticator{user: alice, ok: true}}, want: alice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := NewUnionAuthenticator(tc.auths...).AuthenticateRequest(requestWithChain())
			if got != tc.want || ok != (tc.want != nil) {
				t.Errorf("AuthenticateRequest = %v, %v; want %v", got, ok, tc.want)
			}
			if len(tc.wantErr) == 0 && err != nil {
				t.Errorf("error = %v, want nil", err)
			}
			for _, w := range tc.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("error = %v, want it to wrap %v", err, w)
				}
			}
		})
	}
}

// TestX509AuthenticatorCache checks that remembering verified chains never
// lets a certificate through outside its validity, nor a chain that was
// not itself verified, and that callers cannot change the cached identity.
func TestX509AuthenticatorCache(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t)
	interCert, interKey := pkitest.Leaf(t, ca, pki.CertOptions{Subject: pkix.Name{CommonName: "intermediate"}, IsCA: true})
	inter, err := pki.NewCA(interCert, interKey)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	leaf, _ := pkitest.Leaf(t, inter, pki.CertOptions{
		Subject:     pkix.Name{CommonName: "kim", Organization: []string{"dev"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore:   start.Add(time.Hour),
		NotAfter:    start.Add(2 * time.Hour),
	})
	var now time.Time
	a := NewX509Authenticator(poolOf(ca.Cert), func() time.Time { return now })
	steps := []struct {
		name   string
		at     time.Duration
		chain  []*x509.Certificate
		wantOK bool
	}{
		{"valid", 90 * time.Minute, []*x509.Certificate{leaf, interCert}, true},
		{"valid again from the cache", 91 * time.Minute, []*x509.Certificate{leaf, interCert}, true},
		{"expired although cached", 3 * time.Hour, []*x509.Certificate{leaf, interCert}, false},
		{"not yet valid although cached", 30 * time.Minute, []*x509.Certificate{leaf, interCert}, false},
		{"leaf without its intermediate", 90 * time.Minute, []*x509.Certificate{leaf}, false},
		{"valid once more", 100 * time.Minute, []*x509.Certificate{leaf, interCert}, true},
	}
	for _, s := range steps {
		now = start.Add(s.at)
		u, ok, err := a.AuthenticateRequest(requestWithChain(s.chain...))
		if ok != s.wantOK || (err == nil) != s.wantOK {
			t.Fatalf("%s: AuthenticateRequest = %v, %v, %v; want ok %v", s.name, u, ok, err, s.wantOK)
		}
		if !ok {
			continue
		}
		if u.Name != "kim" || !cmp.Equal(u.Groups, []string{"dev", GroupAuthenticated}) || len(u.Extra[ExtraCredentialID]) != 1 {
			t.Fatalf("%s: user = %+v", s.name, u)
		}
		// A caller changing its copy must not change later answers.
		u.Groups[0] = GroupMasters
		u.Extra[ExtraCredentialID][0] = "changed"
	}
}

func BenchmarkX509Authenticator(b *testing.B) {
	ca := pkitest.NewCA(b)
	leaf, _ := pkitest.ClientCert(b, ca, "jane", "dev")
	r := requestWithChain(leaf)
	b.Run("cached", func(b *testing.B) {
		a := NewX509Authenticator(poolOf(ca.Cert), nil)
		for b.Loop() {
			if _, ok, err := a.AuthenticateRequest(r); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			a := NewX509Authenticator(poolOf(ca.Cert), nil)
			if _, ok, err := a.AuthenticateRequest(r); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
}
