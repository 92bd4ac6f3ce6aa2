package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

// DefaultMaxBody is the default limit on one batch: well above the 10 MB at which the
// apiserver's batch backend truncates (--audit-webhook-truncate-max-batch-size), so that
// a full batch is never refused for its size.
const DefaultMaxBody = 64 << 20

// Config is what a Server needs.
type Config struct {
	Spool  *Spool
	Source *Source // for the lag gauge and readiness (optional)
	// CertFile and KeyFile are the serving certificate (TLS is always on).
	CertFile, KeyFile string
	// ClientCAFile, when set, requires a client certificate signed by it (mTLS).
	ClientCAFile string
	// TokenFile, when set, requires "Authorization: Bearer <its content>".
	TokenFile string
	// MaxBody bounds one request's body (413 above). Default DefaultMaxBody.
	MaxBody int64
	// MaxInflight bounds the bodies held in memory at once across requests (429 above:
	// the apiserver retries). Default 4 × MaxBody.
	MaxInflight int64
	// RetryAfter is the Retry-After of a 429, in seconds. Default 1.
	RetryAfter int
	// Log receives one line per refusal and per server error: reasons, addresses,
	// lengths, never a body or a token.
	Log func(string)
}

// Server is the webhook endpoint and its operations endpoint (/healthz, /readyz,
// /metrics). Requests are authenticated (client certificate, bearer token, or both when
// both are configured), bounded, checked to be an EventList, spooled, and answered 200
// once fsync'd.
//
// Refusals, each counted in kubesleuth_webhook_rejected_total{reason} and logged:
// plain_http (400, written before TLS), no_client_cert and bad_client_cert (the TLS
// handshake fails), missing_token and wrong_token (401), method (405), encoding (415),
// too_large (413), malformed (400), busy (429: too many bodies in memory), spool_full
// (429 with Retry-After), spool_error (500).
type Server struct {
	cfg   Config
	pool  *x509.CertPool
	token [32]byte // SHA-256 of the token
	cert  tls.Certificate
	Reg   *prometheus.Registry

	inflight atomic.Int64
	ready    atomic.Bool

	requests *prometheus.CounterVec
	rejected *prometheus.CounterVec
	received prometheus.Counter
	spooled  prometheus.Counter
	batches  prometheus.Counter
	latency  prometheus.Histogram
	Findings *prometheus.CounterVec

	mu  sync.Mutex
	hs  []*http.Server
	log func(string)
}

