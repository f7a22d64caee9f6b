package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// runBench runs kubepki bench in-process and returns stdout, stderr and
// the exit code.
func runBench(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	c.SetArgs(append([]string{"bench"}, args...))
	err := c.ExecuteContext(t.Context())
	return out.String(), errOut.String(), ExitCode(err)
}

// TestBenchSmall runs every part of the benchmark at a tiny scale against
// the real in-process server and checks that each reports what it
// measured. Speeds are not asserted.
func TestBenchSmall(t *testing.T) {
	t.Parallel()
	out, errOut, code := runBench(t, "--concurrency", "1,3", "--duration", "500ms",
		"--watchers", "60", "--watch-events", "3", "--stored", "40", "-o", "json")
	if code != 0 {
		t.Fatalf("bench: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if errOut != "" {
		t.Errorf("bench wrote to stderr when not on a terminal: %q", errOut)
	}
	var res BenchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode bench JSON: %v\n%s", err, out)
	}
	if res.Machine.CPUs < 1 || res.Machine.GoVersion == "" {
		t.Errorf("machine = %+v, want CPUs and Go version", res.Machine)
	}
	if s := res.Signing; s == nil || s.ECDSASignaturesPerSecond <= 0 || s.CertificatesPerSecond <= 0 || s.SingleCoreCertificatesPerS <= 0 {
		t.Errorf("signing = %+v, want positive rates", res.Signing)
	}
	if len(res.Cycles) != 2 || res.Cycles[0].Concurrency != 1 || res.Cycles[1].Concurrency != 3 {
		t.Fatalf("cycles = %+v, want levels 1 and 3", res.Cycles)
	}
	// The bare signer ran at the top level, and the cycles at that level
	// were compared with it.
	if p := res.Peer; p == nil || p.Concurrency != 3 || p.Transport != transportH2 || p.Requests < 1 || p.Errors != 0 ||
		p.RequestsPerSecond <= 0 || p.RequestsPerCPUSecond <= 0 || p.P99Millis < p.P50Millis ||
		math.Abs(p.APIRequestShare-res.Cycles[1].RequestsPerSecond/p.RequestsPerSecond) > 1e-9 ||
		math.Abs(p.APIRequestCPUShare-3*res.Cycles[1].CyclesPerCPUSecond/p.RequestsPerCPUSecond) > 1e-9 {
		t.Errorf("peer = %+v, want the bare signer at concurrency 3 without errors, compared with the cycles at 3", res.Peer)
	}
	for _, c := range res.Cycles {
		if c.Transport != transportH2 {
			t.Errorf("cycles at %d: transport %q, want the default %q", c.Concurrency, c.Transport, transportH2)
		}
		if c.Cycles < 1 || c.Errors != 0 || c.CyclesPerSecond <= 0 || c.P99Millis < c.P50Millis || c.P50Millis <= 0 {
			t.Errorf("cycles at %d = %+v, want completed cycles without errors", c.Concurrency, c)
		}
		for _, step := range []string{"create", "approve", "issued", "get"} {
			if p, ok := c.Steps[step]; !ok || p.P50Millis <= 0 {
				t.Errorf("cycles at %d: step %s = %+v, want a latency", c.Concurrency, step, p)
			}
		}
	}
	if w := res.Watch; w == nil || w.Watchers != 60 || w.Events != 3 || w.Delivered != 180 || w.EventsPerSecond <= 0 {
		t.Errorf("watch = %+v, want 60 watchers x 3 events all delivered", res.Watch)
	}
	if m := res.Memory; m == nil || m.CSRs < 40 || m.HeapInuseMB <= 0 || m.StoreFileMB <= 0 {
		t.Errorf("memory = %+v, want at least 40 CSRs and sizes", res.Memory)
	}
	if m := res.Memory; runtime.GOOS == "linux" && m != nil && (m.RSSStoreMB <= 0 || m.RSSExecutableMB <= 0 || m.RSSStoreMB+m.RSSExecutableMB > m.RSSFileMB+1) {
		t.Errorf("memory = %+v, want the file-backed RSS split into the store map and the executable, within RSSFileMB", res.Memory)
	}
	if m := res.Memory; m != nil {
		// After a restart the controllers' initial list read the whole
		// store, and the server gave those pages back (afterInitialList).
		if r := m.Restarted; r == nil || r.HeapInuseMB <= 0 || r.RSSMB <= 0 || r.StoreFileMB < m.StoreFileMB ||
			(runtime.GOOS == "linux" && r.RSSStoreMB > r.StoreFileMB/2) {
			t.Errorf("memory after the restart = %+v, want a reading of the same store with its read pages given back", m.Restarted)
		}
		if r := m.Serve; r == nil || r.RSSMB <= 0 || r.PeakRSSMB < r.RSSMB || r.StoreFileMB < m.StoreFileMB ||
			(runtime.GOOS == "linux" && (r.RSSStoreMB > r.StoreFileMB/2 || r.RSSExecutableMB <= 0 || r.RSSAnonMB <= 0)) {
			t.Errorf("memory of the separate serve process = %+v, want a reading of the same store with its read pages given back", m.Serve)
		}
		// The load against it completed cycles, wrote to the store and
		// touched its pages again.
		if r := m.Serve; r != nil {
			if l := r.AfterLoad; l == nil || r.LoadCycles < 1 || l.RSSMB <= 0 || l.StoreFileMB < r.StoreFileMB ||
				l.PeakRSSMB < r.PeakRSSMB || l.PeakRSSMB < l.RSSMB ||
				(runtime.GOOS == "linux" && l.RSSStoreMB <= 0) {
				t.Errorf("memory of the separate serve process after load = %+v (%d cycles), want a reading after completed cycles, its peak the process's", l, r.LoadCycles)
			}
			if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, "has a process of its own") }) {
				t.Errorf("notes = %q, want one on the separate serve process", res.Notes)
			}
			// The CPU time of that load is split between the server
			// process and the clients in this one.
			if l := r.Load; runtime.GOOS == "linux" && (l == nil || l.Cycles == nil || l.Cycles.Cycles != r.LoadCycles ||
				l.ServerCPUSeconds <= 0 || l.ClientCPUSeconds <= 0 ||
				math.Abs(l.ServerCPUMillisPerCycle*float64(r.LoadCycles)-l.ServerCPUSeconds*1000) > 1e-6 ||
				math.Abs(l.ClientCPUMillisPerCycle*float64(r.LoadCycles)-l.ClientCPUSeconds*1000) > 1e-6 ||
				math.Abs(l.ServerCyclesPerCPUSecond*l.ServerCPUSeconds-float64(r.LoadCycles)) > 1e-6) {
				t.Errorf("load of the separate serve process = %+v, want its %d cycles with the server's and the clients' CPU time", l, r.LoadCycles)
			}
		}
	}
}

