package lineproto

import "testing"

func TestDropTimeKeys(t *testing.T) {
	f := func(body string, wantKept string, wantDropped int, wantReason string) {
		t.Helper()
		var p Parser
		pts, err := p.Parse(nil, []byte(body), now, 1)
		if err != nil {
			t.Fatal(err)
		}
		kept, dropped, reason := DropTimeKeys(pts)
		var got []byte
		for i := range kept {
			got = AppendPoint(got, &kept[i])
		}
		if string(got) != wantKept || dropped != wantDropped || reason != wantReason {
			t.Errorf("DropTimeKeys(%q) = %q, %d, %q; want %q, %d, %q", body, got, dropped, reason, wantKept, wantDropped, wantReason)
		}
	}
	f("time value=1 1\nm value=1 2\n", "time value=1 1\nm value=1 2\n", 0, "")
	f("mymeas time=1 1\n", "", 1, `invalid field name: input field "time" on measurement "mymeas" is invalid`)
	f("mymeas,time=1 value=1 1\n", "", 1, `invalid tag key: input tag "time" on measurement "mymeas" is invalid`)
	f("m time=1,value=2 1\nm,time=x v=1 2\nm time=3 3\nok v=1 4\n", "m value=2 1\nok v=1 4\n", 2,
		`invalid tag key: input tag "time" on measurement "m" is invalid`)
	f("m,a=1,timex=2 v=1,times=2 1\n", "m,a=1,timex=2 v=1,times=2 1\n", 0, "")
}