// NewServer loads the certificates and the token and registers the metrics.
//
// Failure modes: an unreadable or invalid certificate, key, CA file or token file, and a
// configuration that authenticates nobody (neither a client CA nor a token), are errors
// naming the file: serve refuses to start rather than accept anyone's events.
func NewServer(cfg Config) (*Server, error) {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 4 * cfg.MaxBody
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 1
	}
	s := &Server{cfg: cfg, log: cfg.Log}
	if s.log == nil {
		s.log = func(string) {}
	}
	if cfg.ClientCAFile == "" && cfg.TokenFile == "" {
		return nil, errors.New("serve: no client authentication: give --client-ca (mTLS), --token-file, or both")
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("serving certificate %s / key %s: %w", cfg.CertFile, cfg.KeyFile, err)
	}
	s.cert = cert
	if cfg.ClientCAFile != "" {
		b, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		s.pool = x509.NewCertPool()
		if !s.pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate in its %d bytes", cfg.ClientCAFile, len(b))
		}
	}
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		tok := bytes.TrimSpace(b)
		if len(tok) == 0 {
			return nil, fmt.Errorf("token file %s is empty", cfg.TokenFile)
		}
		s.token = sha256.Sum256(tok)
	}
	s.Reg = prometheus.NewRegistry()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubesleuth_webhook_requests_total", Help: "Webhook requests answered, by HTTP status code."}, []string{"code"})
	s.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubesleuth_webhook_rejected_total", Help: "Connections and requests refused, by reason."}, []string{"reason"})
	s.received = prometheus.NewCounter(prometheus.CounterOpts{Name: "kubesleuth_webhook_events_received_total", Help: "Events in the batches received (authenticated, within the size limit, well-formed)."})
	s.spooled = prometheus.NewCounter(prometheus.CounterOpts{Name: "kubesleuth_webhook_events_spooled_total", Help: "Events durably spooled and acknowledged."})
	s.batches = prometheus.NewCounter(prometheus.CounterOpts{Name: "kubesleuth_webhook_batches_spooled_total", Help: "Batches durably spooled and acknowledged."})
	s.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kubesleuth_webhook_request_duration_seconds", Help: "Time from a request's headers to its answer.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	s.Findings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubesleuth_findings_total", Help: "Findings opened, by severity."}, []string{"severity"})
	for _, sev := range analyzer.Severities() {
		s.Findings.WithLabelValues(sev.String())
	}
	for _, r := range []string{"plain_http", "no_client_cert", "bad_client_cert", "missing_token", "wrong_token", "method", "encoding", "too_large", "malformed", "busy", "spool_full", "spool_error", "tls_handshake"} {
		s.rejected.WithLabelValues(r)
	}
	s.Reg.MustRegister(s.requests, s.rejected, s.received, s.spooled, s.batches, s.latency, s.Findings)
	if sp := cfg.Spool; sp != nil {
		s.Reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kubesleuth_spool_bytes", Help: "Bytes of the spool's segments on disk."}, func() float64 { n, _ := sp.Bytes(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kubesleuth_spool_max_bytes", Help: "The spool's bound (--spool-max)."}, func() float64 { _, m := sp.Bytes(); return float64(m) }))
	}
	if src := cfg.Source; src != nil {
		s.Reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kubesleuth_spool_depth_bytes", Help: "Bytes spooled and not yet processed."}, func() float64 { return float64(src.Lag()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kubesleuth_events_processed_total", Help: "Events read back from the spool and run through the engine."}, func() float64 { return float64(src.Events.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kubesleuth_events_bad_total", Help: "Events of accepted batches skipped as bad input (no auditID, wrong types)."}, func() float64 { return float64(src.Bad.Load()) }))
	}
	return s, nil
}

// SetReady makes /readyz answer 200 (the pipeline runs) or 503.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

func (s *Server) reject(reason, remote, detail string) {
	s.rejected.WithLabelValues(reason).Inc()
	msg := "refused " + remote + ": " + reason
	if detail != "" {
		msg += " (" + detail + ")"
	}
	s.log(redact.String(msg))
}

// errRefused marks the handshake failures this server counted and logged itself.
var errRefused = errors.New("kubesleuth: connection refused")

// TLSConfig is the listener's TLS configuration: TLS 1.2+, the client certificate
// verified by the server itself so that each refusal is counted with its reason.
func (s *Server) TLSConfig() *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{s.cert}, NextProtos: []string{"h2", "http/1.1"}}
	if s.pool != nil {
		base.ClientAuth = tls.RequestClientCert
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		remote := hello.Conn.RemoteAddr().String()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.VerifyConnection = func(cs tls.ConnectionState) error { return s.verifyPeer(cs, remote) }
		return c, nil
	}
	return base
}

func (s *Server) verifyPeer(cs tls.ConnectionState, remote string) error {
	if s.pool == nil {
		return nil
	}
	if len(cs.PeerCertificates) == 0 {
		s.reject("no_client_cert", remote, "")
		return errRefused
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		s.reject("bad_client_cert", remote, fmt.Sprintf("subject %q: %v", leaf.Subject.CommonName, err))
		return errRefused
	}
	return nil
}

