// Package audit reads kube-apiserver audit events from everything a responder is handed:
// JSON lines of audit.k8s.io/v1 and v1beta1 events, pretty-printed events, JSON arrays,
// EventList batches (what the audit webhook posts), Azure Event Hubs and AKS diagnostic
// records, GKE Cloud Audit Log entries, gzip-compressed rotated files, folders, globs and
// standard input.
//
// A Reader streams: lines are decoded on all cores in batches and handed to the caller in
// input order, so memory stays bounded by the batches in flight whatever the input size
// (plus the duplicate filter, about 40 bytes per distinct event).
//
// Bad input never stops a run and never vanishes: every malformed line, event without
// auditID, over-long line, truncated gzip stream or binary file becomes one *InputError
// naming FILE:LINE, is counted by Reason in the Summary, and reading goes on. With
// Options.Strict the first one ends the run instead.
package audit
