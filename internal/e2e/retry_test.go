package e2e

import (
	"errors"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// retryable reports whether err is one a client may retry: the server
// said it is unavailable, timed out, is overloaded, or the connection
// failed. Anything else (a 4xx verdict, an internal error) is not.
func retryable(err error) bool {
	switch {
	case apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsTooManyRequests(err):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
