package generate

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

func share(f float64) *float64 { return &f }

// variants are the log shapes every invariant is checked on.
var variants = []struct {
	name string
	opts Options
}{
	{"omit=RequestReceived", Options{OmitStages: []string{"RequestReceived"}}},
	{"omit=both", Options{OmitStages: []string{"RequestReceived", "ResponseStarted"}}},
	{"identities=500", Options{Identities: 500}},
	{"identities=100000", Options{Identities: 100000}},
	{"unique=all", Options{Unique: UniqueFields}},
	{"apiservers=3", Options{APIServers: 3}},
	{"bodies=0", Options{Bodies: share(0)}},
	{"bodies=0.3", Options{Bodies: share(0.3)}},
	{"bodies=1", Options{Bodies: share(1)}},
	{"managed", Options{OmitStages: []string{"RequestReceived"}, Identities: 500, APIServers: 3, Bodies: share(0.4), Unique: []string{"name"}}},
}

// TestVariantsAreApiserverShaped holds every variant to what TestEventsAreApiserverShaped
// and TestAttackLabels hold the default to: each line is an auditv1.Event encoding/json
// renders to the same bytes, the stats match the log, every label names an event of the
// log that looks like its scenario, every scenario has events, and Stats.SecretValues is
// exactly what the log discloses.
func TestVariantsAreApiserverShaped(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			opts := v.opts
			opts.Events, opts.Seed, opts.Attacks = 6000, 21, true
			log, labelBytes, st := gen(t, opts)
			ls := lines(log)
			if len(ls) != opts.Events || st.Events != opts.Events || st.Bytes != int64(len(log)) {
				t.Fatalf("%d lines, Stats.Events %d, Stats.Bytes %d for %d bytes; want %d events", len(ls), st.Events, st.Bytes, len(log), opts.Events)
			}
			evs := decodeAll(t, log)
			byKey := map[string]*auditv1.Event{}
			stages := map[string]int{}
			for i := range evs {
				ev := &evs[i]
				again, err := json.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, ls[i]) {
					t.Fatalf("line %d differs from encoding/json's rendering:\n got %s\nwant %s", i+1, ls[i], again)
				}
				if ev.StageTimestamp.Before(&ev.RequestReceivedTimestamp) {
					t.Errorf("line %d: stageTimestamp before requestReceivedTimestamp", i+1)
				}
				key := string(ev.AuditID) + "/" + string(ev.Stage)
				if byKey[key] != nil {
					t.Fatalf("line %d: auditID %s has stage %s twice", i+1, ev.AuditID, ev.Stage)
				}
				byKey[key] = ev
				stages[string(ev.Stage)]++
			}
			ids := map[string]bool{}
			for _, ev := range evs {
				ids[string(ev.AuditID)] = true
			}
			if len(ids) != st.Requests {
				t.Errorf("Stats.Requests = %d, log has %d auditIDs", st.Requests, len(ids))
			}
			for k, n := range stages {
				if st.Stages[k] != n {
					t.Errorf("Stats.Stages[%s] = %d, log has %d", k, st.Stages[k], n)
				}
			}
			counts := map[string]int{}
			for i, l := range lines(labelBytes) {
				var lb label
				if err := json.Unmarshal(l, &lb); err != nil {
					t.Fatalf("labels line %d: %v", i+1, err)
				}
				ev := byKey[lb.AuditID+"/"+lb.Stage]
				if ev == nil {
					t.Fatalf("label %+v names no event of the log", lb)
				}
				if !signatures[lb.Scenario](ev) {
					b, _ := json.Marshal(ev)
					t.Errorf("event labelled %s does not look like it: %s", lb.Scenario, b)
				}
				counts[lb.Scenario]++
			}
			for _, name := range Scenarios() {
				if counts[name] == 0 || counts[name] != st.Scenarios[name] {
					t.Errorf("scenario %s: %d labels, Stats.Scenarios %d", name, counts[name], st.Scenarios[name])
				}
			}
			checkSecretValues(t, v.name, disclosedValues(t, evs), st.SecretValues)
		})
	}
}

