package storage

import (
	"fmt"
	"math"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

func encodeTestRecord(points []models.Point) []byte {
	rec := []byte{walRecordVersion}
	rec = appendWALBatchHeader(rec, "db", "autogen", 42, len(points))
	for i := range points {
		rec = appendWALPoint(rec, models.AppendSeriesKey(nil, points[i].Measurement, points[i].Tags), &points[i])
	}
	rec = append(rec, dropDBEntry("x")...)
	return append(rec, dropRPEntry("db", "r")...)
}

func TestWALRecordRoundTrip(t *testing.T) {
	points := []models.Point{
		pt("cpu", models.Tags{{Key: "host", Value: "a b"}, {Key: "k,=", Value: "v=,"}}, -5,
			models.FloatField("f", math.NaN()), models.IntegerField("i", math.MinInt64), models.UnsignedField("u", math.MaxUint64),
			models.BooleanField("b", true), models.StringField("s", "q\"\\\n")),
		pt("m e", nil, math.MaxInt64, models.FloatField("x", math.Inf(-1))),
	}
	entries, err := decodeWALRecord(encodeTestRecord(points))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[0].kind != kindBatch || entries[1].kind != kindDropDB || entries[2].kind != kindDropRP {
		t.Fatalf("entries: %+v", entries)
	}
	if got, want := fmt.Sprintf("%v", entries[0].points), fmt.Sprintf("%v", points); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if entries[0].db != "db" || entries[0].rp != "autogen" || entries[2].rp != "r" {
		t.Fatalf("names: %+v", entries)
	}
}

func FuzzDecodeWALRecord(f *testing.F) {
	f.Add(encodeTestRecord([]models.Point{pt("cpu", hostA, 1, models.FloatField("f", 1), models.StringField("s", "x"))}))
	f.Add([]byte{walRecordVersion, kindBatch, 2, 'd', 'b', 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{walRecordVersion, kindDropDB, 100})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeWALRecord(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same entries.
		for _, en := range entries {
			if en.kind != kindBatch {
				continue
			}
			for i := range en.points {
				if len(en.points[i].Fields) == 0 {
					t.Fatal("point without fields decoded")
				}
			}
		}
	})
}

func TestWALFloatsRoundTripBitForBit(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 46.7, 0.1, 0.25, 1e-9, 123456789.123, 54.08239700374532,
		math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, -(1 << 60), 0.30000000000000004}
	var pts []models.Point
	for i, v := range vals {
		pts = append(pts, pt("m", nil, int64(i), models.FloatField("f", v)))
	}
	entries, err := decodeWALRecord(encodeTestRecord(pts))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range entries[0].points {
		if p.Fields[0].Num != math.Float64bits(vals[i]) {
			t.Errorf("%v came back as %v", vals[i], p.Fields[0].Float())
		}
	}
	for _, v := range []float64{46.7, 0.25, 1024} {
		if _, _, ok := decimalOf(math.Float64bits(v)); !ok {
			t.Errorf("%v not stored as a decimal", v)
		}
	}
}

// TestWALRecordVersion1StillDecodes: version 1 batches had no accept time.
func TestWALRecordVersion1StillDecodes(t *testing.T) {
	p := pt("cpu", hostA, 7, models.FloatField("f", 1.5))
	rec := []byte{walRecordVersion1, kindBatch}
	rec = appendStr(appendStr(rec, "db"), "autogen")
	rec = append(rec, 1)
	rec = appendWALPoint(rec, models.AppendSeriesKey(nil, p.Measurement, p.Tags), &p)
	entries, err := decodeWALRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].hasNow || fmt.Sprint(entries[0].points) != fmt.Sprint([]models.Point{p}) {
		t.Fatalf("entries: %+v", entries)
	}
	v2, err := decodeWALRecord(encodeTestRecord([]models.Point{p}))
	if err != nil || !v2[0].hasNow || v2[0].now != 42 {
		t.Fatalf("version 2: %+v, %v", v2, err)
	}
}
