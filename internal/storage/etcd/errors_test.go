package etcd

import (
	"context"
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubepki/kubepki/internal/storage"
)

func TestMapError(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want error
	}{
		{"compacted", context.Background(), rpctypes.ErrCompacted, storage.ErrCompacted},
		{"future revision", context.Background(), rpctypes.ErrFutureRev, errFutureRevision},
		{"request too large", context.Background(), rpctypes.ErrRequestTooLarge, storage.ErrTooLarge},
		{"no space", context.Background(), rpctypes.ErrNoSpace, storage.ErrNoSpace},
		{"no leader", context.Background(), rpctypes.ErrNoLeader, storage.ErrUnavailable},
		{"leader changed", context.Background(), rpctypes.ErrLeaderChanged, storage.ErrUnavailable},
		{"timeout", context.Background(), rpctypes.ErrTimeout, storage.ErrUnavailable},
		{"timeout, leader fail", context.Background(), rpctypes.ErrTimeoutDueToLeaderFail, storage.ErrUnavailable},
		{"too many requests", context.Background(), rpctypes.ErrTooManyRequests, storage.ErrUnavailable},
		{"stopped", context.Background(), rpctypes.ErrStopped, storage.ErrUnavailable},
		{"grpc unavailable", context.Background(), status.Error(codes.Unavailable, "connection refused"), storage.ErrUnavailable},
		{"grpc deadline", context.Background(), status.Error(codes.DeadlineExceeded, "slow"), storage.ErrUnavailable},
		{"own timeout", context.Background(), context.DeadlineExceeded, storage.ErrUnavailable},
		{"caller canceled", canceled, status.Error(codes.Canceled, "context canceled"), context.Canceled},
		{"canceled", context.Background(), context.Canceled, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := mapError(tc.ctx, tc.err)
			if !errors.Is(got, tc.want) {
				t.Errorf("mapError(%v) = %v, want it to wrap %v", tc.err, got, tc.want)
			}
		})
	}
	// Errors that a retry cannot cure are not called unavailable.
	for _, err := range []error{rpctypes.ErrKeyNotFound, rpctypes.ErrNoSpace, status.Error(codes.PermissionDenied, "no"), errors.New("other")} {
		if got := mapError(context.Background(), err); errors.Is(got, storage.ErrUnavailable) {
			t.Errorf("mapError(%v) = %v, want no ErrUnavailable", err, got)
		}
	}
	if mapError(context.Background(), nil) != nil {
		t.Errorf("mapError(nil) != nil")
	}
}