// TestVariantsWithoutAttacks checks that no variant's noise looks like an attack or comes
// from a public address (the fresh source IPs and the population's addresses included).
func TestVariantsWithoutAttacks(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			opts := v.opts
			opts.Events, opts.Seed = 8000, 22
			log, labels, st := gen(t, opts)
			if len(labels) != 0 || len(st.Scenarios) != 0 {
				t.Fatalf("labels without attacks: %d bytes, %v", len(labels), st.Scenarios)
			}
			for _, ev := range decodeAll(t, log) {
				for name, match := range signatures {
					if match(&ev) {
						b, _ := json.Marshal(ev)
						t.Fatalf("scenario %s appears without attacks: %s", name, b)
					}
				}
				if public(&ev) {
					t.Fatalf("request from a public address without attacks: %v", ev.SourceIPs)
				}
			}
		})
	}
}

func TestVariantsDeterministic(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			sum := func(seed uint64) [32]byte {
				opts := v.opts
				opts.Events, opts.Seed, opts.Attacks = 3000, seed, true
				log, labels, _ := gen(t, opts)
				return sha256.Sum256(append(log, labels...))
			}
			if a, b, c := sum(7), sum(7), sum(8); a != b || a == c {
				t.Errorf("seed 7 twice: %x, %x; seed 8: %x", a[:4], b[:4], c[:4])
			}
		})
	}
}

func TestOmitStages(t *testing.T) {
	for _, tc := range []struct {
		omit []string
		gone []string
	}{
		{[]string{"RequestReceived"}, []string{"RequestReceived"}},
		{[]string{"ResponseStarted"}, []string{"ResponseStarted"}},
		{[]string{"RequestReceived", "ResponseStarted"}, []string{"RequestReceived", "ResponseStarted"}},
	} {
		t.Run(strings.Join(tc.omit, "+"), func(t *testing.T) {
			log, _, st := gen(t, Options{Events: 20000, Seed: 3, Attacks: true, OmitStages: tc.omit})
			perRequest := map[string]int{}
			for _, ev := range decodeAll(t, log) {
				if slices.Contains(tc.gone, string(ev.Stage)) {
					t.Fatalf("stage %s is logged though omitted", ev.Stage)
				}
				if ev.ResponseStatus != nil && ev.ResponseStatus.Code == 401 && slices.Contains(tc.omit, "ResponseStarted") {
					t.Fatalf("a failed authentication is logged though its only stage, ResponseStarted, is omitted")
				}
				perRequest[string(ev.AuditID)]++
			}
			for _, g := range tc.gone {
				if st.Stages[g] != 0 {
					t.Errorf("Stats.Stages[%s] = %d", g, st.Stages[g])
				}
			}
			if st.Stages["ResponseComplete"] == 0 {
				t.Fatal("no ResponseComplete")
			}
			if slices.Contains(tc.omit, "RequestReceived") {
				// Every request but the long-running ones is now one line.
				single := 0
				for _, n := range perRequest {
					if n == 1 {
						single++
					}
				}
				if f := float64(single) / float64(len(perRequest)); f < 0.9 {
					t.Errorf("%.2f of requests are one line, want most", f)
				}
			}
		})
	}
	// Without RequestReceived, the 401s of auth-scan still come (ResponseStarted).
	log, _, _ := gen(t, Options{Events: 20000, Seed: 3, Attacks: true, OmitStages: []string{"RequestReceived"}})
	if !bytes.Contains(log, []byte(`"code":401`)) {
		t.Error("failed authentications vanished though ResponseStarted is logged")
	}
}

// users counts the events of each user name.
func users(evs []auditv1.Event) map[string]int {
	m := map[string]int{}
	for _, ev := range evs {
		m[ev.User.Username]++
	}
	return m
}

