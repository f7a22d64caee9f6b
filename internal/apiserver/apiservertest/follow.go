package apiservertest

import (
	"context"
	"fmt"

	certv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
)

// MaxRewatches bounds how often Follow opens its watch again.
const MaxRewatches = 100

// Follow watches CSRs from resourceVersion rv ("" or "0": the current
// CSRs first, as ADDED) and calls on for every ADDED, MODIFIED and DELETED
// event until on returns false or ctx ends. When the server ends the stream cleanly (a bbolt-backed server ends
// a watcher that falls behind, as kube-apiserver ends a slow one) it
// watches again from the last resourceVersion it saw, as a client must,
// at most MaxRewatches times. It returns how often it watched again, and
// ctx's error, an Error event's Status, or the error of a watch that could
// not be opened.
func Follow(ctx context.Context, client certv1client.CertificateSigningRequestInterface, rv string, on func(watch.EventType, *certv1.CertificateSigningRequest) bool) (rewatches int, err error) {
	for ; ; rewatches++ {
		if rewatches > MaxRewatches {
			return rewatches, fmt.Errorf("the watch ended %d times, the last time at resourceVersion %s", rewatches, rv)
		}
		w, err := client.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			return rewatches, fmt.Errorf("watch from resourceVersion %s: %w", rv, err)
		}
		done, err := follow(ctx, w, &rv, on)
		w.Stop()
		if done || err != nil {
			return rewatches, err
		}
	}
}

// follow reads w until on is done (true), the stream ends (false) or an
// error, keeping *rv at the last resourceVersion seen.
func follow(ctx context.Context, w watch.Interface, rv *string, on func(watch.EventType, *certv1.CertificateSigningRequest) bool) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			if ev.Type == watch.Error {
				return false, fmt.Errorf("watch from resourceVersion %s: %w", *rv, apierrors.FromObject(ev.Object))
			}
			csr, isCSR := ev.Object.(*certv1.CertificateSigningRequest)
			if !isCSR {
				return false, fmt.Errorf("watch event %s carries a %T", ev.Type, ev.Object)
			}
			*rv = csr.ResourceVersion
			if ev.Type != watch.Bookmark && !on(ev.Type, csr) {
				return true, nil
			}
		}
	}
}
