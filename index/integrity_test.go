package index

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// TestPrepareRefusesUnstorableIDs: an auditID or stage that cannot be a store key is a
// *BadEventError whose message gives its length and fingerprint, not the value; the
// longest accepted ID is stored and found.
func TestPrepareRefusesUnstorableIDs(t *testing.T) {
	ev := func(id, stage string) *auditv1.Event {
		return &auditv1.Event{AuditID: types.UID(id), Stage: auditv1.Stage(stage), Verb: "get",
			RequestReceivedTimestamp: metav1.NewMicroTime(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))}
	}
	for _, c := range []struct {
		ev   *auditv1.Event
		what string
		n    int
	}{
		{ev(strings.Repeat("a", 33000), "ResponseComplete"), "auditID", 33000},
		{ev(strings.Repeat("b", MaxAuditID+1), "ResponseComplete"), "auditID", MaxAuditID + 1},
		{ev("7e5d9b1a-0000-0000-0000-000000000001", strings.Repeat("S", 5000)), "stage", 5000},
	} {
		_, err := Prepare(c.ev)
		var be *BadEventError
		if !errors.As(err, &be) || be.Reason != ReasonBadAuditID {
			t.Fatalf("%s of %d bytes: %v, want a BadEventError", c.what, c.n, err)
		}
		if !strings.Contains(be.Msg, c.what+" of "+itoa(c.n)+" bytes (fingerprint sha256:") || strings.Contains(be.Msg, "aaaa") || strings.Contains(be.Msg, "SSSS") {
			t.Errorf("message %q: want the length and fingerprint, not the value", be.Msg)
		}
	}
	dir := t.TempDir()
	w, err := Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("c", MaxAuditID)
	p, err := Prepare(ev(long, "ResponseComplete"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c, err := Open(dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Row(EventID(long + "/ResponseComplete")); err != nil || r.AuditID != long {
		t.Errorf("an auditID of %d bytes: %v", MaxAuditID, err)
	}
}