// TestBaseIdentities pins BaseIdentities to the default cluster's distinct user names,
// so that Options.Identities counts exactly.
func TestBaseIdentities(t *testing.T) {
	for _, k := range []int{1, 3} {
		log, _, _ := gen(t, Options{Events: 40000, Seed: 1, APIServers: k})
		if got := len(users(decodeAll(t, log))); got != BaseIdentities(k) {
			t.Errorf("apiservers=%d: %d distinct users, BaseIdentities says %d", k, got, BaseIdentities(k))
		}
	}
	// Identities equal to the base is the default cluster, byte for byte.
	a, _, _ := gen(t, Options{Events: 5000, Seed: 4})
	b, _, _ := gen(t, Options{Events: 5000, Seed: 4, Identities: BaseIdentities(1)})
	if !bytes.Equal(a, b) {
		t.Error("Identities = BaseIdentities(1) differs from the default")
	}
}

func TestIdentities(t *testing.T) {
	const n = 600
	log, _, _ := gen(t, Options{Events: 60000, Seed: 5, Identities: n})
	evs := decodeAll(t, log)
	u := users(evs)
	// The cluster's own people arrive at random: a short run may lack one. The
	// population is exact.
	if len(u) > n || len(u) < n-2 {
		t.Fatalf("%d distinct users, want %d", len(u), n)
	}
	kinds := map[string]int{}
	for name := range u {
		switch {
		case strings.HasPrefix(name, "system:node:k8s-pool-"):
			kinds["node"]++
		case strings.HasPrefix(name, "system:serviceaccount:team-"):
			kinds["workload"]++
		case strings.HasPrefix(name, "system:serviceaccount:ci:deployer-"):
			kinds["ci"]++
		case strings.HasSuffix(name, "@example.com") && strings.Count(name, ".") >= 2:
			kinds["person"]++
		}
	}
	p := n - BaseIdentities(1)
	if kinds["node"] != p*6/100 || kinds["person"] != p*10/100 || kinds["ci"] != p*2/100 || kinds["workload"] != p-p*6/100-p*10/100-p*2/100 {
		t.Errorf("population of %d: %v", p, kinds)
	}
	// A heavy tail: the population's busiest identity sends far more than its median.
	var counts []int
	for name, c := range u {
		if strings.Contains(name, "k8s-pool-") || strings.Contains(name, ":team-") || strings.Contains(name, ":ci:deployer-") || strings.Count(name, ".") >= 2 {
			counts = append(counts, c)
		}
	}
	sort.Ints(counts)
	if top, med := counts[len(counts)-1], counts[len(counts)/2]; top < 20*med {
		t.Errorf("busiest population identity sends %d events, the median %d: no heavy tail", top, med)
	}
}

// TestIdentitiesScale runs a billion identities: anything O(identities) in time or
// memory would not finish. What one identity costs is bounded by the render cache.
func TestIdentitiesScale(t *testing.T) {
	log, _, st := gen(t, Options{Events: 20000, Seed: 6, Identities: 1_000_000_000, Attacks: true})
	u := users(decodeAll(t, log))
	if len(u) < 5000 {
		t.Errorf("a billion identities and %d requests gave %d distinct users", st.Requests, len(u))
	}
	s := newSim(io.Discard, Options{Events: 1, Identities: 1_000_000_000, Start: DefaultStart})
	if len(s.population.cache) != popCache {
		t.Errorf("population cache has %d entries, want the fixed %d", len(s.population.cache), popCache)
	}
}

