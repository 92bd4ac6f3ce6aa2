package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Poster delivers alert lines to an HTTP endpoint (--alert webhook=URL): each line (one
// alert, already redacted by the Alerts sink in front of it) is POSTed as its own
// request body, in order, by one goroutine, so that the pipeline never waits on the
// endpoint. A failed post (a transport error, a 5xx or a 429) is retried with
// exponential backoff; a 4xx other than 429 is not (the endpoint refuses this alert).
//
// Failure modes: nothing blocks and nothing is dropped silently. When the queue
// (QueueMax alerts) is full, the newest alert is dropped; an alert still failing after
// Retries is dropped; both are counted (Dropped) and reported through OnDrop, at most
// once per ReportEvery with the count since the last report, and at Close.
type Poster struct {
	URL         string
	ContentType string
	Client      *http.Client
	QueueMax    int
	Retries     int
	Backoff     time.Duration // first retry's wait; doubled up to MaxBackoff
	MaxBackoff  time.Duration
	ReportEvery time.Duration
	// OnDrop reports drops (a message naming the URL and the counts, never content).
	OnDrop func(string)

	Sent, Dropped atomic.Int64

	once    sync.Once
	q       chan []byte
	line    []byte
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	unrep   int64
	lastRep time.Time
	ctx     context.Context
	cancel  context.CancelFunc
}

func (p *Poster) init() {
	p.once.Do(func() {
		if p.QueueMax <= 0 {
			p.QueueMax = 1000
		}
		if p.Retries <= 0 {
			p.Retries = 5
		}
		if p.Backoff <= 0 {
			p.Backoff = 500 * time.Millisecond
		}
		if p.MaxBackoff <= 0 {
			p.MaxBackoff = 30 * time.Second
		}
		if p.ReportEvery <= 0 {
			p.ReportEvery = 10 * time.Second
		}
		if p.Client == nil {
			p.Client = &http.Client{Timeout: 10 * time.Second}
		}
		if p.ContentType == "" {
			p.ContentType = "application/json"
		}
		p.q = make(chan []byte, p.QueueMax)
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		p.ctx, p.cancel = context.WithCancel(context.Background())
		go p.run()
	})
}

// Write takes alert lines (the Alerts sink writes whole lines; a partial one waits for
// its end) and queues each.
func (p *Poster) Write(b []byte) (int, error) {
	p.init()
	p.line = append(p.line, b...)
	for {
		i := bytes.IndexByte(p.line, '\n')
		if i < 0 {
			break
		}
		msg := append([]byte(nil), p.line[:i]...)
		p.line = p.line[i+1:]
		select {
		case p.q <- msg:
		default:
			p.drop(1, "the queue is full")
		}
	}
	return len(b), nil
}

func (p *Poster) drop(n int64, why string) {
	p.Dropped.Add(n)
	p.mu.Lock()
	p.unrep += n
	report := time.Since(p.lastRep) >= p.ReportEvery
	var msg string
	if report {
		msg = fmt.Sprintf("alert webhook %s: %d alert(s) dropped (%s); %d dropped in all", redact.String(p.URL), p.unrep, why, p.Dropped.Load())
		p.unrep, p.lastRep = 0, time.Now()
	}
	p.mu.Unlock()
	if report && p.OnDrop != nil {
		p.OnDrop(msg)
	}
}

func (p *Poster) run() {
	defer close(p.done)
	for {
		select {
		case msg := <-p.q:
			p.deliver(msg)
		case <-p.stop:
			for {
				select {
				case msg := <-p.q:
					p.deliver(msg)
				default:
					return
				}
			}
		}
	}
}

func (p *Poster) deliver(msg []byte) {
	wait := p.Backoff
	var why string
	for attempt := 0; attempt <= p.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				p.drop(1, "stopped while retrying: "+why)
				return
			}
			wait = min(2*wait, p.MaxBackoff)
		}
		req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, p.URL, bytes.NewReader(msg))
		if err != nil {
			p.drop(1, "a request that cannot be made")
			return
		}
		req.Header.Set("Content-Type", p.ContentType)
		resp, err := p.Client.Do(req)
		if err != nil {
			why = "the endpoint is unreachable"
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			p.Sent.Add(1)
			return
		case resp.StatusCode == 429 || resp.StatusCode >= 500:
			why = fmt.Sprintf("answered %d", resp.StatusCode)
			continue
		default:
			p.drop(1, fmt.Sprintf("refused with %d", resp.StatusCode))
			return
		}
	}
	p.drop(1, fmt.Sprintf("%s after %d retries", why, p.Retries))
}

// Close delivers what is queued, waiting at most grace, then drops the rest (counted)
// and reports the drops not yet reported.
func (p *Poster) Close(grace time.Duration) {
	p.init()
	close(p.stop)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cancel()
		<-p.done
	}
	p.cancel()
	p.mu.Lock()
	n := p.unrep
	p.unrep = 0
	p.mu.Unlock()
	if n > 0 && p.OnDrop != nil {
		p.OnDrop(fmt.Sprintf("alert webhook %s: %d alert(s) dropped since the last report; %d dropped in all, %d delivered", redact.String(p.URL), n, p.Dropped.Load(), p.Sent.Load()))
	}
}

// NewPostAlerts is an Alerts sink (format, grouping, minimum severity, redaction) whose
// lines go to a Poster.
func NewPostAlerts(p *Poster, format AlertFormat, min analyzer.Severity) *Alerts {
	p.init()
	a := NewAlerts(p.URL, p, format, min)
	a.poster = p
	return a
}
