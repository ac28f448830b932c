package membudget

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestAccountLimits(t *testing.T) {
	cases := []struct {
		name            string
		perQuery, total int64
		grows           []int64
		wantErr         string // setting of the failing (last) Grow; "" none
		wantHeld        int64
	}{
		{"no limits", 0, 0, []int64{1 << 40, 1 << 40}, "", 2 << 40},
		{"within", 100, 1000, []int64{40, 60}, "", 100},
		{"per query", 100, 1000, []int64{40, 61}, QuerySetting, 40},
		{"total", 1000, 100, []int64{40, 61}, TotalSetting, 40},
		{"zero and negative ignored", 10, 10, []int64{0, -5, 10}, "", 10},
	}
	for _, tc := range cases {
		p := NewPool(tc.perQuery, tc.total)
		a := p.Account()
		var err error
		for _, n := range tc.grows {
			err = a.Grow(n)
		}
		var ex *ExceededError
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (!errors.As(err, &ex) || ex.Setting != tc.wantErr):
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), "chunked=true"):
			t.Errorf("%s: %q says nothing of what to do", tc.name, err)
		}
		if a.Held() != tc.wantHeld || p.Stats().Used != tc.wantHeld {
			t.Errorf("%s: held %d, pool %+v, want %d", tc.name, a.Held(), p.Stats(), tc.wantHeld)
		}
		if want := int64(0); tc.wantErr != "" {
			want = 1
			if p.Stats().Rejected != want {
				t.Errorf("%s: %d rejections", tc.name, p.Stats().Rejected)
			}
		}
		a.Close()
		if p.Stats().Used != 0 || a.Held() != 0 {
			t.Errorf("%s: %+v after Close", tc.name, p.Stats())
		}
	}
}

func TestNilAccountAndPool(t *testing.T) {
	var a *Account
	if err := a.Grow(1 << 50); err != nil {
		t.Fatal(err)
	}
	a.Shrink(1)
	a.Close()
	var p *Pool
	b := p.Account()
	if err := b.Grow(1 << 50); err != nil || b.Held() != 1<<50 {
		t.Fatalf("%v %d", err, b.Held())
	}
	if (p.Stats() != Stats{}) {
		t.Fatal(p.Stats())
	}
}

// TestConcurrentAccounts shares a total among goroutines: it is never
// passed, and everything is given back.
func TestConcurrentAccounts(t *testing.T) {
	p := NewPool(0, 1000)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := p.Account()
			defer a.Close()
			for i := 0; i < 1000; i++ {
				if a.Grow(10) == nil && i%3 == 0 {
					a.Shrink(10)
				}
				if u := p.Stats().Used; u > 1000 {
					t.Errorf("used %d", u)
				}
			}
		}()
	}
	wg.Wait()
	if st := p.Stats(); st.Used != 0 || st.Peak > 1000 || st.Rejected == 0 {
		t.Fatalf("%+v", st)
	}
}

func TestRowsSize(t *testing.T) {
	got := RowsSize([][]any{{int64(1), "abc", nil}, {1.5, true, nil}})
	want := int64(2*SliceHeader + (Interface + 8) + (Interface + 16 + 3) + Interface + (Interface + 8) + Interface + Interface)
	if got != want {
		t.Fatalf("%d, want %d", got, want)
	}
}
