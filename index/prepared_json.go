package index

// JSON is the event as the case stores it: the audit.k8s.io/v1 JSON after the redactor
// (Prepare). Other stores (export, the VictoriaLogs event store) send exactly these bytes,
// so an event leaves kubesleuth through the one redaction the case applies. The slice is
// the Prepared's own: do not modify it.
func (p *Prepared) JSON() []byte { return p.blob }
