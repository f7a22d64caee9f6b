//go:build !unix

package cli

import "time"

// processCPU returns zero where getrusage does not exist: the bench's
// figures per CPU-second then read as unknown (very large).
func processCPU() time.Duration { return 0 }
