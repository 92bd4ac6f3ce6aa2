package realcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Scenario kinds.
const (
	KindBenign = "benign"
	KindAttack = "attack"
)

// Scenario is a named script of requests against a cluster.
type Scenario struct {
	Name        string
	Kind        string
	Description string
	// Expect names the catalog rules (analyzer/rules) the scenario is meant to trigger. It
	// is what the detection engineer checks against, not a claim that they do.
	Expect []string
	// Actors are the user.username values whose requests during the run belong to the
	// scenario ("" is a request that failed authentication). Requests that controllers
	// make because of it are added with Driver.Caused.
	Actors []string
	Run    func(d *Driver) error
}

// Label says which events of a log belong to one scenario run: one JSON line per
// scenario in the labels file.
type Label struct {
	Scenario    string    `json:"scenario"`
	Kind        string    `json:"kind"`
	Description string    `json:"description"`
	Expect      []string  `json:"expect,omitempty"`
	File        string    `json:"file,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Actors      []string  `json:"actors"`
	// Users are the distinct user.username of its events (controllers included).
	Users []string `json:"users"`
	// AuditIDs are its requests, in log order; Events counts their events (all stages).
	AuditIDs []string `json:"auditIDs"`
	Events   int      `json:"events"`
	// Notes are what the driver saw, e.g. the error a refused request returned.
	Notes []string `json:"notes,omitempty"`
	Err   string   `json:"error,omitempty"`
}

// Run is one scenario's run: its label and what attributes events to it.
type Run struct {
	Label
	actors map[string]bool
	caused []objPrefix
	ids    map[string]bool
	users  map[string]bool
}

type objPrefix struct{ namespace, prefix string }

// Driver runs scenarios against a cluster and remembers, for each, the time span, actors
// and objects that attribute audit events to it.
type Driver struct {
	C   *Cluster
	Ctx context.Context
	// Logf reports progress (t.Logf, log.Printf); nil is silent.
	Logf func(format string, args ...any)

	Runs []*Run
	cur  *Run

	mu sync.Mutex
	// minted are the service-account tokens the scenarios obtained; fixtures replace them.
	minted map[string]bool
	// ShapeToken is the one minted token the fixtures keep JWT-shaped (with a dead
	// signature), for tests that need a token-shaped value in a real event.
	ShapeToken string
	// backdoorToken is kube-metrics-agent's token, minted by the token-request scenario.
	backdoorToken string
	// shop is the team-a/shop pod the exec scenarios use.
	shop string

	// KubeletStandIn, set before StartNodes, makes the nodes' kubelet endpoint a stand-in
	// that answers exec, attach and port-forward upgrades with 101 and log requests with
	// text (kubelet.go); without it the endpoint is a closed port and the apiserver logs
	// the dial error.
	KubeletStandIn bool
	standIn        *kubeletStandIn

	clients   map[string]*kubernetes.Clientset
	nodeStop  chan struct{}
	nodeWG    sync.WaitGroup
	nodeErrs  []error
	KubeletAt map[string]int // node name -> the closed port its kubelet endpoint names
}

// NewDriver drives c.
func NewDriver(ctx context.Context, c *Cluster, logf func(string, ...any)) *Driver {
	return &Driver{C: c, Ctx: ctx, Logf: logf, minted: map[string]bool{}, clients: map[string]*kubernetes.Clientset{}, KubeletAt: map[string]int{}}
}

func (d *Driver) logf(format string, args ...any) {
	if d.Logf != nil {
		d.Logf(format, args...)
	}
}

// Run runs one scenario and records its span. A scenario's error is recorded in its label
// and returned; the caller decides whether to go on.
func (d *Driver) Run(sc Scenario) error {
	r := &Run{Label: Label{Scenario: sc.Name, Kind: sc.Kind, Description: sc.Description, Expect: sc.Expect, Actors: sc.Actors},
		actors: map[string]bool{}, ids: map[string]bool{}, users: map[string]bool{}}
	for _, a := range sc.Actors {
		r.actors[a] = true
	}
	d.cur = r
	// The apiserver stamps requestReceivedTimestamp in microseconds from the same clock;
	// the margins keep a request sent at the edge inside its span.
	r.Start = time.Now().UTC().Add(-time.Millisecond)
	d.logf("scenario %s", sc.Name)
	err := sc.Run(d)
	// Controllers act after the request that caused them; a scenario that waits for them
	// has seen their effects, the rest settle here.
	time.Sleep(500 * time.Millisecond)
	r.End = time.Now().UTC()
	if err != nil {
		r.Err = err.Error()
		d.logf("scenario %s: %v", sc.Name, err)
	}
	d.Runs = append(d.Runs, r)
	d.cur = nil
	return err
}

// Note records what the scenario saw (shown in its label).
func (d *Driver) Note(format string, args ...any) {
	if d.cur != nil {
		d.cur.Notes = append(d.cur.Notes, fmt.Sprintf(format, args...))
	}
}

// Caused attributes to the current scenario the requests that controllers and the
// scheduler make on objects in namespace whose name is name or starts with name + "-" or
// name + "." (a Deployment's ReplicaSets and pods, a Job's pods, their events).
func (d *Driver) Caused(namespace, name string) {
	if d.cur != nil {
		d.cur.caused = append(d.cur.caused, objPrefix{namespace, name})
	}
}

// Attribute adds e to the run whose span holds its requestReceivedTimestamp, when its
// user is one of the run's actors or it is a controller's request on an object the run
// caused. It returns the run's name, or "".
func (d *Driver) Attribute(e *Event) string {
	t := e.RequestReceivedTimestamp.Time
	i := sort.Search(len(d.Runs), func(i int) bool { return !d.Runs[i].End.Before(t) })
	if i == len(d.Runs) || t.Before(d.Runs[i].Start) {
		return ""
	}
	r := d.Runs[i]
	if !r.actors[e.User.Username] && !r.causedBy(e) {
		return ""
	}
	id := string(e.AuditID)
	if !r.ids[id] {
		r.ids[id] = true
		r.AuditIDs = append(r.AuditIDs, id)
	}
	r.Events++
	if !r.users[e.User.Username] {
		r.users[e.User.Username] = true
		r.Users = append(r.Users, e.User.Username)
	}
	return r.Scenario
}

func (r *Run) causedBy(e *Event) bool {
	u := e.User.Username
	if !strings.HasPrefix(u, "system:serviceaccount:kube-system:") && u != Scheduler && u != ControllerManager {
		return false
	}
	if e.ObjectRef == nil {
		return false
	}
	for _, c := range r.caused {
		n := e.ObjectRef.Name
		if e.ObjectRef.Namespace == c.namespace && (n == c.prefix || strings.HasPrefix(n, c.prefix+"-") || strings.HasPrefix(n, c.prefix+".")) {
			return true
		}
	}
	return false
}

// ResetAttribution clears what Attribute added, to attribute another log (or the same
// again).
func (d *Driver) ResetAttribution() {
	for _, r := range d.Runs {
		r.AuditIDs, r.Users, r.Events = nil, nil, 0
		r.ids, r.users = map[string]bool{}, map[string]bool{}
	}
}

// WriteLabels writes one JSON line per run of the given kind ("" for all), from the
// skip-th run on, each through red (nil writes them as they are): notes quote kubectl's
// arguments and errors.
func (d *Driver) WriteLabels(w io.Writer, file, kind string, red *Redactor, skip int) error {
	for _, r := range d.Runs[skip:] {
		if kind != "" && r.Kind != kind {
			continue
		}
		l := r.Label
		l.File = file
		if l.AuditIDs == nil {
			l.AuditIDs = []string{}
		}
		sort.Strings(l.Users)
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if red != nil {
			b = red.Line(b)
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// Client is a clientset for one of the cluster's users (cached).
func (d *Driver) Client(user string) *kubernetes.Clientset {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clients[user]; ok {
		return c
	}
	c := d.C.Client(user)
	d.clients[user] = c
	return c
}

// Remote is how a client appears: its user agent and, when not empty, the address a
// proxy in front of the apiserver reports in X-Forwarded-For. The apiserver puts that
// address first in sourceIPs (then its peer, 127.0.0.1), as it does behind a load
// balancer that forwards the client's address.
type Remote struct {
	UserAgent string
	IP        string
}

func (rm Remote) apply(cfg *rest.Config) *rest.Config {
	if rm.UserAgent != "" {
		cfg.UserAgent = rm.UserAgent
	}
	if rm.IP != "" {
		ip := rm.IP
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.Header.Set("X-Forwarded-For", ip)
				return rt.RoundTrip(r)
			})
		}
	}
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ClientVia is a clientset for user seen as rm.
func (d *Driver) ClientVia(user string, rm Remote) *kubernetes.Clientset {
	return kubernetes.NewForConfigOrDie(rm.apply(d.C.RESTConfig(user)))
}

// TokenClient is a clientset for a bearer token seen as rm.
func (d *Driver) TokenClient(token string, rm Remote) *kubernetes.Clientset {
	return kubernetes.NewForConfigOrDie(rm.apply(d.C.TokenConfig(token)))
}

// Kubectl runs kubectl as user; the output and error are noted in the label when it
// fails (a refused request is often what the scenario is about).
func (d *Driver) Kubectl(user string, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(d.Ctx, 60*time.Second)
	defer cancel()
	var in io.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	out, errOut, err := d.C.Kubectl(ctx, user, in, args...)
	if err != nil {
		d.Note("kubectl %s: %v: %s", strings.Join(args, " "), err, firstLine(string(errOut)))
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(errOut)))
	}
	return string(out), nil
}

// Apply is `kubectl apply -f -` of manifest as user.
func (d *Driver) Apply(user, manifest string, extra ...string) error {
	_, err := d.Kubectl(user, manifest, append([]string{"apply", "-f", "-"}, extra...)...)
	return err
}

// MintToken asks for a token of namespace/sa through TokenRequest as user, as
// `kubectl create token` does, and remembers it for the fixtures' redaction.
func (d *Driver) MintToken(user, namespace, sa string, req *authnv1.TokenRequest) (string, error) {
	if req == nil {
		req = &authnv1.TokenRequest{}
	}
	tr, err := d.Client(user).CoreV1().ServiceAccounts(namespace).CreateToken(d.Ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	d.Minted(tr.Status.Token)
	return tr.Status.Token, nil
}

// Minted remembers a token the fixtures must not hold as is.
func (d *Driver) Minted(token string) {
	d.mu.Lock()
	d.minted[token] = true
	d.mu.Unlock()
}

// Secrets are the credential strings the fixtures must replace: every static token and
// every minted token.
func (d *Driver) Secrets() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, u := range d.C.Users {
		out = append(out, u.Token)
	}
	for t := range d.minted {
		out = append(out, t)
	}
	return out
}

// WaitPods waits, with one watch as the admin (no list: a watch's events carry no
// bodies in the log), until namespace holds at least n pods whose name starts with
// prefix + "-", and returns their names.
func (d *Driver) WaitPods(namespace, prefix string, n int, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(d.Ctx, timeout)
	defer cancel()
	// Without a resourceVersion the watch starts with an ADDED event for every pod.
	w, err := d.Client(Admin).CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, fmt.Errorf("watch on %s pods closed", namespace)
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || !strings.HasPrefix(p.Name, prefix+"-") {
				continue
			}
			// Only live pods count: a terminating one is on its way out.
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				delete(seen, p.Name)
			} else if ev.Type == watch.Added || ev.Type == watch.Modified {
				seen[p.Name] = true
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d pods %s/%s-* after %s", len(seen), n, namespace, prefix, timeout)
		}
	}
	var names []string
	for p := range seen {
		names = append(names, p)
	}
	sort.Strings(names)
	return names, nil
}

// WaitScheduled waits until namespace/pod has a node (the scheduler bound it).
func (d *Driver) WaitScheduled(namespace, pod string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		p, err := d.Client(Admin).CoreV1().Pods(namespace).Get(d.Ctx, pod, metav1.GetOptions{})
		if err == nil && p.Spec.NodeName != "" {
			return p.Spec.NodeName, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("pod %s/%s not scheduled after %s (%v)", namespace, pod, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
