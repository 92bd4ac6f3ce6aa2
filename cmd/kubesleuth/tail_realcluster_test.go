package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/realcluster"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestTailRealAPIServer follows the audit log of a real kube-apiserver (rotating every
// megabyte, lumberjack's audit-<time>.log) while the scenarios of internal/realcluster
// run against it, benign and attacks: every (rule, attack auditID) that scan reports over
// the finished log is alerted exactly once by tail. Skips without the binaries (`make
// apiserver`); fails under CI.
func TestTailRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if _, err := realcluster.KubectlPath(); err != nil {
		if realcluster.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bin := testbin.Path(t)
	c := realcluster.Start(t, realcluster.Options{AuditLog: realcluster.AuditLog{MaxSizeMB: 1}})
	dir := t.TempDir()
	logDir := filepath.Dir(c.AuditLogPath)
	state := filepath.Join(dir, "tail.state")
	alerts := filepath.Join(dir, "alerts.jsonl")
	p := startTail(t, bin, dir, logDir, "--from-start", "--state", state, "--alert", "jsonl="+alerts, "--poll", "50ms", "--group", "1s")

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	d := realcluster.NewDriver(ctx, c, t.Logf)
	d.KubeletStandIn = true
	for _, sc := range realcluster.Scenarios() {
		if err := d.Run(sc); err != nil {
			t.Logf("scenario %s: %v", sc.Name, err)
		}
	}
	if err := d.StopNodes(); err != nil {
		t.Logf("nodes: %v", err)
	}
	time.Sleep(2 * time.Second) // the last ResponseComplete events reach the file
	c.Stop()                    // nothing more is written: the log is final
	waitCaughtUp(t, state, c.AuditLogPath, p)
	if code := p.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("exit %d after SIGTERM, want 143", code)
	}
	files, err := realcluster.LogFiles(c.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("the log rotated %d time(s): the test wants rotations", len(files)-1)
	}
	t.Logf("%d log files", len(files))

	// which events belong to which scenario: the driver attributes them by time span,
	// actor and the objects each scenario caused
	for _, f := range files {
		if err := realcluster.EachEvent(f, func(e *realcluster.Event) error { d.Attribute(e); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	l := &tailLog{attacks: map[string]bool{}, want: map[string]int{}}
	for _, r := range d.Runs {
		if r.Kind == realcluster.KindAttack {
			for _, id := range r.AuditIDs {
				l.attacks[id] = true
			}
		}
	}
	out, err := exec.Command(bin, "scan", "-q", "-o", "json", logDir).Output()
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	var res struct {
		Findings []struct {
			RuleID   string   `json:"rule_id"`
			AuditIDs []string `json:"audit_ids"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		for _, id := range f.AuditIDs {
			if l.attacks[id] {
				l.want[f.RuleID+" "+id]++
			}
		}
	}
	if len(l.want) < 10 {
		t.Fatalf("scan alerts on only %d (rule, attack event) pairs of the real log", len(l.want))
	}
	t.Logf("%d attack requests, %d (rule, attack event) pairs to alert", len(l.attacks), len(l.want))
	checkAlerts(t, l, alerts)
	if b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt")); len(b) > 0 {
		t.Logf("stderr:\n%s", b)
	}
}
