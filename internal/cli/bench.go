package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	certv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/kubepki/kubepki/internal/apiserver"
	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

// Defaults of kubepki bench.
const (
	benchDefaultDuration    = 10 * time.Second
	benchDefaultWatchers    = 1000
	benchDefaultWatchEvents = 100
	benchDefaultStored      = 100000
	// benchWatchersPerUser keeps each watcher identity under the server's
	// default per-user watch limit, and spreads watchers over connections
	// (HTTP/2 allows 250 streams on one).
	benchWatchersPerUser = 50
	// benchFillConcurrency is the number of clients that fill the store
	// for the memory measurement.
	benchFillConcurrency = 64
	// benchRequests is how many different PKCS#10 requests the clients
	// send, in turn. The server remembers the requests whose signature it
	// checked, up to 8,192, and forgets them all at once when full: with
	// more than twice that many, every create checks a signature the
	// server has not seen, as with real clients, each with its own key.
	benchRequests = 20000
	// benchSigningTime is how long the raw signing rate is measured.
	benchSigningTime = 2 * time.Second
	// benchWaitTimeout bounds every wait for the server (a CSR to be
	// issued, watch events to arrive).
	benchWaitTimeout = 60 * time.Second
	benchLabel       = "kubepki.io/bench"
)

// benchOptions are the flags of kubepki bench.
type benchOptions struct {
	concurrency []int
	duration    time.Duration
	watchers    int
	watchEvents int
	stored      int
	output      string
	skip        []string
	transport   string
	cpuProfile  string
	memProfile  string
}

func newBenchCommand(streams IOStreams) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the Certificates API server: full CSR cycles, watch fan-out, memory",
		Long: `bench starts a kubepki API server in this process, on 127.0.0.1 with a bbolt
store in a temporary directory, an ECDSA P-256 cluster CA and the built-in
signing controller, exactly as "kubepki serve" runs them, and drives it with
client-go over keep-alive HTTPS with client certificates (so every request
pays for TLS, authentication, RBAC authorization and durable storage); by
default the clients share one HTTP/2 connection, as client-go's clients in
one process do (--transport):

  signing   the raw rate of the CA: ECDSA P-256 signatures and whole leaf
            certificates per second, measured first, in the same run;
  peer      a bare Go HTTPS signer (net/http over TLS 1.2+, no
            authentication, authorization, storage or watch: POST a PEM
            request, get a certificate back after its signature is
            checked) driven for --duration at the top --concurrency level
            with the same transport; the cycles' API requests are then
            reported as a share of its requests, per second and per
            CPU-second;
  cycles    for each --concurrency level, for --duration: create a CSR,
            approve it (UpdateApproval), wait until the signer issued it
            (one shared watch), get it; cycles/s, API requests/s, p50/p99;
  watch     --watchers watches on CSRs, then --watch-events CSRs created;
            events delivered per second and delivery latency (from the start
            of the create request to the event at each watcher);
  memory    the store filled to --stored CSRs through the API, then the Go
            heap and the process RSS after a garbage collection; then the
            same again after restarting the server on the full store, once
            its controllers have listed every CSR; last, the RSS of a
            separate "kubepki serve" process started on that store (the
            server alone, no collection forced), once its controllers
            have listed every CSR, and again after --duration of full
            cycles at concurrency 64 against it; those cycles' rate and
            latency, and the CPU time per cycle of the server process
            and of the clients, apart.

The clients send 20,000 different requests (each for its own P-256 key,
made before the measurements) in turn, so the server checks the signature
of every request it is sent as it would for real clients. The load
clients run in the same process and on the same cores as the server
(except against the separate serve process), so the numbers are a floor
for a server on its own machine. The
temporary directory is removed at the end.`,
		Example: `  # The full benchmark as docs/PERFORMANCE.md reports it
  kubepki bench

  # A quick run as JSON
  kubepki bench --concurrency 1,16 --duration 3s --watchers 100 --stored 5000 -o json

  # Only the cycle benchmark
  kubepki bench --skip watch,memory

  # The cycles and the bare signer with a keep-alive HTTP/1.1 connection per
  # client instead of one shared HTTP/2 connection
  kubepki bench --skip signing,watch,memory --concurrency 64 --transport http1-per-client`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &UsageError{Err: fmt.Errorf("bench takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), streams)
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&o.concurrency, "concurrency", []int{1, 16, 64}, "concurrent clients of the cycle benchmark, one run per value")
	f.DurationVar(&o.duration, "duration", benchDefaultDuration, "how long each concurrency level runs")
	f.IntVar(&o.watchers, "watchers", benchDefaultWatchers, "number of concurrent watches in the fan-out benchmark")
	f.IntVar(&o.watchEvents, "watch-events", benchDefaultWatchEvents, "CSRs created while the watchers listen")
	f.IntVar(&o.stored, "stored", benchDefaultStored, "CSRs in the store when memory is measured")
	f.StringSliceVar(&o.skip, "skip", nil, "parts to skip: signing, peer, cycles, watch, memory")
	f.StringVar(&o.transport, "transport", transportH2, "connections of the cycle and peer clients: h2 (one shared HTTP/2 connection, client-go's default), h2-per-client or http1-per-client (a keep-alive connection for each client)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	f.StringVar(&o.memProfile, "memprofile", "", "write a pprof heap profile, taken when memory is measured, to this file")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the cycle benchmark (server and clients) to this file")
	return cmd
}

// Complete has nothing to derive; it exists for the command convention.
func (o *benchOptions) Complete(_ *cobra.Command) error { return nil }

// Validate checks the flags.
func (o *benchOptions) Validate() error {
	for _, c := range o.concurrency {
		if c < 1 || c > 4096 {
			return &UsageError{Err: fmt.Errorf("--concurrency %d is out of range; use values from 1 to 4096", c)}
		}
	}
	if o.duration <= 0 {
		return &UsageError{Err: fmt.Errorf("--duration %s must be positive", o.duration)}
	}
	if o.watchers < 0 || o.watchEvents < 0 || o.stored < 0 {
		return &UsageError{Err: errors.New("--watchers, --watch-events and --stored must not be negative")}
	}
	for _, s := range o.skip {
		if !slices.Contains([]string{"signing", "peer", "cycles", "watch", "memory"}, s) {
			return &UsageError{Err: fmt.Errorf("--skip %q is not a part; use signing, peer, cycles, watch or memory", s)}
		}
	}
	if !slices.Contains(benchTransports, o.transport) {
		return &UsageError{Err: fmt.Errorf("--transport %q is not supported; use %s", o.transport, strings.Join(benchTransports, ", "))}
	}
	switch o.output {
	case "table", "json", "yaml":
	default:
		return &UsageError{Err: fmt.Errorf("--output %q is not supported; use table, json or yaml", o.output)}
	}
	return nil
}

