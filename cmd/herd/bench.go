package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/herdmon/herd/internal/benchgen"
)

const benchUsage = `usage: herd bench <mode> [flags]

modes:
  write   generate realistic devops data (Telegraf's inputs, N hosts every 10 s)
          and POST it to /write, or save it with --out FILE
  send    replay a line-protocol file (made by 'write --out') to /write, so
          that generation cost stays outside the measurement

The last line of the output is a JSON summary for scripts.
Run 'herd bench <mode> -h' for the flags of a mode.`

func runBench(args []string) int { return benchMain(args, os.Stdout, os.Stderr) }

// benchMain is runBench with its output streams, for tests.
func benchMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, benchUsage)
		return 2
	}
	switch args[0] {
	case "write":
		return benchWrite(args[1:], stdout, stderr)
	case "send":
		return benchSend(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, benchUsage)
		return 0
	}
	fmt.Fprintf(stderr, "herd bench: unknown mode %q\n\n%s\n", args[0], benchUsage)
	return 2
}

// sendFlags are the flags write and send share.
type sendFlags struct {
	url, db        string
	workers, batch int
	gzip, createDB bool
	timeout        time.Duration
	quiet          bool
	progressEvery  time.Duration
}

func (s *sendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.url, "url", "http://127.0.0.1:8086", "base URL of the server")
	fs.StringVar(&s.db, "db", "benchmark", "database to write to")
	fs.IntVar(&s.workers, "workers", 2, "concurrent writers")
	fs.IntVar(&s.batch, "batch", 5000, "points per /write request")
	fs.BoolVar(&s.gzip, "gzip", false, "send gzip-compressed bodies")
	fs.BoolVar(&s.createDB, "create-db", true, "send CREATE DATABASE first")
	fs.DurationVar(&s.timeout, "timeout", time.Minute, "limit for each request")
	fs.BoolVar(&s.quiet, "quiet", false, "no progress lines on stderr")
	fs.DurationVar(&s.progressEvery, "progress", 10*time.Second, "interval of the progress lines")
}

func (s *sendFlags) validate() error {
	if s.workers < 1 {
		return fmt.Errorf("--workers must be at least 1")
	}
	if s.batch < 1 {
		return fmt.Errorf("--batch must be at least 1")
	}
	return nil
}

// summary is the machine-readable last line of the output.
type summary struct {
	Mode           string           `json:"mode"`
	Points         int64            `json:"points"`
	Values         int64            `json:"values"`
	Batches        int64            `json:"batches,omitempty"`
	Bytes          int64            `json:"bytes"`
	WallSeconds    float64          `json:"wall_seconds"`
	PointsPerSec   float64          `json:"points_per_sec"`
	ValuesPerSec   float64          `json:"values_per_sec"`
	Start          int64            `json:"start_ns,omitempty"`
	End            int64            `json:"end_ns,omitempty"`
	PerMeasurement map[string]int64 `json:"per_measurement"`
}

func printSummary(w io.Writer, s summary) {
	fmt.Fprintf(w, "points      %d\n", s.Points)
	fmt.Fprintf(w, "values      %d\n", s.Values)
	if s.Batches > 0 {
		fmt.Fprintf(w, "batches     %d\n", s.Batches)
	}
	fmt.Fprintf(w, "bytes       %d\n", s.Bytes)
	fmt.Fprintf(w, "wall        %.3fs\n", s.WallSeconds)
	fmt.Fprintf(w, "points/s    %.0f\n", s.PointsPerSec)
	fmt.Fprintf(w, "values/s    %.0f\n", s.ValuesPerSec)
	b, _ := json.Marshal(s)
	fmt.Fprintf(w, "%s\n", b)
}

