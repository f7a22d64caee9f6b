package bolt

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Environment of the child process of TestCrashRecovery.
const (
	envCrashPath  = "KUBEPKI_BOLT_CRASH_PATH"
	envCrashRound = "KUBEPKI_BOLT_CRASH_ROUND"
)

// TestCrashChild is the child process of TestCrashRecovery: it writes to
// the store from several goroutines and prints one "ACK key revision"
// line per acknowledged write, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(envCrashPath)
	if path == "" {
		t.Skip("helper process of TestCrashRecovery; runs only when started by it")
	}
	round := os.Getenv(envCrashRound)
	s, err := Open(path, Options{HistorySize: 500})
	if err != nil {
		fmt.Printf("OPEN-ERROR %v\n", err)
		os.Exit(3)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	ack := func(key string, rev int64) {
		mu.Lock()
		defer mu.Unlock()
		// os.Stdout is unbuffered: the line is out once Printf returns.
		fmt.Printf("ACK %s %d END\n", key, rev)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; i < 100000 && ctx.Err() == nil; i++ {
				key := fmt.Sprintf("/crash/%s/%d/%d", round, w, i)
				value := []byte(strings.Repeat("v", 100+i%900))
				rev, err := s.Create(ctx, key, value)
				if err != nil {
					fmt.Printf("WRITE-ERROR %v\n", err)
					return
				}
				ack(key, rev)
				if i%3 == 0 {
					if rev, err = s.Update(ctx, key, rev, []byte("updated")); err != nil {
						fmt.Printf("WRITE-ERROR %v\n", err)
						return
					}
					ack(key, rev)
				}
			}
		})
	}
	wg.Wait()
}

// TestCrashRecovery runs a writer in a child process, kills it with
// SIGKILL after a growing, randomly shifted number of acknowledged writes, and checks after
// each kill that the file passes bbolt's consistency check, that every
// acknowledged write is there, and that revisions never go backwards.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kubepki.db")
	cli := buildBboltCLI(t)
	// Ten kill points from the first write to a few thousand, each moved
	// by a random amount so that runs cover different moments of a commit.
	killAfter := []int{1, 3, 7, 40, 150, 400, 900, 1500, 2500, 4000}
	var lastRev int64
	for round, n := range killAfter {
		n += rand.IntN(n/2 + 1)
		acks, count := runAndKill(t, path, round, n)
		if count < n {
			t.Fatalf("round %d: child acknowledged %d writes, want at least %d", round, count, n)
		}
		checkFile(t, path)
		if cli != "" {
			out, err := exec.CommandContext(t.Context(), cli, "check", path).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "OK") {
				t.Fatalf("round %d: bbolt check %s = %q, %v", round, path, out, err)
			}
		}
		s, err := Open(path, Options{HistorySize: 500})
		if err != nil {
			t.Fatalf("round %d: Open() after SIGKILL error = %v", round, err)
		}
		cur, err := s.CurrentRevision(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cur < lastRev {
			t.Fatalf("round %d: revision went back from %d to %d", round, lastRev, cur)
		}
		for key, rev := range acks {
			kv, err := s.Get(t.Context(), key)
			if err != nil {
				t.Fatalf("round %d: acknowledged write of %s at %d lost: %v", round, key, rev, err)
			}
			if kv.Revision < rev {
				t.Fatalf("round %d: %s at revision %d, acknowledged at %d", round, key, kv.Revision, rev)
			}
			if rev > cur {
				t.Fatalf("round %d: %s acknowledged at %d beyond the store revision %d", round, key, rev, cur)
			}
		}
		// The log and the data agree: watching from the oldest kept
		// revision replays up to the current one.
		if rev, err := s.Create(t.Context(), fmt.Sprintf("/after/%d", round), []byte("x")); err != nil || rev != cur+1 {
			t.Fatalf("round %d: Create() after reopen = %d, %v, want %d", round, rev, err, cur+1)
		}
		lastRev = cur + 1
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d acknowledged writes, store at revision %d", round, count, cur)
	}
}

// runAndKill starts the child, kills it after n acknowledgements and
// returns every acknowledged key with its latest acknowledged revision,
// and the number of acknowledged writes.
func runAndKill(t *testing.T, path string, round, n int) (map[string]int64, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashPath+"="+path, envCrashRound+"="+strconv.Itoa(round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	acks := make(map[string]int64)
	count := 0
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && strings.HasSuffix(f[0], "ERROR") {
			t.Errorf("round %d: child: %s", round, sc.Text())
			continue
		}
		// A line cut by the kill has no END and was not acknowledged.
		if len(f) != 4 || f[0] != "ACK" || f[3] != "END" {
			continue
		}
		rev, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("round %d: bad child line %q", round, sc.Text())
		}
		acks[f[1]] = max(acks[f[1]], rev)
		count++
		if count >= n && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill child: %v", err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: child ended after %d acknowledgements before being killed: %v", round, count, err)
	}
	return acks, count
}

// buildBboltCLI builds bbolt's own command from the module cache, so that
// the test runs the real "bbolt check" too. Without a Go toolchain it
// returns "" and the in-process check (the same code) stands alone.
func buildBboltCLI(t *testing.T) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		t.Logf("NOTE: no go tool at %s; checking the file in-process only", goTool)
		return ""
	}
	bin := filepath.Join(t.TempDir(), "bbolt")
	out, err := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "go.etcd.io/bbolt/cmd/bbolt").CombinedOutput()
	if err != nil {
		t.Fatalf("build the bbolt command: %v\n%s", err, out)
	}
	return bin
}

// checkFile runs bbolt's consistency check (what "bbolt check" runs) on
// the file.
func checkFile(t *testing.T, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open %s for checking: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("bbolt check: %s", strings.Join(problems, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s after SIGKILL: %v", path, err)
	}
}