func (o *benchOptions) skips(part string) bool { return slices.Contains(o.skip, part) }

// BenchResult is what kubepki bench measured. JSON and YAML output use it;
// fields are only ever added.
type BenchResult struct {
	Machine BenchMachine       `json:"machine"`
	Signing *BenchSigning      `json:"signing,omitempty"`
	Peer    *BenchPeer         `json:"peer,omitempty"`
	Cycles  []BenchCycleResult `json:"cycles,omitempty"`
	Watch   *BenchWatchResult  `json:"watch,omitempty"`
	Memory  *BenchMemoryResult `json:"memory,omitempty"`
	Notes   []string           `json:"notes,omitempty"`
}

// BenchMachine describes where the benchmark ran.
type BenchMachine struct {
	CPUModel   string `json:"cpuModel,omitempty"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// ServerGOMAXPROCS is the setting while the server runs, as serve
	// sets it (see tuneServeProcs).
	ServerGOMAXPROCS int `json:"serverGomaxprocs,omitempty"`
	MemoryMB         int `json:"memoryMB,omitempty"`
	// LoadAverage is /proc/loadavg's 1, 5 and 15 minute averages at the
	// start and the end of the run: other work on the machine skews
	// every number.
	LoadAverageStart string `json:"loadAverageStart,omitempty"`
	LoadAverageEnd   string `json:"loadAverageEnd,omitempty"`
	GoVersion        string `json:"goVersion"`
	OS               string `json:"os"`
	Arch             string `json:"arch"`
}

// BenchSigning is the raw signing rate of the cluster CA.
type BenchSigning struct {
	ECDSASignaturesPerSecond   float64 `json:"ecdsaSignaturesPerSecond"`
	CertificatesPerSecond      float64 `json:"certificatesPerSecond"`
	SingleCoreCertificatesPerS float64 `json:"singleCoreCertificatesPerSecond"`
	// The same per second of CPU time, which other work on the machine
	// does not skew.
	ECDSASignaturesPerCPUSecond float64 `json:"ecdsaSignaturesPerCPUSecond"`
	CertificatesPerCPUSecond    float64 `json:"certificatesPerCPUSecond"`
}

// BenchCycleResult is one concurrency level of the cycle benchmark.
type BenchCycleResult struct {
	Concurrency int `json:"concurrency"`
	// Transport is the clients' connections, a --transport value.
	Transport         string                     `json:"transport,omitempty"`
	Cycles            int                        `json:"cycles"`
	Errors            int                        `json:"errors"`
	FirstError        string                     `json:"firstError,omitempty"`
	Seconds           float64                    `json:"seconds"`
	CyclesPerSecond   float64                    `json:"cyclesPerSecond"`
	RequestsPerSecond float64                    `json:"requestsPerSecond"`
	P50Millis         float64                    `json:"p50Millis"`
	P99Millis         float64                    `json:"p99Millis"`
	Steps             map[string]BenchPercentile `json:"steps"`
	// CPUSeconds is the CPU time (user and system) the whole process,
	// server and clients, used during the level; CyclesPerCPUSecond
	// divides the cycles by it, which stays meaningful when other work
	// shares the machine.
	CPUSeconds         float64 `json:"cpuSeconds"`
	CyclesPerCPUSecond float64 `json:"cyclesPerCPUSecond"`
}

// BenchPercentile is a latency summary in milliseconds.
type BenchPercentile struct {
	P50Millis float64 `json:"p50Millis"`
	P99Millis float64 `json:"p99Millis"`
}

// BenchWatchResult is the watch fan-out benchmark.
type BenchWatchResult struct {
	Watchers        int     `json:"watchers"`
	Events          int     `json:"events"`
	Delivered       int     `json:"delivered"`
	Seconds         float64 `json:"seconds"`
	EventsPerSecond float64 `json:"eventsPerSecond"`
	P50Millis       float64 `json:"p50Millis"`
	P99Millis       float64 `json:"p99Millis"`
	MaxMillis       float64 `json:"maxMillis"`
	// CPUSeconds is the process's CPU time from the first create to the
	// last delivery.
	CPUSeconds float64 `json:"cpuSeconds"`
}

// BenchMemoryResult is the memory measurement.
type BenchMemoryResult struct {
	CSRs          int     `json:"csrs"`
	FillPerSecond float64 `json:"fillPerSecond"`
	// HeapInuseMB and HeapAllocMB are the Go heap after a collection;
	// RSSMB is the process's resident memory after freed pages went back
	// to the system, PeakRSSMB its high-water mark during the run.
	HeapInuseMB float64 `json:"heapInuseMB"`
	HeapAllocMB float64 `json:"heapAllocMB"`
	RSSMB       float64 `json:"rssMB"`
	// RSSAnonMB is the anonymous part of RSS (heap, stacks, runtime);
	// RSSFileMB the file-backed part, mostly the store's memory map.
	RSSAnonMB float64 `json:"rssAnonMB"`
	RSSFileMB float64 `json:"rssFileMB"`
	// RSSStoreMB and RSSExecutableMB split the file-backed part: pages of
	// the store file's memory map and of the kubepki executable resident
	// in this process (page cache the kernel may reclaim).
	RSSStoreMB      float64 `json:"rssStoreMB"`
	RSSExecutableMB float64 `json:"rssExecutableMB"`
	PeakRSSMB       float64 `json:"peakRSSMB"`
	StoreFileMB     float64 `json:"storeFileMB"`
	// Restarted is the same reading after the server and its
	// controllers were restarted on the full store and the controllers'
	// informer listed every CSR again (PeakRSSMB since the restart; CSRs
	// and FillPerSecond unset).
	Restarted *BenchMemoryResult `json:"restarted,omitempty"`
	// Serve is the memory of a separate "kubepki serve" process started
	// on the full store, read once its controllers listed every CSR: the
	// server alone, without the bench's clients, no collection forced (no
	// heap figures; PeakRSSMB over the process's life).
	Serve *BenchMemoryResult `json:"serve,omitempty"`
	// AfterLoad, on Serve only, is the same process read again after
	// --duration of full cycles at concurrency 64 against it, the
	// pages and heap that work touches back in (LoadCycles of them);
	// its PeakRSSMB is the process's peak over the restart and the load.
	AfterLoad  *BenchMemoryResult `json:"afterLoad,omitempty"`
	LoadCycles int                `json:"loadCycles,omitempty"`
	// Load, on Serve only, is that load itself: the cycles against a
	// server that shares neither its process nor its runtime with the
	// clients, and the CPU time each side used during it.
	Load *BenchServeLoad `json:"load,omitempty"`
}

// BenchServeLoad is the cycle load against the separate serve process,
// with the CPU time split between the server and the clients.
type BenchServeLoad struct {
	Cycles *BenchCycleResult `json:"cycles"`
	// ServerCPUSeconds is the CPU time (user and system, all threads) of
	// the kubepki serve process during the load; ClientCPUSeconds that of
	// the bench process, where only the load clients run then.
	ServerCPUSeconds float64 `json:"serverCPUSeconds"`
	ClientCPUSeconds float64 `json:"clientCPUSeconds"`
	// ServerCPUMillisPerCycle and ClientCPUMillisPerCycle divide them by
	// the cycles; ServerCyclesPerCPUSecond is the inverse of the first,
	// what one core given to the server alone would sustain.
	ServerCPUMillisPerCycle  float64 `json:"serverCPUMillisPerCycle"`
	ClientCPUMillisPerCycle  float64 `json:"clientCPUMillisPerCycle"`
	ServerCyclesPerCPUSecond float64 `json:"serverCyclesPerCPUSecond"`
}

// Run runs the benchmark and prints the result.
func (o *benchOptions) Run(ctx context.Context, streams IOStreams) error {
	progress := func(format string, args ...any) {
		if isTerminal(streams.ErrOut) {
			fmt.Fprintf(streams.ErrOut, format+"\n", args...)
		}
	}
	res := &BenchResult{Machine: benchMachine()}
	if !o.skips("signing") {
		progress("measuring the raw signing rate")
		s, err := measureSigning(ctx)
		if err != nil {
			return err
		}
		res.Signing = s
	}
	if !o.skips("peer") {
		c := slices.Max(o.concurrency)
		progress("the bare HTTPS signer at concurrency %d over %s for %s", c, o.transport, o.duration)
		p, err := o.measurePeer(ctx, c)
		if err != nil {
			return err
		}
		res.Peer = p
	}
	if o.skips("cycles") && o.skips("watch") && o.skips("memory") {
		return o.print(streams.Out, res)
	}
	progress("starting the server")
	b, err := startBenchServer(ctx)
	if err != nil {
		return err
	}
	defer b.stop()
	res.Machine.ServerGOMAXPROCS = runtime.GOMAXPROCS(0)

	if !o.skips("cycles") {
		stopProfile := func() {}
		if o.cpuProfile != "" {
			if stopProfile, err = startCPUProfile(o.cpuProfile); err != nil {
				return err
			}
		}
		for _, c := range o.concurrency {
			progress("cycles at concurrency %d over %s for %s", c, o.transport, o.duration)
			workers, err := cycleClients(b.adminCfg, c, o.transport)
			if err != nil {
				stopProfile()
				return err
			}
			r, err := b.runCycles(ctx, b.admin, workers, c, o.duration)
			if err != nil {
				stopProfile()
				return err
			}
			r.Transport = o.transport
			res.Cycles = append(res.Cycles, *r)
		}
		stopProfile()
		if res.Peer != nil {
			res.Peer.compare(res.Cycles)
		}
	}
	if !o.skips("watch") && o.watchers > 0 && o.watchEvents > 0 {
		progress("watch fan-out: %d watchers, %d events", o.watchers, o.watchEvents)
		w, err := b.runWatch(ctx, o.watchers, o.watchEvents)
		if err != nil {
			return err
		}
		res.Watch = w
	}
	if !o.skips("memory") && o.stored > 0 {
		progress("filling the store to %d CSRs", o.stored)
		m, err := b.runMemory(ctx, o.stored, o.duration)
		if err != nil {
			return err
		}
		if o.memProfile != "" {
			if err := writeHeapProfile(o.memProfile); err != nil {
				return err
			}
		}
		res.Memory = m
	}
	res.Notes = append(res.Notes,
		"load clients share the process and the cores with the server",
		"server logs are encoded as JSON to a discarded writer")
	if res.Memory != nil && res.Memory.Serve != nil {
		res.Notes = append(res.Notes, `the separate "kubepki serve" has a process of its own, on the same cores as the clients, and writes its logs as JSON to a pipe the bench reads`)
	}
	return o.print(streams.Out, res)
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create --cpuprofile file: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeHeapProfile writes the current heap profile to path.
func writeHeapProfile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create --memprofile file: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write the heap profile: %w", err)
	}
	return f.Close()
}

// print writes res in the chosen format.
func (o *benchOptions) print(out io.Writer, res *BenchResult) error {
	res.Machine.LoadAverageEnd = loadAverage()
	switch o.output {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case "yaml":
		data, err := yaml.Marshal(res)
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	}
	return printBenchTable(out, res)
}

func printBenchTable(out io.Writer, res *BenchResult) error {
	m := res.Machine
	procs := strconv.Itoa(m.GOMAXPROCS)
	if m.ServerGOMAXPROCS != 0 && m.ServerGOMAXPROCS != m.GOMAXPROCS {
		procs += fmt.Sprintf(", %d while serving", m.ServerGOMAXPROCS)
	}
	fmt.Fprintf(out, "machine: %s, %d CPUs (GOMAXPROCS %s), %d MB, %s %s/%s, load average %s at start, %s at end\n\n",
		orDash(m.CPUModel), m.CPUs, procs, m.MemoryMB, m.GoVersion, m.OS, m.Arch,
		orDash(m.LoadAverageStart), orDash(m.LoadAverageEnd))
	if s := res.Signing; s != nil {
		fmt.Fprintf(out, "raw signing (ECDSA P-256 CA): %.0f signatures/s, %.0f certificates/s (%.0f on one core); per CPU-second %.0f signatures, %.0f certificates\n\n",
			s.ECDSASignaturesPerSecond, s.CertificatesPerSecond, s.SingleCoreCertificatesPerS,
			s.ECDSASignaturesPerCPUSecond, s.CertificatesPerCPUSecond)
	}
	if p := res.Peer; p != nil {
		fmt.Fprintf(out, "bare HTTPS signer (no authentication or storage; %s, concurrency %d): %d requests, %d errors, %.0f requests/s, p50/p99 %s, %.0f per CPU-second\n",
			p.Transport, p.Concurrency, p.Requests, p.Errors, p.RequestsPerSecond, pair(BenchPercentile{P50Millis: p.P50Millis, P99Millis: p.P99Millis}), p.RequestsPerCPUSecond)
		if p.FirstError != "" {
			fmt.Fprintf(out, "bare HTTPS signer: first error: %s\n", p.FirstError)
		}
		if p.APIRequestShare > 0 {
			fmt.Fprintf(out, "the API server's requests at concurrency %d: %.0f%% of the bare signer's per second, %.0f%% per CPU-second\n",
				p.Concurrency, 100*p.APIRequestShare, 100*p.APIRequestCPUShare)
		}
		fmt.Fprintln(out)
	}
	if len(res.Cycles) > 0 {
		if t := res.Cycles[0].Transport; t != "" {
			fmt.Fprintf(out, "cycles over %s:\n", t)
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CONCURRENCY\tCYCLES\tERRORS\tCYCLES/S\tREQUESTS/S\tCYCLES/CPU-S\tP50\tP99\tCREATE P50/P99\tAPPROVE P50/P99\tISSUED P50/P99\tGET P50/P99")
		for _, c := range res.Cycles {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Concurrency, c.Cycles, c.Errors,
				c.CyclesPerSecond, c.RequestsPerSecond, c.CyclesPerCPUSecond, ms(c.P50Millis), ms(c.P99Millis),
				pair(c.Steps["create"]), pair(c.Steps["approve"]), pair(c.Steps["issued"]), pair(c.Steps["get"]))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, c := range res.Cycles {
			if c.FirstError != "" {
				fmt.Fprintf(out, "concurrency %d: first error: %s\n", c.Concurrency, c.FirstError)
			}
		}
		fmt.Fprintln(out)
	}
	if w := res.Watch; w != nil {
		fmt.Fprintf(out, "watch fan-out: %d watchers x %d events: %d delivered in %.2fs (%.2f CPU-s) = %.0f events/s; delivery latency p50 %s p99 %s max %s\n\n",
			w.Watchers, w.Events, w.Delivered, w.Seconds, w.CPUSeconds, w.EventsPerSecond, ms(w.P50Millis), ms(w.P99Millis), ms(w.MaxMillis))
	}
	if mr := res.Memory; mr != nil {
		fmt.Fprintf(out, "memory with %d CSRs stored (filled at %.0f/s): %s\n", mr.CSRs, mr.FillPerSecond, memoryLine(mr))
		if r := mr.Restarted; r != nil {
			fmt.Fprintf(out, "after a restart on the full store: %s\n", memoryLine(r))
		}
		if r := mr.Serve; r != nil {
			fmt.Fprintf(out, "a separate kubepki serve on the full store: %s\n", rssLine(r))
			if l := r.AfterLoad; l != nil {
				fmt.Fprintf(out, "the same after %d full cycles at concurrency 64: %s\n", r.LoadCycles, rssLine(l))
			}
			if l := r.Load; l != nil && l.Cycles != nil {
				c := l.Cycles
				fmt.Fprintf(out, "those cycles: %.0f cycles/s, p50 %s, p99 %s; CPU per cycle: server %.2f ms, clients %.2f ms; the server alone: %.0f cycles per CPU-second\n",
					c.CyclesPerSecond, ms(c.P50Millis), ms(c.P99Millis), l.ServerCPUMillisPerCycle, l.ClientCPUMillisPerCycle, l.ServerCyclesPerCPUSecond)
			}
		}
		fmt.Fprintln(out)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
	return nil
}

// memoryLine is the text form of one memory reading.
func memoryLine(m *BenchMemoryResult) string {
	return fmt.Sprintf("heap in use %.1f MB, heap alloc %.1f MB, %s", m.HeapInuseMB, m.HeapAllocMB, rssLine(m))
}

// rssLine is the text form of a reading's resident memory.
func rssLine(m *BenchMemoryResult) string {
	return fmt.Sprintf("RSS %.1f MB (anonymous %.1f MB, file-backed %.1f MB: store map %.1f MB, executable %.1f MB; peak %.1f MB), store file %.1f MB",
		m.RSSMB, m.RSSAnonMB, m.RSSFileMB, m.RSSStoreMB, m.RSSExecutableMB, m.PeakRSSMB, m.StoreFileMB)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ms(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "ms" }

func pair(p BenchPercentile) string { return ms(p.P50Millis) + "/" + ms(p.P99Millis) }

// benchMachine describes this machine.
func benchMachine() BenchMachine {
	m := BenchMachine{
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	m.LoadAverageStart = loadAverage()
	if kb, err := strconv.Atoi(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB")); err == nil {
		m.MemoryMB = kb / 1024
	}
	return m
}

// loadAverage returns the three load averages of /proc/loadavg, or "".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// procField returns the value of the first "key: value" line of a /proc
// file, or "" when the file or key is missing.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// measureSigning measures raw ECDSA P-256 signatures and whole leaf
// certificates signed by a fresh CA, on every core and on one.
func measureSigning(ctx context.Context) (*BenchSigning, error) {
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes"})
	if err != nil {
		return nil, err
	}
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		return nil, err
	}
	ecKey, ok := ca.Key.(*ecdsa.PrivateKey)
	if !ok || ecKey.Curve != elliptic.P256() {
		return nil, errors.New("bench: the CA key is not ECDSA P-256")
	}
	digest := sha256.Sum256([]byte("kubepki"))
	opts := pki.CertOptions{
		Subject:     pkix.Name{CommonName: "bench", Organization: []string{"bench"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	signs, signsPerCPU, err := rates(ctx, runtime.GOMAXPROCS(0), func() error {
		_, err := ecdsa.SignASN1(rand.Reader, ecKey, digest[:])
		return err
	})
	if err != nil {
		return nil, err
	}
	signCert := func() error { _, err := ca.Sign(key.Public(), opts); return err }
	certs, certsPerCPU, err := rates(ctx, runtime.GOMAXPROCS(0), signCert)
	if err != nil {
		return nil, err
	}
	single, err := rate(ctx, 1, signCert)
	if err != nil {
		return nil, err
	}
	return &BenchSigning{
		ECDSASignaturesPerSecond: signs, CertificatesPerSecond: certs, SingleCoreCertificatesPerS: single,
		ECDSASignaturesPerCPUSecond: signsPerCPU, CertificatesPerCPUSecond: certsPerCPU,
	}, nil
}

// rate runs op on n goroutines for benchSigningTime and returns ops per
// second of wall time.
func rate(ctx context.Context, n int, op func() error) (float64, error) {
	r, _, err := rates(ctx, n, op)
	return r, err
}

// rates runs op on n goroutines for benchSigningTime and returns ops per
// second of wall time and per second of the process's CPU time.
func rates(ctx context.Context, n int, op func() error) (perSecond, perCPUSecond float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, benchSigningTime)
	defer cancel()
	var count atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	cpuStart := processCPU()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := op(); err != nil {
					once.Do(func() { firstErr = err })
					cancel()
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	ops := float64(count.Load())
	cpu := (processCPU() - cpuStart).Seconds()
	return ops / time.Since(start).Seconds(), ops / max(cpu, 1e-9), firstErr
}

// benchServer is the server under test and the clients that drive it.
type benchServer struct {
	dir      string
	url      string
	ca       *pki.CA
	store    *bolt.Store
	admin    certv1client.CertificateSigningRequestInterface
	adminCfg *rest.Config
	// filler creates the CSRs that stay pending (watch and memory parts).
	filler   certv1client.CertificateSigningRequestInterface
	csrPEMs  [][]byte
	cancel   context.CancelFunc
	done     chan error
	ctrlDone chan error
	mgr      *controller.Manager
	// afterList is set once the current controllers have synced and
	// given back the store pages their initial list read, as serve's do.
	afterList atomic.Bool
	seq       atomic.Int64
	dbPath    string
	closeOnce sync.Once
	// restoreProcs undoes tuneServeProcs.
	restoreProcs func()
}

// startBenchServer starts a server as kubepki serve does, in a temporary
// directory.
func startBenchServer(ctx context.Context) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "kubepki-bench-")
	if err != nil {
		return nil, fmt.Errorf("create a temporary directory: %w", err)
	}
	b := &benchServer{dir: dir, done: make(chan error, 1), ctrlDone: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			b.stop()
		}
	}()
	if b.ca, err = pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes"}); err != nil {
		return nil, err
	}
	b.dbPath = filepath.Join(dir, "kubepki.db")
	b.restoreProcs = tuneServeProcs() // as serve runs
	if err := b.serve(ctx); err != nil {
		return nil, err
	}
	if b.csrPEMs, err = benchRequestPEMs(ctx, benchRequests); err != nil {
		return nil, err
	}
	ok = true
	return b, nil
}

// benchRequestPEMs makes n requests, each for a new P-256 key, on every
// core.
func benchRequestPEMs(ctx context.Context, n int) ([][]byte, error) {
	pems := make([][]byte, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				key, err := pki.GenerateKey(pki.ECDSAP256)
				if err != nil {
					errs[w] = err
					return
				}
				der, err := pki.CreateCSR(key, pkix.Name{CommonName: fmt.Sprintf("bench-user-%d", i), Organization: []string{"bench"}}, pki.SANs{})
				if err != nil {
					errs[w] = err
					return
				}
				pems[i] = pki.MarshalCSRPEM(der)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, fmt.Errorf("make the bench requests: %w", err)
	}
	return pems, nil
}

// serve opens the store and starts the server and its controllers on a
// new port, as kubepki serve does.
func (b *benchServer) serve(ctx context.Context) error {
	var err error
	if b.store, err = bolt.Open(b.dbPath, bolt.Options{}); err != nil {
		return fmt.Errorf("open the store: %w", err)
	}
	tlsCert, err := benchServingCert(b.ca)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.Cert)
	policy := apiserver.DefaultPolicy()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv, err := apiserver.New(apiserver.Config{
		Store:         b.store,
		Authenticator: apiserver.NewX509Authenticator(pool, time.Now),
		Authorizer:    apiserver.NewRBACAuthorizer(policy),
		Policy:        policy,
		Logger:        logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	b.url = "https://" + ln.Addr().String()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	tuneServeGC(runCtx) // as serve runs
	b.cancel = cancel
	go func() { b.done <- srv.Run(runCtx, ln, apiserver.TLSConfig(tlsCert)) }()

	local, err := srv.LocalClient()
	if err != nil {
		return err
	}
	b.afterList.Store(false)
	release := afterInitialList(runCtx, b.store, logger)
	m, err := controller.New(controller.Config{
		Client:  local,
		Signers: controller.SameCA(b.ca),
		Logger:  logger,
		OnSynced: func() {
			release()
			b.afterList.Store(true)
		},
	})
	if err != nil {
		return err
	}
	b.mgr = m
	go func() { b.ctrlDone <- m.Run(runCtx) }()

	if b.adminCfg, err = b.clientConfig("kubernetes-admin", apiserver.GroupKubeadmClusterAdmins); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(b.adminCfg)
	if err != nil {
		return err
	}
	b.admin = cs.CertificatesV1().CertificateSigningRequests()
	if err := waitReady(ctx, cs); err != nil {
		return err
	}
	// The CSRs the watch and memory parts create stay pending, far more
	// than one user outside system:masters may have (the server's
	// pending limit per user): a system:masters user creates them.
	fillCfg, err := b.clientConfig("kubepki-bench-filler", apiserver.GroupMasters)
	if err != nil {
		return err
	}
	fcs, err := kubernetes.NewForConfig(fillCfg)
	if err != nil {
		return err
	}
	b.filler = fcs.CertificatesV1().CertificateSigningRequests()
	return nil
}

// restart stops the server and its controllers, closes the store, and
// serves again from the same file: a server restarted on a full store.
func (b *benchServer) restart(ctx context.Context) error {
	if err := b.shutdown(); err != nil {
		return err
	}
	return b.serve(ctx)
}

// shutdown stops the server and its controllers, if running, and closes
// the store, if open.
func (b *benchServer) shutdown() error {
	if b.cancel != nil {
		b.cancel()
		<-b.done
		<-b.ctrlDone
		b.cancel = nil
	}
	if b.store == nil {
		return nil
	}
	err := b.store.Close()
	b.store = nil
	if err != nil {
		return fmt.Errorf("close the store: %w", err)
	}
	return nil
}

// waitReady polls /readyz until the server answers ok.
func waitReady(ctx context.Context, cs *kubernetes.Clientset) error {
	ctx, cancel := context.WithTimeout(ctx, benchWaitTimeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		_, last = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the bench server did not become ready: %v", last)
}

// clientConfig returns a client-go configuration with a fresh client
// certificate for user in groups; each call gets its own connection.
func (b *benchServer) clientConfig(user string, groups ...string) (*rest.Config, error) {
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		return nil, err
	}
	cert, err := b.ca.Sign(key.Public(), pki.CertOptions{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: b.url,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: pki.MarshalCertificatePEM(b.ca.Cert), CertData: pki.MarshalCertificatePEM(cert), KeyData: keyPEM,
		},
		QPS:     -1, // no client-side rate limit
		Timeout: benchWaitTimeout,
	}, nil
}

// stop shuts the server down and removes its directory.
func (b *benchServer) stop() {
	b.closeOnce.Do(func() {
		_ = b.shutdown()
		if b.restoreProcs != nil {
			b.restoreProcs()
		}
		_ = os.RemoveAll(b.dir)
	})
}

// newCSR returns a new client-certificate CSR object with a unique name.
func (b *benchServer) newCSR(prefix string, labels map[string]string) *certv1.CertificateSigningRequest {
	n := b.seq.Add(1)
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, n), Labels: labels},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    b.csrPEMs[int(n)%len(b.csrPEMs)],
			SignerName: certv1.KubeAPIServerClientSignerName,
			Usages:     []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageClientAuth},
		},
	}
}

// issuedWaiter follows one watch of all CSRs and wakes the goroutine
// waiting for each CSR to be issued.
type issuedWaiter struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
	issued  map[string]bool
}

func (w *issuedWaiter) register(name string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.issued[name] {
		delete(w.issued, name)
		close(ch)
		return ch
	}
	w.waiting[name] = ch
	return ch
}

func (w *issuedWaiter) unregister(name string) {
	w.mu.Lock()
	delete(w.waiting, name)
	w.mu.Unlock()
}

func (w *issuedWaiter) saw(csr *certv1.CertificateSigningRequest) {
	if len(csr.Status.Certificate) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.waiting[csr.Name]; ok {
		close(ch)
		delete(w.waiting, csr.Name)
	}
}

// follow watches CSRs with labels sel from resourceVersion rv until ctx
// ends, restarting the watch whenever the server ends it.
func follow(ctx context.Context, client certv1client.CertificateSigningRequestInterface, sel, rv string, on func(*certv1.CertificateSigningRequest)) error {
	for ctx.Err() == nil {
		w, err := client.Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch CSRs: %w", err)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				// Too old or otherwise ended: start again from now.
				rv = ""
				break
			}
			csr, ok := ev.Object.(*certv1.CertificateSigningRequest)
			if !ok {
				continue
			}
			rv = csr.ResourceVersion
			if ev.Type != watch.Bookmark {
				on(csr)
			}
		}
		w.Stop()
	}
	return nil
}

// currentRV returns the store's current resourceVersion.
func currentRV(ctx context.Context, client certv1client.CertificateSigningRequestInterface) (string, error) {
	l, err := client.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", fmt.Errorf("list CSRs: %w", err)
	}
	return l.ResourceVersion, nil
}

// runCycles runs full cycles with c concurrent clients for d. The clients
// watch through client; worker i sends its requests through workers[i],
// or through client too when workers is nil.
func (b *benchServer) runCycles(ctx context.Context, client certv1client.CertificateSigningRequestInterface, workers []certv1client.CertificateSigningRequestInterface, c int, d time.Duration) (*BenchCycleResult, error) {
	if workers != nil && len(workers) != c {
		return nil, fmt.Errorf("bench: %d worker clients for concurrency %d", len(workers), c)
	}
	label := fmt.Sprintf("cycles-%d", c)
	sel := benchLabel + "=" + label
	rv, err := currentRV(ctx, client)
	if err != nil {
		return nil, err
	}
	waiter := &issuedWaiter{waiting: map[string]chan struct{}{}, issued: map[string]bool{}}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 1)
	go func() { watchErr <- follow(watchCtx, client, sel, rv, waiter.saw) }()

	type sample struct{ total, create, approve, issued, get time.Duration }
	var (
		mu       sync.Mutex
		samples  []sample
		errCount int
		firstErr string
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errCount++
		if firstErr == "" {
			firstErr = err.Error()
		}
	}
	cycle := func(ctx context.Context, client certv1client.CertificateSigningRequestInterface) (sample, error) {
		var s sample
		csr := b.newCSR("bench-"+label, map[string]string{benchLabel: label})
		issued := waiter.register(csr.Name)
		defer waiter.unregister(csr.Name)
		t0 := time.Now()
		created, err := client.Create(ctx, csr, metav1.CreateOptions{})
		if err != nil {
			return s, fmt.Errorf("create: %w", err)
		}
		t1 := time.Now()
		created.Status.Conditions = append(created.Status.Conditions, certv1.CertificateSigningRequestCondition{
			Type: certv1.CertificateApproved, Status: corev1.ConditionTrue,
			Reason: "KubepkiBench", Message: "approved by kubepki bench",
		})
		if _, err := client.UpdateApproval(ctx, created.Name, created, metav1.UpdateOptions{}); err != nil {
			return s, fmt.Errorf("approve: %w", err)
		}
		t2 := time.Now()
		select {
		case <-issued:
		case <-ctx.Done():
			return s, fmt.Errorf("wait for %s to be issued: %w", created.Name, ctx.Err())
		}
		t3 := time.Now()
		got, err := client.Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return s, fmt.Errorf("get: %w", err)
		}
		if len(got.Status.Certificate) == 0 {
			return s, fmt.Errorf("get %s: no certificate after the watch saw one", created.Name)
		}
		t4 := time.Now()
		return sample{total: t4.Sub(t0), create: t1.Sub(t0), approve: t2.Sub(t1), issued: t3.Sub(t2), get: t4.Sub(t3)}, nil
	}

	start := time.Now()
	cpuStart := processCPU()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range c {
		mine := client
		if workers != nil {
			mine = workers[i]
		}
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				cctx, cancel := context.WithTimeout(ctx, benchWaitTimeout)
				s, err := cycle(cctx, mine)
				cancel()
				if err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpu := (processCPU() - cpuStart).Seconds()
	stopWatch()
	if err := <-watchErr; err != nil && errCount == 0 {
		fail(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pick := func(f func(sample) time.Duration) BenchPercentile {
		ds := make([]time.Duration, len(samples))
		for i, s := range samples {
			ds[i] = f(s)
		}
		return percentiles(ds)
	}
	total := pick(func(s sample) time.Duration { return s.total })
	return &BenchCycleResult{
		Concurrency: c, Cycles: len(samples), Errors: errCount, FirstError: firstErr, Seconds: elapsed,
		CyclesPerSecond: float64(len(samples)) / elapsed,
		// create, approve and get; the shared watch is one long request.
		RequestsPerSecond: 3 * float64(len(samples)) / elapsed,
		P50Millis:         total.P50Millis, P99Millis: total.P99Millis,
		CPUSeconds:         cpu,
		CyclesPerCPUSecond: float64(len(samples)) / max(cpu, 1e-9),
		Steps: map[string]BenchPercentile{
			"create":  pick(func(s sample) time.Duration { return s.create }),
			"approve": pick(func(s sample) time.Duration { return s.approve }),
			"issued":  pick(func(s sample) time.Duration { return s.issued }),
			"get":     pick(func(s sample) time.Duration { return s.get }),
		},
	}, nil
}

// percentiles returns p50 and p99 of ds in milliseconds (zero when empty).
func percentiles(ds []time.Duration) BenchPercentile {
	if len(ds) == 0 {
		return BenchPercentile{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[int(q*float64(len(ds)-1))]) / float64(time.Millisecond)
	}
	return BenchPercentile{P50Millis: at(0.50), P99Millis: at(0.99)}
}

// runWatch opens n watches, creates events CSRs and measures delivery.
func (b *benchServer) runWatch(ctx context.Context, n, events int) (*BenchWatchResult, error) {
	label := "fanout"
	sel := benchLabel + "=" + label
	rv, err := currentRV(ctx, b.admin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*benchWaitTimeout)
	defer cancel()

	// One client (connection, identity) per benchWatchersPerUser watchers.
	var clients []certv1client.CertificateSigningRequestInterface
	for i := 0; i*benchWatchersPerUser < n; i++ {
		cfg, err := b.clientConfig(fmt.Sprintf("bench-watcher-%d", i), apiserver.GroupKubeadmClusterAdmins)
		if err != nil {
			return nil, err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		clients = append(clients, cs.CertificatesV1().CertificateSigningRequests())
	}
	var (
		sent      sync.Map // name → time the create request started
		latMu     sync.Mutex
		latencies = make([]time.Duration, 0, n*events)
		delivered atomic.Int64
		lastAt    atomic.Int64
	)
	watches := make([]watch.Interface, n)
	for i := range n {
		w, err := clients[i/benchWatchersPerUser].Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv})
		if err != nil {
			for _, w := range watches[:i] {
				w.Stop()
			}
			return nil, fmt.Errorf("open watch %d of %d: %w", i+1, n, err)
		}
		watches[i] = w
	}
	var wg sync.WaitGroup
	for _, w := range watches {
		wg.Go(func() {
			defer w.Stop()
			local := make([]time.Duration, 0, events)
			for got := 0; got < events; {
				select {
				case <-ctx.Done():
					latMu.Lock()
					latencies = append(latencies, local...)
					latMu.Unlock()
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					csr, isCSR := ev.Object.(*certv1.CertificateSigningRequest)
					if ev.Type != watch.Added || !isCSR {
						continue
					}
					now := time.Now()
					if t0, ok := sent.Load(csr.Name); ok {
						local = append(local, now.Sub(t0.(time.Time)))
					}
					got++
					delivered.Add(1)
					lastAt.Store(now.UnixNano())
				}
			}
			latMu.Lock()
			latencies = append(latencies, local...)
			latMu.Unlock()
		})
	}
	start := time.Now()
	cpuStart := processCPU()
	for range events {
		csr := b.newCSR("bench-fanout", map[string]string{benchLabel: label})
		sent.Store(csr.Name, time.Now())
		if _, err := b.filler.Create(ctx, csr, metav1.CreateOptions{}); err != nil {
			cancel()
			wg.Wait()
			return nil, fmt.Errorf("create fan-out CSR: %w", err)
		}
	}
	wg.Wait()
	cpu := (processCPU() - cpuStart).Seconds()
	if d := delivered.Load(); d < int64(n*events) {
		return nil, fmt.Errorf("watch fan-out: %d of %d events delivered within %s", d, n*events, 2*benchWaitTimeout)
	}
	elapsed := time.Unix(0, lastAt.Load()).Sub(start).Seconds()
	p := percentiles(latencies)
	return &BenchWatchResult{
		Watchers: n, Events: events, Delivered: int(delivered.Load()), Seconds: elapsed,
		EventsPerSecond: float64(delivered.Load()) / elapsed,
		P50Millis:       p.P50Millis, P99Millis: p.P99Millis,
		MaxMillis:  float64(latencies[len(latencies)-1]) / float64(time.Millisecond),
		CPUSeconds: cpu,
	}, nil
}

// runMemory fills the store to total CSRs and measures memory.
func (b *benchServer) runMemory(ctx context.Context, total int, load time.Duration) (*BenchMemoryResult, error) {
	have := 0
	opts := metav1.ListOptions{Limit: 5000}
	for {
		l, err := b.admin.List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("count CSRs: %w", err)
		}
		have += len(l.Items)
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	need := max(total-have, 0)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range benchFillConcurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(need) && ctx.Err() == nil {
				csr := b.newCSR("bench-stored", map[string]string{benchLabel: "stored"})
				if _, err := b.filler.Create(ctx, csr, metav1.CreateOptions{}); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("fill the store: %w", firstErr)
	}
	fill := float64(need) / time.Since(start).Seconds()
	// The clients' 20,000 requests (8 MB) are the bench's memory, not the
	// server's: keep 64 of them from here on, the last part.
	b.csrPEMs = slices.Clone(b.csrPEMs[:min(len(b.csrPEMs), 64)])
	res, err := b.readMemory(ctx, have+need)
	if err != nil {
		return nil, err
	}
	res.CSRs, res.FillPerSecond = have+need, fill
	// A restarted server reads every CSR again (the informer's list), so
	// that the whole store file is mapped in, where a filled one holds
	// only the pages written since bbolt last remapped the file.
	resetPeakRSS()
	if err := b.restart(ctx); err != nil {
		return nil, fmt.Errorf("restart on the full store: %w", err)
	}
	if res.Restarted, err = b.readMemory(ctx, have+need); err != nil {
		return nil, err
	}
	if res.Serve, err = b.serveMemory(ctx, have+need, load); err != nil {
		return nil, err
	}
	return res, nil
}

// serveMemory stops the bench's server, moves its store into a data
// directory of its own and starts "kubepki serve" on it as a separate
// process, as an operator restarting the server would. Once the
// process's controllers have listed every CSR it reads the process's
// memory from /proc, then stops it. Nothing of the bench's load clients
// or earlier parts is in that process, and no collection is forced: this
// is the memory of the server alone.
func (b *benchServer) serveMemory(ctx context.Context, want int, load time.Duration) (*BenchMemoryResult, error) {
	if err := b.shutdown(); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(b.dir, "serve")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dataDir, "kubepki.db")
	if err := os.Rename(b.dbPath, dbPath); err != nil {
		return nil, fmt.Errorf("move the store: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the kubepki executable: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "serve", "--data-dir", dataDir, "--secure-port", "0",
		"--bind-address", "127.0.0.1", "--log-format", "json")
	cmd.Stdout = io.Discard
	logs, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kubepki serve: %w", err)
	}
	exited := make(chan error, 1)
	synced := make(chan int, 1)
	var tail []string // the last log lines, for an error
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct {
				Msg    string `json:"msg"`
				Cached int    `json:"cached"`
			}
			if tail = append(tail, sc.Text()); len(tail) > 10 {
				tail = tail[1:]
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "controllers synced" {
				select {
				case synced <- line.Cached:
				default:
				}
			}
		}
		exited <- cmd.Wait()
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(benchWaitTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	var cached int
	select {
	case cached = <-synced:
	case err := <-exited:
		return nil, fmt.Errorf("kubepki serve on the full store exited before its controllers synced: %v\n%s", err, strings.Join(tail, "\n"))
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("kubepki serve on the full store: its controllers did not sync: %w", ctx.Err())
	}
	if cached < want {
		stop()
		return nil, fmt.Errorf("kubepki serve on the full store cached %d CSRs, want %d", cached, want)
	}
	proc := "/proc/" + strconv.Itoa(cmd.Process.Pid)
	res := procMemory(proc, dbPath, exe)
	serverCPU, cpuOK := procCPU(proc)
	r, err := b.loadServe(ctx, filepath.Join(dataDir, "admin.conf"), load)
	if err != nil {
		stop()
		return nil, fmt.Errorf("kubepki serve on the full store: %w", err)
	}
	res.AfterLoad, res.LoadCycles = procMemory(proc, dbPath, exe), r.Cycles
	if after, ok := procCPU(proc); ok && cpuOK {
		res.Load = serveLoad(r, after-serverCPU)
	}
	stop()
	return res, nil
}

// loadServe runs full cycles at concurrency 64 for d against the server
// whose admin kubeconfig is at path, and returns them; at least one
// completed.
func (b *benchServer) loadServe(ctx context.Context, kubeconfig string, d time.Duration) (*BenchCycleResult, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Timeout = -1, benchWaitTimeout
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	r, err := b.runCycles(ctx, cs.CertificatesV1().CertificateSigningRequests(), nil, 64, d)
	if err != nil {
		return nil, fmt.Errorf("load it: %w", err)
	}
	if r.Cycles == 0 {
		return nil, fmt.Errorf("load it: no cycle completed (%d errors, first: %s)", r.Errors, r.FirstError)
	}
	return r, nil
}

// serveLoad splits the CPU time of the cycles r against a separate
// server, which used serverCPU of it; the clients used r.CPUSeconds, the
// bench process's time.
func serveLoad(r *BenchCycleResult, serverCPU time.Duration) *BenchServeLoad {
	l := &BenchServeLoad{Cycles: r, ServerCPUSeconds: serverCPU.Seconds(), ClientCPUSeconds: r.CPUSeconds}
	if r.Cycles > 0 {
		l.ServerCPUMillisPerCycle = l.ServerCPUSeconds * 1000 / float64(r.Cycles)
		l.ClientCPUMillisPerCycle = l.ClientCPUSeconds * 1000 / float64(r.Cycles)
	}
	if l.ServerCPUSeconds > 0 {
		l.ServerCyclesPerCPUSecond = float64(r.Cycles) / l.ServerCPUSeconds
	}
	return l
}

// clockTicksPerSecond is the unit of the CPU times in /proc/PID/stat,
// USER_HZ, which Linux fixes at 100 for user space on every architecture.
const clockTicksPerSecond = 100

// procCPU returns the user and system CPU time of all threads of the
// process whose /proc directory is proc, from its stat file.
func procCPU(proc string) (time.Duration, bool) {
	data, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return 0, false
	}
	return parseProcStatCPU(data)
}

// parseProcStatCPU reads utime and stime, the 14th and 15th fields of a
// /proc/PID/stat line. The second field, the command name in
// parentheses, may itself hold spaces and parentheses, so the fields are
// counted from after its last closing parenthesis.
func parseProcStatCPU(data []byte) (time.Duration, bool) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	// After the command come the state (field 3) and then fields 4 on:
	// utime and stime are the 12th and 13th of these.
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 63)
	stime, err2 := strconv.ParseUint(f[12], 10, 63)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	ticks := utime + stime
	if ticks > uint64(math.MaxInt64/(time.Second/clockTicksPerSecond)) {
		return 0, false
	}
	return time.Duration(ticks) * (time.Second / clockTicksPerSecond), true
}

// readMemory waits until the controllers' cache holds want CSRs (the
// informer follows the store through its watch, a little behind), then
// collects garbage, returns freed pages to the system, so that RSS shows
// what is live rather than what the runtime keeps, and reads the memory.
func (b *benchServer) readMemory(ctx context.Context, want int) (*BenchMemoryResult, error) {
	if err := b.waitCached(ctx, want); err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	exe, _ := os.Executable()
	res := procMemory("/proc/self", b.dbPath, exe)
	res.HeapInuseMB, res.HeapAllocMB = float64(ms.HeapInuse)/(1<<20), float64(ms.HeapAlloc)/(1<<20)
	return res, nil
}

// procMemory reads the resident memory of the process whose /proc
// directory is proc: the whole, its anonymous and file-backed parts, its
// maps of the store file dbPath and of the executable exe, its peak, and
// the size of dbPath.
func procMemory(proc, dbPath, exe string) *BenchMemoryResult {
	res := &BenchMemoryResult{
		RSSMB: procKBOf(proc, "VmRSS") / 1024, PeakRSSMB: procKBOf(proc, "VmHWM") / 1024,
		RSSAnonMB: procKBOf(proc, "RssAnon") / 1024, RSSFileMB: procKBOf(proc, "RssFile") / 1024,
		RSSStoreMB: mappedRSSKBOf(proc, dbPath) / 1024, RSSExecutableMB: mappedRSSKBOf(proc, exe) / 1024,
	}
	if st, err := os.Stat(dbPath); err == nil {
		res.StoreFileMB = float64(st.Size()) / (1 << 20)
	}
	return res
}

// resetPeakRSS restarts the kernel's count of the process's peak RSS
// (VmHWM), where Linux allows it.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// mappedRSSKBOf sums the resident kB of the mappings of path of the
// process whose /proc directory is proc (from its smaps; 0 when
// unavailable or path is empty).
func mappedRSSKBOf(proc, path string) float64 {
	if path == "" {
		return 0
	}
	f, err := os.Open(proc + "/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	var kb float64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			// A mapping header: address perms offset dev inode [path].
			in = len(fields) >= 6 && strings.Join(fields[5:], " ") == path
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			if v, err := strconv.ParseFloat(fields[1], 64); err == nil {
				kb += v
			}
		}
	}
	return kb
}

// waitCached polls, for at most two minutes, until the signing
// controller's informer holds at least want CSRs and its event handlers
// have seen every CSR of its initial list, and the store pages that list
// read have been given back (afterInitialList), as in serve.
func (b *benchServer) waitCached(ctx context.Context, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		n := b.mgr.CachedCount()
		if n >= want && b.mgr.Synced() && b.afterList.Load() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the controllers' cache holds %d of %d CSRs after waiting: %w", n, want, ctx.Err())
		case <-tick.C:
		}
	}
}

// procKBOf reads a kB field of the status file of the process whose /proc
// directory is proc (0 when unavailable).
func procKBOf(proc, key string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(procField(proc+"/status", key), "kB")), 64)
	if err != nil {
		return 0
	}
	return v
}
