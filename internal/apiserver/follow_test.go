package apiserver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

// TestFollowWatchesAgain: when the server ends a watch stream, Follow
// opens it again from the last resourceVersion it saw and loses nothing.
// The server ends each watch after 300 ms (MaxWatchDuration), and the
// CSRs are created 700 ms apart.
func TestFollowWatchesAgain(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Configure: func(c *apiserver.Config) {
		c.MaxWatchDuration = 300 * time.Millisecond
	}})
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	first, err := client.Create(ctx, newCSR(t, "follow-1", "alice"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"follow-2", "follow-3"}
	created := make(chan struct{})
	go func() {
		defer close(created)
		for _, n := range names {
			time.Sleep(700 * time.Millisecond)
			if _, err := client.Create(ctx, newCSR(t, n, "alice"), metav1.CreateOptions{}); err != nil {
				t.Errorf("create %s: %v", n, err)
			}
		}
	}()
	var got []string
	rewatches, err := apiservertest.Follow(ctx, client, first.ResourceVersion, func(typ watch.EventType, csr *certv1.CertificateSigningRequest) bool {
		if typ != watch.Added {
			t.Errorf("%s event for %s, want only ADDED", typ, csr.Name)
		}
		got = append(got, csr.Name)
		return len(got) < len(names)
	})
	<-created // the events may come before the answers to the creates
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if !slices.Equal(got, names) {
		t.Errorf("Follow saw %v, want %v", got, names)
	}
	if rewatches < 2 {
		t.Errorf("Follow watched again %d times; the server ends each watch after 300 ms, so at least 2 were needed", rewatches)
	}
}

// TestFollowReportsGone: a start the store's history no longer reaches
// ends Follow with the 410 Gone Status, not with a silent retry.
func TestFollowReportsGone(t *testing.T) {
	t.Parallel()
	srv := apiservertest.Start(t, apiservertest.Options{Store: openBolt(t, bolt.Options{HistorySize: 2})})
	client := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var rvs []string
	var err error
	for _, n := range []string{"gone-1", "gone-2", "gone-3", "gone-4", "gone-5"} {
		c, err := client.Create(ctx, newCSR(t, n, "alice"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rvs = append(rvs, c.ResourceVersion)
	}
	called := 0
	_, err = apiservertest.Follow(ctx, client, rvs[0], func(watch.EventType, *certv1.CertificateSigningRequest) bool {
		called++
		return true
	})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("Follow from compacted resourceVersion %s: %v, want 410 Gone", rvs[0], err)
	}
	if called != 0 {
		t.Errorf("on called %d times before the 410", called)
	}
}