func benchWrite(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herd bench write", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf sendFlags
	sf.register(fs)
	hosts := fs.Int("hosts", 100, "number of simulated hosts")
	span := fs.Duration("duration", 24*time.Hour, "time span the data covers")
	interval := fs.Duration("interval", benchgen.DefaultInterval, "report interval of each host")
	startStr := fs.String("start", "", "first timestamp (RFC 3339); default: now minus --duration, so the data is recent")
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same data")
	out := fs.String("out", "", "write the line protocol to this file instead of sending it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "herd bench write: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := sf.validate(); err != nil {
		fmt.Fprintf(stderr, "herd bench write: %v\n", err)
		return 2
	}
	if *interval <= 0 || *span <= 0 {
		fmt.Fprintln(stderr, "herd bench write: --duration and --interval must be positive")
		return 2
	}
	steps := benchgen.StepsFor(*span, *interval)
	start := benchgen.RecentStart(time.Now(), steps, *interval)
	if *startStr != "" {
		t, err := time.Parse(time.RFC3339, *startStr)
		if err != nil {
			fmt.Fprintf(stderr, "herd bench write: --start: %v\n", err)
			return 2
		}
		start = t
	}
	gen, err := benchgen.NewGenerator(benchgen.Config{
		Hosts: *hosts, Start: start, Interval: *interval, Steps: steps, Seed: *seed,
	})
	if err != nil {
		fmt.Fprintf(stderr, "herd bench write: %v\n", err)
		return 2
	}
	startNs, endNs := start.Truncate(*interval).UnixNano(), gen.End().UnixNano()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *out != "" {
		s, err := generateFile(ctx, gen, *out, sf.batch)
		if err != nil {
			fmt.Fprintf(stderr, "herd bench write: %v\n", err)
			return 1
		}
		s.Start, s.End = startNs, endNs
		printSummary(stdout, s)
		return 0
	}
	s, err := send(ctx, sf, &benchgen.GenSource{Gen: gen, BatchSize: sf.batch}, stderr)
	s.Mode, s.Start, s.End = "write", startNs, endNs
	if err != nil {
		fmt.Fprintf(stderr, "herd bench write: %v\n", err)
		return 1
	}
	printSummary(stdout, s)
	return 0
}

// generateFile writes the generator's whole output to path.
func generateFile(ctx context.Context, gen *benchgen.Generator, path string, chunk int) (summary, error) {
	f, err := os.Create(path)
	if err != nil {
		return summary{}, err
	}
	bw := bufio.NewWriterSize(f, 4<<20)
	began := time.Now()
	var buf []byte
	var written int64
	for !gen.Done() {
		if err := ctx.Err(); err != nil {
			f.Close()
			return summary{}, err
		}
		buf, _, _ = gen.Append(buf[:0], chunk)
		n, err := bw.Write(buf)
		written += int64(n)
		if err != nil {
			f.Close()
			return summary{}, fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return summary{}, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return summary{}, fmt.Errorf("close %s: %w", path, err)
	}
	c := gen.Counts()
	wall := time.Since(began)
	return summary{
		Mode: "generate", Points: c.Points, Values: c.Values, Bytes: written,
		WallSeconds:  wall.Seconds(),
		PointsPerSec: float64(c.Points) / wall.Seconds(), ValuesPerSec: float64(c.Values) / wall.Seconds(),
		PerMeasurement: c.PerMeasurement,
	}, nil
}

func benchSend(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herd bench send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf sendFlags
	sf.register(fs)
	file := fs.String("file", "", "line-protocol file to replay (- for standard input)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "herd bench send: --file is required, and nothing else")
		return 2
	}
	if err := sf.validate(); err != nil {
		fmt.Fprintf(stderr, "herd bench send: %v\n", err)
		return 2
	}
	var r io.Reader = os.Stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintf(stderr, "herd bench send: %v\n", err)
			return 1
		}
		defer f.Close()
		r = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := send(ctx, sf, benchgen.NewFileSource(r, sf.batch), stderr)
	s.Mode = "send"
	if err != nil {
		fmt.Fprintf(stderr, "herd bench send: %v\n", err)
		return 1
	}
	printSummary(stdout, s)
	return 0
}

// send creates the database if asked and sends every batch of src.
func send(ctx context.Context, sf sendFlags, src benchgen.Source, stderr io.Writer) (summary, error) {
	cfg := benchgen.SendConfig{URL: sf.url, DB: sf.db, Workers: sf.workers, Gzip: sf.gzip, Timeout: sf.timeout}
	if !sf.quiet {
		cfg.ProgressEvery = sf.progressEvery
		cfg.Progress = func(points, values int64, elapsed time.Duration) {
			fmt.Fprintf(stderr, "%6.0fs  %d points  %d values  %.0f values/s\n",
				elapsed.Seconds(), points, values, float64(values)/elapsed.Seconds())
		}
	}
	if sf.createDB {
		cctx, cancel := context.WithTimeout(ctx, sf.timeout)
		err := benchgen.CreateDatabase(cctx, nil, sf.url, sf.db)
		cancel()
		if err != nil {
			return summary{}, err
		}
	}
	res, err := benchgen.Send(ctx, cfg, src)
	s := summary{
		Points: res.Points, Values: res.Values, Batches: res.Batches, Bytes: res.Bytes,
		WallSeconds: res.Wall.Seconds(), PointsPerSec: res.PointsPerSec(), ValuesPerSec: res.ValuesPerSec(),
		PerMeasurement: res.PerMeasurement,
	}
	if err != nil {
		var we *benchgen.WriteError
		if errors.As(err, &we) {
			return s, fmt.Errorf("%w (after %d points acknowledged)", err, res.Points)
		}
		return s, fmt.Errorf("after %d points acknowledged: %w", res.Points, err)
	}
	return s, nil
}
