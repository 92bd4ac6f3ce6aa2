package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/realcluster"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestServeRealAPIServer points a real kube-apiserver's audit webhook backend
// (--audit-webhook-config-file, batch mode) at kubesleuth serve over mTLS, with the log
// backend beside it as the reference, and runs the scenarios of internal/realcluster
// (benign and attacks) against it: every event the apiserver logs arrives through the
// webhook, and every (rule, attack auditID) that scan reports over the log is alerted
// exactly once by serve. Skips without the binaries (`make apiserver`); fails under CI.
func TestServeRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if _, err := realcluster.KubectlPath(); err != nil {
		if realcluster.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err := realcluster.Available(""); err != nil {
		if realcluster.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bin := testbin.Path(t)
	dir := t.TempDir()
	clusterDir := filepath.Join(dir, "cluster")
	// one CA for the cluster and serve: serve's certificate and the apiserver's webhook
	// client certificate
	ca, err := realcluster.NewCA(filepath.Join(clusterDir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.Issue("kubesleuth-serve", "kubesleuth-serve", nil, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := ca.Issue("apiserver-audit-webhook", "kube-apiserver-audit-webhook", nil)
	if err != nil {
		t.Fatal(err)
	}
	alerts := filepath.Join(dir, "alerts.jsonl")
	caseW := filepath.Join(dir, "case-webhook")
	sp := startServe(t, bin, dir, "--tls-cert", srvCert.CertFile, "--tls-key", srvCert.KeyFile, "--client-ca", ca.CertFile,
		"--spool", filepath.Join(dir, "spool"), "--case", caseW, "--alert", "jsonl="+alerts, "--group", "1s")

	// the apiserver's webhook config, as serve prints it
	code, kc, errs := ksRunCode("serve", "--print-webhook-config", "--url", sp.url,
		"--server-ca", ca.CertFile, "--client-cert", cliCert.CertFile, "--client-key", cliCert.KeyFile)
	if code != 0 {
		t.Fatalf("print-webhook-config: %d %s", code, errs)
	}
	kcPath := filepath.Join(dir, "webhook.kubeconfig")
	if err := os.WriteFile(kcPath, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	c := realcluster.Start(t, realcluster.Options{Dir: clusterDir, CA: ca,
		Webhook: &realcluster.Webhook{Kubeconfig: kcPath, Mode: "batch", BatchMaxWait: time.Second, InitialBackoff: time.Second}})

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
	time.Sleep(2 * time.Second)
	stopAt := time.Now()
	c.Stop() // the apiserver flushes its last batch as it stops; the log is final

	files, err := realcluster.LogFiles(c.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	logged := map[string]time.Time{} // event → its stage's time
	for _, f := range files {
		if err := realcluster.EachEvent(f, func(e *realcluster.Event) error {
			d.Attribute(e)
			logged[string(e.AuditID)+"/"+string(e.Stage)] = e.StageTimestamp.Time
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// the apiserver has stopped: serve has all it will get once it is idle
	sp.waitIdle(t)
	t.Logf("%d events logged; serve: %v received, %v processed, %v bad, in %v batches answered 200", len(logged),
		sp.metric("kubesleuth_webhook_events_spooled_total"), sp.metric("kubesleuth_events_processed_total"),
		sp.metric("kubesleuth_events_bad_total"), sp.metric(`kubesleuth_webhook_requests_total{code="200"}`))
	for _, r := range []string{"no_client_cert", "bad_client_cert", "too_large", "malformed", "spool_full", "busy"} {
		if n := sp.metric(`kubesleuth_webhook_rejected_total{reason="` + r + `"}`); n != 0 {
			t.Errorf("%v batches refused as %s", n, r)
		}
	}
	if code := sp.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("exit %d after SIGTERM, want 143", code)
	}
	// every event of the log that kubesleuth reads (the reference: an ingest of the log)
	// arrived through the webhook
	caseL := filepath.Join(dir, "case-log")
	if out, err := exec.Command(bin, "ingest", "-q", "--case", caseL, filepath.Dir(c.AuditLogPath)).CombinedOutput(); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	cw, err := index.Open(caseW, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Close()
	cl, err := index.Open(caseL, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var missing []string
	inLog := 0
	for k := range logged {
		if _, err := cl.Row(index.EventID(k)); err != nil {
			continue // not an event kubesleuth reads from the log either
		}
		inLog++
		if _, err := cw.Row(index.EventID(k)); err != nil {
			missing = append(missing, k)
		}
	}
	// The apiserver shuts its buffered (webhook) backend down before it stops serving:
	// the events of its last requests reach the log only, and it says so in its own log
	// ("Error in audit plugin 'buffered' affecting N audit events: audit backend shut
	// down"). Those, and only those, may be missing, all after the stop began.
	apiLog, _ := os.ReadFile(filepath.Join(clusterDir, "kube-apiserver.log"))
	dropped := 0
	for _, m := range regexp.MustCompile(`Error in audit plugin 'buffered' affecting (\d+) audit events: audit backend shut down`).FindAllSubmatch(apiLog, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		dropped += n
	}
	var early []string
	for _, k := range missing {
		if logged[k].Before(stopAt) {
			early = append(early, k+" at "+logged[k].Format(time.RFC3339Nano))
		}
	}
	t.Logf("%d events of the log not sent by the apiserver's webhook backend (it reports %d dropped at its shutdown)", len(missing), dropped)
	if len(early) > 0 || len(missing) > dropped {
		t.Errorf("%d of the %d events of the log did not arrive through the webhook (%d before the apiserver was stopped, e.g. %v; the apiserver reports %d dropped at shutdown)",
			len(missing), inLog, len(early), early[:min(len(early), 10)], dropped)
	}
	if inLog < len(logged)*9/10 {
		t.Errorf("the reference ingest holds %d of the %d logged events", inLog, len(logged))
	}

	l := &tailLog{attacks: map[string]bool{}, want: map[string]int{}}
	for _, r := range d.Runs {
		if r.Kind == realcluster.KindAttack {
			for _, id := range r.AuditIDs {
				l.attacks[id] = true
			}
		}
	}
	out, err := exec.Command(bin, "scan", "-q", "-o", "json", filepath.Dir(c.AuditLogPath)).Output()
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
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt"))
		t.Logf("serve's stderr:\n%s", b)
	}
}
