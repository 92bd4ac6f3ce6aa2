package realcluster

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// kubeletStandIn answers, on 127.0.0.1, the kubelet API requests the apiserver makes for
// exec, attach, port-forward and logs, at the HTTP level only: an upgrade request gets
// "101 Switching Protocols" with the first stream protocol the apiserver offered, and the
// connection is closed right after (no stream is ever served, no command runs); a log
// request gets a few lines of text. It stands in for a kubelet, which cannot run here (no
// container runtime), so that the apiserver logs these requests as it does when the node
// answers. The audit events are the real apiserver's; only the node's answer is made up.
type kubeletStandIn struct {
	ln   net.Listener
	srv  *http.Server
	port int
}

func startKubeletStandIn(ca *CA) (*kubeletStandIn, error) {
	pair, err := ca.Issue("kubelet-standin", "kubelet", nil, "127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := &kubeletStandIn{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	k.srv = &http.Server{
		Handler:           http.HandlerFunc(k.serve),
		ReadHeaderTimeout: 10 * time.Second,
		// HTTP/1.1 only: an upgraded connection is hijacked, which HTTP/2 cannot do.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go k.srv.ServeTLS(ln, "", "")
	return k, nil
}

func (k *kubeletStandIn) close() { k.srv.Close() }

func (k *kubeletStandIn) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/containerLogs/"):
		w.Header().Set("Content-Type", "text/plain")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "%s stand-in kubelet: log line %d of %s\n", time.Now().UTC().Format(time.RFC3339), i, p)
		}
	case strings.HasPrefix(p, "/exec/") || strings.HasPrefix(p, "/attach/") || strings.HasPrefix(p, "/portForward/"):
		if !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "upgrade required", http.StatusBadRequest)
			return
		}
		proto := ""
		if vs := r.Header.Values("X-Stream-Protocol-Version"); len(vs) > 0 {
			proto = strings.TrimSpace(strings.Split(vs[0], ",")[0])
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "cannot hijack", http.StatusInternalServerError)
			return
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		resp := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + r.Header.Get("Upgrade") + "\r\n"
		if proto != "" {
			resp += "X-Stream-Protocol-Version: " + proto + "\r\n"
		}
		buf.WriteString(resp + "\r\n")
		buf.Flush()
		// Let the apiserver pass the 101 on before the connection goes away.
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, _ = bufio.NewReader(conn).ReadByte()
	default:
		http.NotFound(w, r)
	}
}
