package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/membudget"
)

// rowsExecutor stands in for the engine: each SELECT sends rows rows of
// one series in pieces of 1,000, as the engine streams a long series
// (Partial on all pieces but the last).
type rowsExecutor struct{ rows int }

func (e rowsExecutor) ExecuteStatement(ectx *ExecutionContext, _ influxql.Statement) error {
	for from := 0; from < e.rows; from += 1000 {
		n := min(1000, e.rows-from)
		vals := make([][]any, n)
		for i := range vals {
			vals[i] = []any{int64(from + i), float64(from+i) / 4}
		}
		more := from+n < e.rows
		row := &Row{Name: "cpu", Columns: []string{"time", "v"}, Values: vals, Partial: more}
		if err := ectx.Send(&Result{Series: []*Row{row}}); err != nil {
			return err
		}
	}
	return nil
}

func memoryHandler(rows int, pool *membudget.Pool) *Handler {
	return New(Options{Store: newFakeStore("db"), Executor: &MetaExecutor{Store: newFakeStore("db"), Next: rowsExecutor{rows}},
		Logger: discardLogger(), QueryMemory: pool})
}

// TestQueryMemoryNonChunked: a non-chunked answer is gathered within the
// budget. Under it, the bytes are those without a budget; past it, the
// statement that passes it gets InfluxDB-style statement error naming
// the limit (HTTP 200), the later ones "not executed", the rejection is
// counted, and the budget is given back.
func TestQueryMemoryNonChunked(t *testing.T) {
	q := "SELECT v FROM cpu; SELECT v FROM cpu; SELECT v FROM cpu"
	_, want := getQuery(memoryHandler(20_000, nil), q, "db=db")
	for _, args := range []string{"db=db", "db=db&pretty=true", "db=db&epoch=s"} {
		_, plain := getQuery(memoryHandler(20_000, nil), q, args)
		pool := membudget.NewPool(64<<20, 0)
		_, got := getQuery(memoryHandler(20_000, pool), q, args)
		if got != plain {
			t.Errorf("%s: the answer within the budget differs", args)
		}
		if st := pool.Stats(); st.Used != 0 || st.Peak == 0 {
			t.Errorf("%s: pool %+v", args, st)
		}
	}
	if !strings.HasPrefix(want, `{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[0,0],[1,0.25],`) ||
		strings.Count(want, `"statement_id"`) != 3 || strings.Count(want, `"name"`) != 3 {
		t.Fatalf("pieces not joined: %.200s", want)
	}

	// A budget between what one statement and what two take: the
	// second statement passes it.
	peak := func(q string) int64 {
		pool := membudget.NewPool(0, 0)
		getQuery(memoryHandler(20_000, pool), q, "db=db")
		return pool.Stats().Peak
	}
	one, two := peak("SELECT v FROM cpu"), peak("SELECT v FROM cpu; SELECT v FROM cpu")
	if two <= one {
		t.Fatalf("two statements accounted %d bytes, one %d", two, one)
	}
	limit := (one + two) / 2
	pool := membudget.NewPool(limit, 0)
	h := memoryHandler(20_000, pool)
	code, body := getQuery(h, q, "db=db")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	first := want[:strings.Index(want, `,{"statement_id":1`)]
	tail := `,{"statement_id":1,"error":"max-query-memory limit exceeded: `
	if !strings.HasPrefix(body, first+tail) ||
		!strings.HasSuffix(body, fmt.Sprintf(`/%d bytes); use LIMIT, a narrower time range or chunked=true"},{"statement_id":2,"error":"not executed"}]}`, limit)+"\n") {
		t.Fatalf("got %.300s ... %s", body, body[max(0, len(body)-200):])
	}
	if st := pool.Stats(); st.Rejected != 1 || st.Used != 0 {
		t.Errorf("pool %+v, want 1 rejection, nothing held", st)
	}
	w := do(h, req{method: "GET", url: "/debug/vars"})
	if !strings.Contains(w.Body.String(), `"queryMemoryRejected":1`) {
		t.Errorf("/debug/vars lacks the rejection: %s", w.Body.String())
	}

	// Chunked, nothing is gathered: the same budget answers everything.
	_, body = getQuery(h, q, "db=db&chunked=true")
	if strings.Contains(body, "error") || strings.Count(body, "\n") != 3*20 {
		t.Errorf("chunked: %d lines, %.200s", strings.Count(body, "\n"), body)
	}
}

// heapWriter is a ResponseWriter that discards the body and samples the
// heap as it is written.
type heapWriter struct {
	header http.Header
	bytes  int64
	writes int
	peak   uint64
}

func (w *heapWriter) Header() http.Header { return w.header }
func (w *heapWriter) WriteHeader(int)     {}
func (w *heapWriter) Write(b []byte) (int, error) {
	w.bytes += int64(len(b))
	if w.writes++; w.writes%16 == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.peak = max(w.peak, ms.HeapAlloc)
	}
	return len(b), nil
}

// TestQueryChunkedStreams: a chunked answer of 2 M rows (about 150 MB
// of values were they gathered) goes out piece by piece: the heap stays
// flat.
func TestQueryChunkedStreams(t *testing.T) {
	const rows = 2_000_000
	h := memoryHandler(rows, membudget.NewPool(8<<20, 0))
	r := httptest.NewRequest("GET", "/query?db=db&chunked=true&q="+url.QueryEscape("SELECT v FROM cpu"), nil)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &heapWriter{header: http.Header{}, peak: ms.HeapAlloc}
	h.ServeHTTP(w, r)
	if w.writes != rows/1000 {
		t.Fatalf("%d chunks written, want %d", w.writes, rows/1000)
	}
	if grown := int64(w.peak) - int64(ms.HeapAlloc); grown > 32<<20 {
		t.Errorf("heap grew by %d MiB streaming %d MB", grown>>20, w.bytes>>20)
	}
	t.Logf("%d MB in %d chunks, heap +%d KiB", w.bytes>>20, w.writes, (int64(w.peak)-int64(ms.HeapAlloc))>>10)
}

// TestBlockBuffer checks that the blocks keep every byte in order and
// that capAfter foretells the capacity a write leaves.
func TestBlockBuffer(t *testing.T) {
	for _, sizes := range [][]int{{10}, {5000}, {1 << 20}, {3, 4093, 1, 70000, 65536, 200000}, {0, 0, 1}} {
		var b blockBuffer
		var want []byte
		for i, n := range sizes {
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(i + j)
			}
			predicted := b.capAfter(n)
			b.Write(p)
			want = append(want, p...)
			if b.cap() != predicted {
				t.Errorf("%v: write %d: cap %d, capAfter said %d", sizes, i, b.cap(), predicted)
			}
			if b.cap() < int64(len(want)) || b.cap() > 2*int64(len(want))+blockSize {
				t.Errorf("%v: cap %d for %d bytes", sizes, b.cap(), len(want))
			}
		}
		var got strings.Builder
		if _, err := b.WriteTo(&got); err != nil || got.String() != string(want) {
			t.Errorf("%v: bytes differ (%v)", sizes, err)
		}
	}
}
