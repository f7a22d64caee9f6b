package kubeconfig

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// newVersionRequest returns GET <server>/version.
func newVersionRequest(ctx context.Context, server string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+"/version", nil)
	if err != nil {
		return nil, fmt.Errorf("build /version request for %s: %w", server, err)
	}
	return req, nil
}
