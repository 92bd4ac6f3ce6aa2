package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/pipeline"
	"github.com/kubesleuth/kubesleuth/pipeline/webhook"
)

func init() { register(newServeCmd) }

type serveOptions struct {
	listen, metricsListen      string
	cert, key, clientCA, token string
	caseDir, spool, state      string
	store                      string
	spoolMax, maxBody          sizeFlag
	alerts                     []string
	detect                     detectFlags
	group                      time.Duration
	printConfig                bool
	url, serverCA              string
	clientCert, clientKey      string
}

func newServeCmd(io stdio) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR --tls-cert F --tls-key F [--client-ca F] [--token-file F] [--case DIR] [--spool DIR] [--alert SINK]...",
		Short: "Receive the apiserver's audit webhook: findings as they happen, nothing acknowledged lost",
		Long: `serve is kube-apiserver's audit webhook backend (--audit-webhook-config-file): it accepts
the EventList batches (audit.k8s.io/v1 and v1beta1) the apiserver POSTs, over TLS,
authenticated by a client certificate (--client-ca: mTLS), a bearer token (--token-file),
or both (both are then required). It runs the detection engine on every event, as tail
does (the same rules, stateful detectors, redaction and alert sinks).

A batch is answered 200 only once it is written to the spool (--spool) and fsync'd; the
spool is read back in order by the engine, whose position is checkpointed (--state) with
the detectors' state and each alert file's length. After a crash, SIGKILL included, the
spool is replayed from the checkpoint: every acknowledged event is processed exactly once,
and a batch the apiserver re-sends because it missed the answer is recognised (auditID +
stage) and dropped. The apiserver never waits on the rules.

Bounded: a body over --max-body is refused (413; the default is well above the
apiserver's 10 MB batch truncation), and so is a batch when the spool holds --spool-max
(429 with Retry-After: the apiserver's batch backend retries with backoff). Refusals (no or
a wrong client certificate, a missing or wrong token, plain HTTP, an oversized body, a
malformed batch) are answered with their status, counted in
kubesleuth_webhook_rejected_total{reason} and logged with the reason on standard error.

--metrics-listen serves /healthz, /readyz (503 until the pipeline runs, or when the
spool is 90% full) and Prometheus /metrics in plain HTTP (probes and scrapers present no
client certificate); "" turns it off.

--print-webhook-config --url https://HOST:PORT/ prints the kubeconfig-format file the
apiserver's --audit-webhook-config-file needs (with --server-ca, --client-cert and
--client-key, or --token-file: paths, never their contents).

--alert SINK adds an output; SINK is KIND[=TARGET][,min=SEVERITY]:
` + alertHelp + `

With --case, events are also stored into the case folder (as tail does). SIGINT and
SIGTERM stop accepting, answer the requests in flight, flush the alerts, write the
checkpoint and exit 130 or 143.

Exit codes: 2 usage error (bad flags, unreadable certificates, a state file that does not
decode); 4 kubesleuth failed (the spool, an alert, the state or the case); 130, 143.`,
		Example: `  kubesleuth serve --listen :8443 --tls-cert tls.crt --tls-key tls.key --client-ca ca.crt \
      --spool /var/lib/kubesleuth/spool --alert falco --alert webhook=http://falcosidekick:2801/,format=falco
  kubesleuth serve --print-webhook-config --url https://kubesleuth.kube-system.svc:8443/ \
      --server-ca ca.crt --client-cert apiserver-audit.crt --client-key apiserver-audit.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.printConfig {
				return printWebhookConfig(io, o)
			}
			return runServe(cmd, io, o)
		},
	}
	fs := cmd.Flags()
	o.spoolMax, o.maxBody = 1<<30, webhook.DefaultMaxBody
	fs.StringVar(&o.listen, "listen", ":8443", "address of the webhook endpoint (HTTPS)")
	fs.StringVar(&o.metricsListen, "metrics-listen", ":9090", `address of /healthz, /readyz and /metrics (plain HTTP; "" for none)`)
	fs.StringVar(&o.cert, "tls-cert", "", "serving certificate (PEM)")
	fs.StringVar(&o.key, "tls-key", "", "serving certificate's key (PEM)")
	fs.StringVar(&o.clientCA, "client-ca", "", "require client certificates signed by this CA (PEM)")
	fs.StringVar(&o.token, "token-file", "", "require this bearer token (a file holding it)")
	fs.StringVar(&o.caseDir, "case", "", "also store the events into this case folder (created when missing)")
	fs.StringVar(&o.store, "store", "", "with --case: "+storeFlagHelp)
	fs.StringVar(&o.spool, "spool", "./kubesleuth-spool", "spool folder (batches durably written before they are acknowledged)")
	fs.StringVar(&o.state, "state", "", "checkpoint file (default SPOOL/serve.state)")
	fs.Var(&o.spoolMax, "spool-max", "bound of the spool on disk (429 when full), e.g. 1GiB")
	fs.Var(&o.maxBody, "max-body", "largest batch accepted (413 above), e.g. 64MiB")
	fs.StringArrayVar(&o.alerts, "alert", nil, "alert sink KIND[=TARGET][,min=SEVERITY] (repeatable; see above)")
	o.detect.register(fs)
	fs.DurationVar(&o.group, "group", 10*time.Second, "write a finding's grouped repeats at most this often")
	fs.BoolVar(&o.printConfig, "print-webhook-config", false, "print the apiserver's --audit-webhook-config-file for --url and exit")
	fs.StringVar(&o.url, "url", "", "with --print-webhook-config: the URL the apiserver posts to (https://)")
	fs.StringVar(&o.serverCA, "server-ca", "", "with --print-webhook-config: the CA that signed serve's certificate")
	fs.StringVar(&o.clientCert, "client-cert", "", "with --print-webhook-config: the apiserver's client certificate")
	fs.StringVar(&o.clientKey, "client-key", "", "with --print-webhook-config: the apiserver's client key")
	return cmd
}

// printWebhookConfig writes the kubeconfig the apiserver's webhook backend reads.
func printWebhookConfig(io stdio, o serveOptions) error {
	u, err := url.Parse(o.url)
	if o.url == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		return usagef("--print-webhook-config needs --url https://HOST[:PORT]/PATH (serve takes HTTPS only)")
	}
	if (o.clientCert == "") != (o.clientKey == "") {
		return usagef("--client-cert and --client-key go together")
	}
	if o.clientCert == "" && o.token == "" {
		return usagef("--print-webhook-config needs --client-cert/--client-key (mTLS) or --token-file: serve authenticates every client")
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# kube-apiserver --audit-webhook-config-file for kubesleuth serve\napiVersion: v1\nkind: Config\nclusters:\n- name: kubesleuth\n  cluster:\n    server: %q\n", u.String())
	if o.serverCA != "" {
		fmt.Fprintf(&b, "    certificate-authority: %q\n", abs(o.serverCA))
	}
	b.WriteString("users:\n- name: kube-apiserver\n  user:\n")
	if o.clientCert != "" {
		fmt.Fprintf(&b, "    client-certificate: %q\n    client-key: %q\n", abs(o.clientCert), abs(o.clientKey))
	}
	if o.token != "" {
		fmt.Fprintf(&b, "    tokenFile: %q\n", abs(o.token))
	}
	b.WriteString("contexts:\n- name: webhook\n  context:\n    cluster: kubesleuth\n    user: kube-apiserver\ncurrent-context: webhook\n")
	_, err = fmt.Fprint(io.out, b.String())
	return err
}

func runServe(cmd *cobra.Command, io stdio, o serveOptions) error {
	if o.cert == "" || o.key == "" {
		return usagef("serve needs --tls-cert and --tls-key (TLS is always on)")
	}
	var logMu sync.Mutex
	logf := func(msg string) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(io.err, "kubesleuth serve: %s\n", msg)
	}
	sinks, closeSinks, err := openAlertSinks(io, o.alerts, o.group, "serve")
	if err != nil {
		return err
	}
	defer closeSinks()
	eng, _, err := o.detect.engine(io.err)
	if err != nil {
		return usageError{err}
	}
	tuneIngestGC()

	sp, err := webhook.OpenSpool(o.spool, webhook.SpoolOptions{MaxBytes: int64(o.spoolMax)})
	if err != nil {
		return err
	}
	defer sp.Close()
	state := o.state
	if state == "" {
		state = filepath.Join(o.spool, "serve.state")
	}
	var ro readFlags
	ro.maxErrors = 20
	ropts := ro.options(io.err, nil)
	ropts.MaxLineBytes = int(o.maxBody) + 1024
	src := &webhook.Source{Spool: sp, Opts: ropts}
	srv, err := webhook.NewServer(webhook.Config{Spool: sp, Source: src, CertFile: o.cert, KeyFile: o.key, ClientCAFile: o.clientCA,
		TokenFile: o.token, MaxBody: int64(o.maxBody), Log: logf})
	if err != nil {
		return usageError{err}
	}
	for _, p := range posters(sinks) {
		p := p
		labels := prometheus.Labels{"sink": p.URL}
		srv.Reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kubesleuth_alerts_dropped_total", Help: "Alerts a webhook sink dropped (queue full, endpoint down).", ConstLabels: labels}, func() float64 { return float64(p.Dropped.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kubesleuth_alerts_sent_total", Help: "Alerts a webhook sink delivered.", ConstLabels: labels}, func() float64 { return float64(p.Sent.Load()) }))
	}
	sinks = append(sinks, pipeline.NamedSink{Name: "metrics", Sink: webhook.MetricsSink{S: srv}})
	live := &pipeline.Live{Source: src, Engine: eng, Sinks: sinks, StatePath: state}
	w, found, finishStore, err := attachCase(cmd, io.err, live, o.caseDir, o.store, ropts)
	if err != nil {
		return err
	}
	if w != nil {
		defer w.Close()
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageError{err}
	}
	logf("listening on " + ln.Addr().String() + " (webhook, HTTPS)")
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	if o.metricsListen != "" {
		mln, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			ln.Close()
			return usageError{err}
		}
		logf("listening on " + mln.Addr().String() + " (/healthz, /readyz, /metrics)")
		go func() { serveErr <- srv.ServeOps(mln) }()
	}
	ctx, stop := context.WithCancelCause(cmd.Context())
	defer stop(nil)
	go func() {
		select {
		case err := <-serveErr:
			if err != nil {
				stop(err)
			}
		case <-ctx.Done():
		}
	}()
	srv.SetReady(true)
	runErr := live.Run(ctx)
	srv.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	srv.Shutdown(sctx)
	cancel()
	if w != nil && (runErr == nil || cmd.Context().Err() != nil) {
		if ferr := finishStore(); ferr != nil {
			return ferr
		}
		if ferr := finishLiveCase(w, eng, found, live.Store, o.spool, "audit-webhook"); ferr != nil {
			return ferr
		}
	}
	if cause := context.Cause(ctx); cmd.Context().Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("serve: %w", cause)
	}
	var se *pipeline.StateError
	if errors.As(runErr, &se) {
		return usageError{runErr}
	}
	return readError(runErr)
}
