package sigma

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// A Sigma finding shows its rule's author and references: in the message the engine
// writes (every view shows it), and as fields of the finding the engine makes (JSON).
func TestFindingShowsAuthorAndReferences(t *testing.T) {
	set, _ := sigmaHQRules(t)
	catalog, err := analyzer.BuiltinRules()
	if err != nil {
		t.Fatal(err)
	}
	rules := append(catalog, set.Rules...)
	ex := event(t, 1, `{"verb":"create","objectRef":{"resource":"pods","subresource":"exec","name":"web"},"requestURI":"/api/v1/namespaces/default/pods/web/exec?command=sh","responseStatus":{"code":101}}`)
	fs := findings(t, rules, ex)
	var sig, cat *analyzer.Finding
	for i := range fs {
		switch fs[i].RuleID {
		case "a1b0ca4e-7835-413e-8471-3ff2b8a66be6":
			sig = &fs[i]
		case "KS-EXEC-001":
			cat = &fs[i]
		}
	}
	if sig == nil || cat == nil {
		t.Fatalf("findings %+v: want the Sigma exec rule and the catalog's", fs)
	}
	want := []string{"Leo Tsaousis (@laripping)", "https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/Exec%20into%20container/"}
	for _, w := range want {
		if !strings.Contains(sig.Message, w) {
			t.Errorf("message %q lacks %q", sig.Message, w)
		}
	}
	// the engine attributes the finding itself: no Attribute call is needed
	b, _ := json.Marshal(*sig)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["author"] != want[0] || m["references"].([]any)[0] != want[1] {
		t.Errorf("finding JSON lacks the attribution: %s", b)
	}
	b, _ = json.Marshal(*cat)
	if strings.Contains(string(b), `"author"`) || strings.Contains(string(b), `"references"`) {
		t.Errorf("a catalog finding changed shape: %s", b)
	}
}
