// Package audit reads kube-apiserver audit events from everything a responder is handed:
// JSON lines of audit.k8s.io/v1 and v1beta1 events, pretty-printed events, JSON arrays,
// EventList batches (what the audit webhook posts), Azure Event Hubs and AKS diagnostic
// records, GKE Cloud Audit Log entries, gzip-compressed rotated files, folders (links
// followed, each file once), globs, FIFOs and standard input.
//
// A Reader streams: lines are decoded on all cores in batches and handed to the caller in
// input order, so memory stays bounded by the batches in flight whatever the input size
// (plus the duplicate filter, about 40 bytes per distinct event; no other state grows
// with the input). A one-line wrapper longer than the line limit is streamed event by
// event, the limit applying to each.
//
// Bad input never stops a run and never vanishes: every malformed line or value, event
// without auditID, wrong-typed field, timestamp the timeline cannot hold, over-long value,
// truncated gzip stream or binary file becomes one *InputError naming FILE:LINE, is
// counted by Reason and by Unit (line, value, file) in the Summary, and reading goes on.
// It costs the lines it is on: after a structural error the reader goes on at the next
// line that can start a value, and bad bytes (NUL, invalid UTF-8) cost their lines, not
// the file. With Options.Strict the first one ends the run instead. Messages never quote
// the input beyond a short redacted identifier: positions, lengths and fingerprints
// stand for it.
package audit