func TestBenchTableAndSkip(t *testing.T) {
	t.Parallel()
	out, errOut, code := runBench(t, "--skip", "cycles,watch,memory", "--concurrency", "2", "--duration", "300ms", "--transport", "http1-per-client")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"machine:", "raw signing (ECDSA P-256 CA):", "certificates/s",
		"bare HTTPS signer (no authentication or storage; http1-per-client, concurrency 2):", "0 errors"} {
		if !strings.Contains(out, want) {
			t.Errorf("table output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "CONCURRENCY") || strings.Contains(out, "watch fan-out") || strings.Contains(out, "of the bare signer's") {
		t.Errorf("skipped parts were printed:\n%s", out)
	}
	out, errOut, code = runBench(t, "--skip", "signing,peer,cycles,watch,memory")
	if code != 0 || strings.Contains(out, "raw signing") || strings.Contains(out, "bare HTTPS signer") {
		t.Errorf("bench with every part skipped: exit %d, stderr %q, output:\n%s", code, errOut, out)
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--concurrency", "0"},
		{"--duration", "0s"},
		{"--watchers", "-1"},
		{"--skip", "everything"},
		{"--transport", "h3"},
		{"-o", "xml"},
		{"extra-arg"},
	} {
		out, errOut, code := runBench(t, args...)
		if code != 2 || out != "" {
			t.Errorf("bench %v: exit %d, stdout %q, stderr %q; want exit 2 and no output", args, code, out, errOut)
		}
	}
}

func TestParseProcStatCPU(t *testing.T) {
	t.Parallel()
	tick := time.Second / clockTicksPerSecond
	for _, tc := range []struct {
		name string
		line string
		want time.Duration
		ok   bool
	}{
		{"plain", "4242 (kubepki) S 1 4242 4242 0 -1 4194560 2301 0 0 0 731 152 0 0 20 0 9 0 123 456 789 18446744073709551615", 883 * tick, true},
		// The command name is the executable's, up to 15 bytes, and may
		// hold spaces and parentheses of its own.
		{"command with spaces and parentheses", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 2 3", 11 * tick, true},
		{"zero", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0", 0, true},
		{"truncated", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 5", 0, false},
		{"no command", "1 init S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0", 0, false},
		{"not a number", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 x 6 0 0", 0, false},
		{"negative", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 -5 6 0 0", 0, false},
		{"overflow", "1 (init) S 0 1 1 0 -1 0 0 0 0 0 9223372036854775807 1 0 0", 0, false},
		{"empty", "", 0, false},
	} {
		got, ok := parseProcStatCPU([]byte(tc.line))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: parseProcStatCPU(%q) = %v, %v; want %v, %v", tc.name, tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// TestProcCPUOfThisProcess compares procCPU on this process with the
// kernel's other count of the same time, getrusage: the stat file's
// figures are in 10 ms ticks, summed over all threads.
func TestProcCPUOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs on Linux, where /proc/self/stat exists")
		}
		t.Skip("/proc/PID/stat is Linux's")
	}
	// Spin for some CPU time first, so that the comparison is not
	// between two near-zero values.
	for start := processCPU(); processCPU()-start < 200*time.Millisecond; {
		for i := 0; i < 1e5; i++ {
			_ = i * i
		}
	}
	before := processCPU()
	got, ok := procCPU("/proc/self")
	after := processCPU()
	if !ok {
		t.Fatal("procCPU(/proc/self) failed")
	}
	// Each of utime and stime is rounded to a tick, and the kernel
	// accounts them by sampling, so allow a few ticks.
	slack := 5 * time.Second / clockTicksPerSecond
	if got < before-slack || got > after+slack {
		t.Errorf("procCPU(/proc/self) = %v, want it between getrusage's %v and %v, give or take %v", got, before, after, slack)
	}
}

func FuzzParseProcStatCPU(f *testing.F) {
	f.Add([]byte("4242 (kubepki) S 1 4242 4242 0 -1 4194560 2301 0 0 0 731 152 0 0 20 0 9 0"))
	f.Add([]byte("7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, ok := parseProcStatCPU(data)
		if !ok && d != 0 {
			t.Fatalf("parseProcStatCPU(%q) = %v, false; want 0 when it fails", data, d)
		}
		if d < 0 {
			t.Fatalf("parseProcStatCPU(%q) = %v, a negative time", data, d)
		}
	})
}
