package analyzer

import (
	"testing"
	"time"
)

// execWeb is an exec by alice into one pod.
const execWeb = `{"verb":"create","requestURI":"/api/v1/namespaces/prod/pods/web/exec?command=sh","objectRef":{"resource":"pods","namespace":"prod","name":"web","subresource":"exec"}}`

// TestEngineUpdates checks the stream of finding updates a live sink receives: one
// Opened per finding with its evidence, a Grew per repeat folded into it with the evidence
// it added, and, when the engine forgets, a Closed once the fold window (an hour by
// default) has passed at the engine's clock, after which the finding is gone from Result
// and SaveState while a batch engine keeps it.
func TestEngineUpdates(t *testing.T) {
	for _, forget := range []bool{false, true} {
		e := testEngine(t)
		e.SetForget(forget)
		var ups []Update
		e.OnUpdate(func(u Update) { ups = append(ups, u) })
		e.Observe(ev(t, 1, 0, execWeb))
		e.Observe(ev(t, 2, time.Minute, execWeb))
		e.Observe(ev(t, 3, 2*time.Minute, execWeb))
		// two hours later: the fold of the first finding has closed; a new one opens
		e.Observe(ev(t, 4, 2*time.Hour, execWeb))
		var kinds []UpdateKind
		for _, u := range ups {
			if u.Finding.RuleID == "T-EXEC-001" {
				kinds = append(kinds, u.Kind)
			}
		}
		want := []UpdateKind{Opened, Grew, Grew, Opened}
		if forget {
			want = []UpdateKind{Opened, Grew, Grew, Closed, Opened}
		}
		if len(kinds) != len(want) {
			t.Fatalf("forget=%v: updates %v, want %v", forget, kinds, want)
		}
		for i := range want {
			if kinds[i] != want[i] {
				t.Fatalf("forget=%v: updates %v, want %v", forget, kinds, want)
			}
		}
		if ups[0].Finding.Count != 1 || len(ups[0].NewIDs) != 1 || ups[0].NewIDs[0] != "id-1" {
			t.Errorf("opened: count %d new %v", ups[0].Finding.Count, ups[0].NewIDs)
		}
		if ups[1].Added != 1 || len(ups[1].NewIDs) != 1 || ups[1].NewIDs[0] != "id-2" || ups[1].Finding.Count != 2 {
			t.Errorf("grew: added %d new %v count %d", ups[1].Added, ups[1].NewIDs, ups[1].Finding.Count)
		}
		// the update is a copy: a sink keeping it does not see later changes
		if len(ups[1].Finding.AuditIDs) != 2 {
			t.Errorf("grew: %d audit IDs in the copy, want 2", len(ups[1].Finding.AuditIDs))
		}
		res := e.Result()
		if forget {
			if c := ups[3]; c.Finding.Count != 3 || len(c.Finding.AuditIDs) != 3 {
				t.Errorf("closed: count %d ids %v", c.Finding.Count, c.Finding.AuditIDs)
			}
			if len(res.Findings) != 1 || res.Findings[0].Count != 1 {
				t.Errorf("forgetting engine: %d findings in the result, want only the open one", len(res.Findings))
			}
			// the state holds the open finding only: a daemon's checkpoint stays small
			st, err := e.SaveState()
			if err != nil {
				t.Fatal(err)
			}
			f := e.Fresh()
			if err := f.RestoreState(st); err != nil {
				t.Fatal(err)
			}
			if n := len(f.Result().Findings); n != 1 {
				t.Errorf("restored %d findings, want 1", n)
			}
		} else if len(res.Findings) != 2 {
			t.Errorf("batch engine: %d findings, want 2 (it forgets nothing)", len(res.Findings))
		}
	}
}

// TestEngineForgetsBounded feeds a day of distinct findings to a forgetting engine: the
// findings it holds stay those of the last fold window, not the day's.
func TestEngineForgetsBounded(t *testing.T) {
	e := testEngine(t)
	e.SetForget(true)
	closed := 0
	e.OnUpdate(func(u Update) {
		if u.Kind == Closed {
			closed++
		}
	})
	for i := 0; i < 24*60; i++ { // one exec a minute, each into another pod
		e.Observe(ev(t, i, time.Duration(i)*time.Minute, `{"verb":"create","requestURI":"/api/v1/namespaces/prod/pods/p/exec?command=sh","objectRef":{"resource":"pods","namespace":"prod","name":"pod-`+itoa(i)+`","subresource":"exec"}}`))
	}
	n := len(e.Result().Findings)
	if n > 62 || n < 59 {
		t.Errorf("%d findings held after a day, want the last hour's (~60)", n)
	}
	if closed < 24*60-62 {
		t.Errorf("%d closed, want the rest of the day's", closed)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