// Serve accepts on ln (the webhook port: TLS) until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	h := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
		TLSConfig: s.TLSConfig(), ErrorLog: slog.NewLogLogger(logHandler{s}, slog.LevelError)}
	s.mu.Lock()
	s.hs = append(s.hs, h)
	s.mu.Unlock()
	err := h.Serve(tls.NewListener(sniffListener{ln, s}, h.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeOps serves /healthz, /readyz and /metrics on ln (plain HTTP: the kubelet's
// probes and Prometheus present no client certificate).
func (s *Server) ServeOps(ln net.Listener) error {
	h := &http.Server{Handler: s.OpsHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logHandler{s}, slog.LevelError)}
	s.mu.Lock()
	s.hs = append(s.hs, h)
	s.mu.Unlock()
	err := h.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for the requests in flight (their batches are
// spooled and answered) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	var first error
	for _, h := range hs {
		if err := h.Shutdown(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// OpsHandler serves /healthz, /readyz and /metrics.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			reply(w, 503, "not ready: the pipeline is not running")
			return
		}
		if sp := s.cfg.Spool; sp != nil {
			if n, m := sp.Bytes(); n*10 >= m*9 {
				reply(w, 503, fmt.Sprintf("not ready: the spool holds %d of %d bytes", n, m))
				return
			}
		}
		reply(w, 200, "ok")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.Reg, promhttp.HandlerOpts{}))
	return mux
}

// reply writes a short plain-text answer, through the redactor like every output.
func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, redact.String(msg)+"\n")
}

// ServeHTTP is the webhook endpoint: any path, POST only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, reason, msg := s.handle(w, r)
	if reason != "" {
		s.reject(reason, r.RemoteAddr, msg)
	}
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(s.cfg.RetryAfter))
	}
	if code == 200 {
		msg = "ok"
	}
	reply(w, code, msg)
	s.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	s.latency.Observe(time.Since(start).Seconds())
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) (int, string, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "method", "method " + describe(r.Method) + ", want POST"
	}
	if s.cfg.TokenFile != "" {
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if auth == "" || !ok {
			return http.StatusUnauthorized, "missing_token", "no bearer token"
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(got[:], s.token[:]) != 1 {
			return http.StatusUnauthorized, "wrong_token", fmt.Sprintf("a bearer token of %d bytes that is not the configured one", len(tok))
		}
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return http.StatusUnsupportedMediaType, "encoding", "Content-Encoding " + describe(ce)
	}
	max := s.cfg.MaxBody
	if r.ContentLength > max {
		return http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a body of %d bytes, the limit is %d", r.ContentLength, max)
	}
	need := max
	if r.ContentLength >= 0 {
		need = r.ContentLength
	}
	if s.inflight.Add(need) > s.cfg.MaxInflight {
		s.inflight.Add(-need)
		return http.StatusTooManyRequests, "busy", fmt.Sprintf("%d bytes of bodies in memory already", s.inflight.Load())
	}
	defer s.inflight.Add(-need)
	body, err := readBody(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a body over the limit of %d bytes", max)
		}
		return http.StatusBadRequest, "malformed", fmt.Sprintf("reading the body: %v", err)
	}
	n, oneLine, why := checkBatch(body)
	if why != "" {
		return http.StatusBadRequest, "malformed", fmt.Sprintf("%s (%d bytes, %s)", why, len(body), redact.Fingerprint(body))
	}
	s.received.Add(float64(n))
	if n == 0 {
		return 200, "", ""
	}
	if s.cfg.Spool == nil {
		return http.StatusServiceUnavailable, "spool_error", "no spool"
	}
	if err := s.cfg.Spool.Append(oneLine); err != nil {
		if errors.Is(err, ErrFull) {
			used, limit := s.cfg.Spool.Bytes()
			return http.StatusTooManyRequests, "spool_full", fmt.Sprintf("the spool holds %d of %d bytes", used, limit)
		}
		return http.StatusInternalServerError, "spool_error", err.Error()
	}
	s.spooled.Add(float64(n))
	s.batches.Inc()
	return 200, "", ""
}

func readBody(r io.Reader, n int64) ([]byte, error) {
	if n >= 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		// a body longer than its Content-Length is the server's to refuse (net/http)
		return b, nil
	}
	return io.ReadAll(r)
}