// TestUnique checks each field alone: one fresh value per request of the noise, shared
// by its stages, distinct across requests, in the field's own form; the attack requests
// keep theirs, and so do kubelets their user names.
func TestUnique(t *testing.T) {
	fresh := map[string]func(string) bool{
		"user": regexp.MustCompile(`(-[0-9]+$)|(\+[0-9]+@)`).MatchString,
		"source-ip": func(v string) bool {
			a, err := netip.ParseAddr(v)
			return err == nil && netip.MustParsePrefix("10.128.0.0/10").Contains(a)
		},
		"user-agent": regexp.MustCompile(`/r[0-9]+$`).MatchString,
		"name":       regexp.MustCompile(`-u[0-9]+$`).MatchString,
	}
	value := func(field string, ev *auditv1.Event) string {
		switch field {
		case "user":
			return ev.User.Username
		case "source-ip":
			return ev.SourceIPs[0]
		case "user-agent":
			return ev.UserAgent
		}
		if ev.ObjectRef == nil {
			return ""
		}
		return ev.ObjectRef.Name // empty for a request that names no object, and on a create's RequestReceived
	}
	for _, field := range UniqueFields {
		t.Run(field, func(t *testing.T) {
			log, labelBytes, st := gen(t, Options{Events: 20000, Seed: 8, Attacks: true, Unique: []string{field}})
			attack := map[string]bool{}
			for _, l := range lines(labelBytes) {
				var lb label
				if err := json.Unmarshal(l, &lb); err != nil {
					t.Fatal(err)
				}
				attack[lb.AuditID] = true
			}
			noise := map[string]bool{}
			perRequest := map[string]string{} // auditID -> value
			owner := map[string]string{}      // value -> auditID
			for _, ev := range decodeAll(t, log) {
				id, v := string(ev.AuditID), value(field, &ev)
				if attack[id] {
					if fresh[field](v) {
						t.Fatalf("attack request %s got a fresh %s %q", id, field, v)
					}
					continue
				}
				if field == "user" && strings.HasPrefix(v, "system:node:") {
					continue // a kubelet keeps its node's name (cluster.go: finish)
				}
				if field == "name" && v != "" && strings.HasSuffix(ev.User.Username, ":"+v) {
					continue // and its own Node and Lease theirs (generate.go: ownObject)
				}
				noise[id] = true
				if v == "" {
					continue
				}
				if !fresh[field](v) {
					t.Fatalf("noise request %s has %s %q, not a fresh one", id, field, v)
				}
				if prev, ok := perRequest[id]; ok && prev != v {
					t.Fatalf("request %s has %s %q then %q", id, field, prev, v)
				}
				perRequest[id] = v
				if o, ok := owner[v]; ok && o != id {
					t.Fatalf("%s %q is used by two requests", field, v)
				}
				owner[v] = id
				if field == "name" && ev.Verb != "create" && !strings.Contains(ev.RequestURI, "/"+v) {
					t.Fatalf("name %q is not in the requestURI %q", v, ev.RequestURI)
				}
			}
			if st.Unique < len(owner) {
				t.Errorf("Stats.Unique = %d, the log has %d fresh values", st.Unique, len(owner))
			}
			if want := len(noise); field == "name" {
				if len(owner) < want/3 {
					t.Errorf("only %d of %d noise requests have a fresh name", len(owner), want)
				}
			} else if len(owner) != want {
				t.Errorf("%d distinct fresh values for %d noise requests", len(owner), want)
			}
		})
	}
}

