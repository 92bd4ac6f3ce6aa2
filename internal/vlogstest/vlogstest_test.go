package vlogstest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSingleAndCluster ingests one line through each shape and reads it back through the
// same URL; in the cluster the line lives on one of the two storage nodes. Stop ends
// every process (its PID no longer exists).
func TestSingleAndCluster(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		s := Start(t, Options{Cluster: cluster})
		body := `{"create":{}}` + "\n" + `{"_msg":"hello","_time":"2001-02-03T04:05:06Z","k":"v1"}` + "\n"
		resp, err := http.Post(s.URL+"/insert/elasticsearch/_bulk", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("bulk: %s", resp.Status)
		}
		var got string
		for i := 0; i < 100 && !strings.Contains(got, `"v1"`); i++ {
			for _, su := range s.Storage {
				r, err := http.Get(su + "/internal/force_flush")
				if err == nil {
					r.Body.Close()
				}
			}
			r, err := http.PostForm(s.URL+"/select/logsql/query", url.Values{"query": {"k:v1"}, "start": {"2001-01-01T00:00:00Z"}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			got = string(b)
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(got, `"_msg":"hello"`) {
			t.Fatalf("cluster=%v: the line did not come back: %q", cluster, got)
		}
		pids := s.PIDs()
		if want := map[bool]int{false: 1, true: 3}[cluster]; len(pids) != want {
			t.Fatalf("cluster=%v: %d processes, want %d", cluster, len(pids), want)
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		for name, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("%s (pid %d) still runs after Stop", name, pid)
			}
		}
	}
}
