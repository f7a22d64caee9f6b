package apiserver

import (
	"fmt"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// TestListPendingPages: the index's list reads a store of many pages,
// while the store is written between them, and counts exactly the
// pending CSRs of requesters outside system:masters.
func TestListPendingPages(t *testing.T) {
	t.Parallel()
	s, store := newStoreServer(t, pkitest.NewCA(t), time.Minute)
	ctx := t.Context()
	// The index reads names, requesters and conditions only; the
	// request bytes are never parsed on this path.
	object := func(name string) *certv1.CertificateSigningRequest {
		return &certv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certv1.CertificateSigningRequestSpec{Request: []byte("request of " + name),
				SignerName: certv1.KubeAPIServerClientSignerName, Usages: []certv1.KeyUsage{certv1.UsageClientAuth}},
		}
	}
	put := func(name, user string, groups []string, approved bool) {
		t.Helper()
		csr := object(name)
		csr.Spec.Username, csr.Spec.Groups = user, groups
		if approved {
			csr.Status.Conditions = []certv1.CertificateSigningRequestCondition{{Type: certv1.CertificateApproved, Status: corev1.ConditionTrue}}
		}
		value, err := encodeStored(csr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Create(ctx, csrKey(name), value); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{}
	for i := range 3*pendingIndexPage + 17 {
		user := fmt.Sprintf("user-%d", i%7)
		switch {
		case i%5 == 0:
			put(fmt.Sprintf("c-%05d", i), user, nil, true) // approved: not counted
		case i%11 == 0:
			put(fmt.Sprintf("c-%05d", i), "root", []string{GroupMasters}, false) // system:masters: not counted
		default:
			put(fmt.Sprintf("c-%05d", i), user, nil, false)
			want[user]++
		}
	}
	// Writes while the list runs: the list reads each page at the
	// current revision, so these must not break it.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			csr := object(fmt.Sprintf("z-%05d", i))
			value, err := encodeStored(csr)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := store.Create(ctx, csrKey(csr.Name), value); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	first, err := s.listPending(ctx)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if first <= 0 {
		t.Errorf("listPending returned revision %d", first)
	}
	for user, n := range want {
		if got, synced := s.pending.pendingOf(user); got != n || !synced {
			t.Errorf("%s: %d pending (synced %v), want %d", user, got, synced, n)
		}
	}
	if got, _ := s.pending.pendingOf("root"); got != 0 {
		t.Errorf("system:masters counted: %d", got)
	}
}