// TestAPIServers checks the HA log: each request handled by one apiserver, each
// apiserver's lines in its own time order, the merged log in rough but not strict order,
// small skews, and each apiserver renewing its own identity lease.
func TestAPIServers(t *testing.T) {
	const k = 3
	handledBy := map[string]int{} // auditID/stage -> apiserver
	byRequest := map[string]int{}
	var out bytes.Buffer
	st, err := audit(&out, Options{Events: 30000, Seed: 9, Attacks: true, APIServers: k}, func(ap int, id, stage string) {
		handledBy[id+"/"+stage] = ap
		if prev, ok := byRequest[id]; ok && prev != ap {
			t.Fatalf("request %s is handled by apiservers %d and %d", id, prev, ap)
		}
		byRequest[id] = ap
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := decodeAll(t, out.Bytes())
	last := make([]int64, k)
	backwards, maxBack := 0, int64(0)
	var prev int64
	for i, ev := range evs {
		ap := handledBy[string(ev.AuditID)+"/"+string(ev.Stage)]
		ts := ev.StageTimestamp.UnixMicro()
		if ts < last[ap] {
			t.Fatalf("line %d: apiserver %d's own log goes back in time", i+1, ap)
		}
		last[ap] = ts
		if ts < prev {
			backwards++
			maxBack = max(maxBack, prev-ts)
		}
		prev = max(prev, ts)
	}
	// Skews alone would step back at most 10 ms; the shipper's blocks of about a second
	// step back further.
	if backwards == 0 || maxBack < 100*1000 {
		t.Errorf("the merged log steps back %d times, by %d ms at most: no interleaving of blocks", backwards, maxBack/1000)
	}
	// A block waits at most 1.5 s; skews differ by at most 10 ms.
	if maxBack > 1500*1000+10*1000 {
		t.Errorf("the merged log goes back %d ms, more than a shipping block", maxBack/1000)
	}
	for i, n := range st.APIServers {
		if n < len(evs)/(3*k) {
			t.Errorf("apiserver %d wrote %d of %d events", i, n, len(evs))
		}
	}
	s := newSim(io.Discard, Options{Events: 1, Seed: 9, APIServers: k, Start: DefaultStart})
	for i, a := range s.aps {
		if a.skew < -5000 || a.skew > 5000 {
			t.Errorf("apiserver %d has skew %d µs", i, a.skew)
		}
	}
	// Identity leases: one per apiserver, each renewed by its own system:apiserver.
	leaseName := regexp.MustCompile(`^apiserver-[a-z0-9]{26}$`)
	renewers := map[string]map[string]bool{} // lease -> uids
	loggedBy := map[string]map[int]bool{}    // lease -> apiservers that logged its renewals
	hosts := map[string]bool{}
	for _, ev := range evs {
		if res(&ev) != "leases" || ev.ObjectRef.Namespace != "kube-system" || ev.Verb != "update" || !leaseName.MatchString(ev.ObjectRef.Name) {
			continue
		}
		if ev.User.Username != "system:apiserver" {
			t.Fatalf("identity lease %s renewed by %s", ev.ObjectRef.Name, ev.User.Username)
		}
		if renewers[ev.ObjectRef.Name] == nil {
			renewers[ev.ObjectRef.Name] = map[string]bool{}
		}
		renewers[ev.ObjectRef.Name][ev.User.UID] = true
		if loggedBy[ev.ObjectRef.Name] == nil {
			loggedBy[ev.ObjectRef.Name] = map[int]bool{}
		}
		loggedBy[ev.ObjectRef.Name][handledBy[string(ev.AuditID)+"/"+string(ev.Stage)]] = true
		if ev.ResponseObject != nil {
			var l struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(ev.ResponseObject.Raw, &l); err != nil {
				t.Fatal(err)
			}
			hosts[l.Metadata.Labels["kubernetes.io/hostname"]] = true
		}
	}
	uids := map[string]bool{}
	for name, us := range renewers {
		if len(us) != 1 {
			t.Errorf("lease %s renewed by %d identities", name, len(us))
		}
		for u := range us {
			uids[u] = true
		}
	}
	// An apiserver renews its lease through its own loopback: it logs the renewal.
	aps := map[int]bool{}
	for name, by := range loggedBy {
		if len(by) != 1 {
			t.Errorf("renewals of lease %s are logged by apiservers %v", name, by)
		}
		for ap := range by {
			aps[ap] = true
		}
	}
	if len(aps) != k {
		t.Errorf("the identity leases' renewals are logged by %d apiservers, want %d", len(aps), k)
	}
	if len(renewers) != k || len(uids) != k || len(hosts) != k {
		t.Errorf("%d identity leases, renewed by %d apiserver identities, on hosts %v; want %d of each", len(renewers), len(uids), hosts, k)
	}
}

func TestBodies(t *testing.T) {
	levels := func(log []byte, attack map[string]bool) (meta, body int) {
		seen := map[string]bool{}
		for _, l := range lines(log) {
			var ev struct {
				AuditID        string          `json:"auditID"`
				Level          string          `json:"level"`
				RequestObject  json.RawMessage `json:"requestObject"`
				ResponseObject json.RawMessage `json:"responseObject"`
			}
			if err := json.Unmarshal(l, &ev); err != nil {
				t.Fatal(err)
			}
			if attack[ev.AuditID] || seen[ev.AuditID] {
				continue
			}
			seen[ev.AuditID] = true
			if ev.Level == "Metadata" {
				meta++
				if ev.RequestObject != nil || ev.ResponseObject != nil {
					t.Fatalf("a Metadata event with a body: %s", l)
				}
			} else {
				body++
			}
		}
		return meta, body
	}
	attackIDs := func(labels []byte) map[string]bool {
		m := map[string]bool{}
		for _, l := range lines(labels) {
			var lb label
			_ = json.Unmarshal(l, &lb)
			m[lb.AuditID] = true
		}
		return m
	}
	base, _, _ := gen(t, Options{Events: 30000, Seed: 10, Attacks: true})
	for _, f := range []float64{0, 0.3, 0.75, 1} {
		log, labels, st := gen(t, Options{Events: 30000, Seed: 10, Attacks: true, Bodies: share(f)})
		attack := attackIDs(labels)
		meta, body := levels(log, attack)
		if got := float64(body) / float64(meta+body); math.Abs(got-f) > 0.02 {
			t.Errorf("bodies=%v: %.3f of %d noise requests at Request or RequestResponse", f, got, meta+body)
		}
		// The levels change, not the traffic: the same requests in the same order.
		if !bytes.Equal(auditIDs(log), auditIDs(base)) {
			t.Errorf("bodies=%v changed the requests, not only their levels", f)
		}
		// Attack requests keep the policy's levels (and so their bodies).
		if st.Scenarios["privileged-pod"] == 0 || !bytes.Contains(log, []byte(`"hostPID":true`)) {
			t.Errorf("bodies=%v: the privileged pod's body is gone", f)
		}
	}
}

// auditIDs is the sequence of auditID/stage of a log.
func auditIDs(log []byte) []byte {
	var b []byte
	for _, l := range lines(log) {
		i := bytes.Index(l, []byte(`"auditID":"`)) + len(`"auditID":"`)
		b = append(b, l[i:i+36]...)
		j := bytes.Index(l, []byte(`"stage":"`)) + len(`"stage":"`)
		b = append(b, l[j:j+bytes.IndexByte(l[j:], '"')]...)
	}
	return b
}

func TestVariantOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Events: 10, OmitStages: []string{"ResponseComplete"}}, `cannot omit stage "ResponseComplete"`},
		{Options{Events: 10, OmitStages: []string{"requestreceived"}}, `cannot omit stage "requestreceived"`},
		{Options{Events: 10, Unique: []string{"uid"}}, `unknown unique field "uid"`},
		{Options{Events: 10, APIServers: -1}, "apiservers must be between 1 and 16"},
		{Options{Events: 10, APIServers: 17}, "apiservers must be between 1 and 16"},
		{Options{Events: 10, Identities: 5}, fmt.Sprintf("identities must be at least %d", BaseIdentities(1))},
		{Options{Events: 10, Identities: 28, APIServers: 3}, fmt.Sprintf("identities must be at least %d", BaseIdentities(3))},
		{Options{Events: 10, Bodies: share(1.5)}, "bodies must be a share between 0 and 1"},
		{Options{Events: 10, Bodies: share(math.NaN())}, "bodies must be a share between 0 and 1"},
	} {
		if _, err := Audit(io.Discard, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Audit(%+v) = %v, want an error containing %q", tc.opts, err, tc.want)
		}
	}
}

// BenchmarkGenerateVariants measures the shapes the benchmarks use; BenchmarkGenerate is
// the default.
func BenchmarkGenerateVariants(b *testing.B) {
	for _, v := range []struct {
		name string
		opts Options
	}{
		{"managed", Options{OmitStages: []string{"RequestReceived"}, Identities: 500, APIServers: 3}},
		{"identities=100000", Options{Identities: 100000}},
		{"unique=all", Options{Unique: UniqueFields, OmitStages: []string{"RequestReceived"}}},
		{"bodies=0", Options{Bodies: share(0)}},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			opts := v.opts
			opts.Events, opts.Seed = b.N, 1
			st, err := Audit(io.Discard, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Bytes / int64(b.N))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