// describe stands for a value of the input in a message: known kinds and versions by
// name, anything else by its length and fingerprint (it could hold anything).
func describe(v string) string {
	switch v {
	case "":
		return "missing"
	case "Event", "EventList", "Policy", "audit.k8s.io/v1alpha1", "v1", "GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "gzip", "deflate", "br", "zstd":
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("of %d bytes (%s)", len(v), redact.Fingerprint([]byte(v)))
}

// batchEnvelope is what is checked of a batch before it is spooled.
type batchEnvelope struct {
	APIVersion string               `json:"apiVersion"`
	Kind       string               `json:"kind"`
	Items      *[]gojson.RawMessage `json:"items"`
}

// checkBatch checks that body is an EventList of audit.k8s.io/v1 or v1beta1 whose
// items are objects, and returns the number of items and the body on one line (the
// spool's records are read back as JSON lines). why says what is wrong, quoting no
// input: positions, lengths and fingerprints.
func checkBatch(body []byte) (int, []byte, string) {
	var env batchEnvelope
	if err := gojson.Unmarshal(body, &env); err != nil {
		var se *gojson.SyntaxError
		if errors.As(err, &se) {
			return 0, nil, fmt.Sprintf("not JSON (at byte %d)", se.Offset)
		}
		return 0, nil, "not an EventList (a field of the wrong type)"
	}
	if env.Kind != "EventList" {
		return 0, nil, "kind " + describe(env.Kind) + ", want EventList"
	}
	if env.APIVersion != "audit.k8s.io/v1" && env.APIVersion != "audit.k8s.io/v1beta1" {
		return 0, nil, "apiVersion " + describe(env.APIVersion) + ", want audit.k8s.io/v1 or v1beta1"
	}
	if env.Items == nil {
		return 0, nil, "an EventList without items"
	}
	for i, it := range *env.Items {
		if t := bytes.TrimSpace(it); len(t) == 0 || t[0] != '{' {
			return 0, nil, fmt.Sprintf("item %d is not an object", i)
		}
	}
	if bytes.IndexByte(body, '\n') >= 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, body); err != nil {
			return 0, nil, "not JSON"
		}
		body = buf.Bytes()
	}
	return len(*env.Items), body, ""
}

// sniffListener refuses plain HTTP on the TLS port: the first byte of a TLS connection
// is a handshake record (0x16); anything else is answered 400 in plain text, counted and
// logged, and the connection closed.
type sniffListener struct {
	net.Listener
	s *Server
}

func (l sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, s: l.s}, nil
}

type sniffConn struct {
	net.Conn
	s       *Server
	checked bool
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.checked && n > 0 {
		c.checked = true
		if p[0] != 0x16 {
			c.s.reject("plain_http", c.RemoteAddr().String(), "not a TLS handshake")
			c.Conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 32\r\n\r\nthis endpoint takes HTTPS only.\n"))
			c.Conn.Close()
			return 0, errRefused
		}
	}
	return n, err
}

// logHandler is net/http's error log: its lines go to Config.Log (redacted there),
// except the handshake failures this server already counted and logged.
type logHandler struct{ s *Server }

func (h logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, errRefused.Error()) {
		return nil
	}
	if strings.Contains(r.Message, "TLS handshake error") {
		h.s.rejected.WithLabelValues("tls_handshake").Inc()
	}
	h.s.log(redact.String(r.Message))
	return nil
}
func (h logHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logHandler) WithGroup(string) slog.Handler      { return h }

// MetricsSink counts findings by severity as they open (kubesleuth_findings_total).
type MetricsSink struct{ S *Server }

// Update implements pipeline.Sink.
func (m MetricsSink) Update(u analyzer.Update) error {
	if u.Kind == analyzer.Opened {
		m.S.Findings.WithLabelValues(u.Finding.Severity.String()).Inc()
	}
	return nil
}

// Flush implements pipeline.Sink.
func (MetricsSink) Flush() error { return nil }

// Finish implements pipeline.Sink.
func (MetricsSink) Finish(pipeline.End) error { return nil }
