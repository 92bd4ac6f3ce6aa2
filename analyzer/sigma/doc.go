// Package sigma runs Sigma rules (https://sigmahq.io, specification 2.1) as they are
// written, beside kubesleuth's own catalog. A detection rule becomes an analyzer.Rule of
// kind match whose CEL is the translation of its detection; a correlation rule becomes a
// threshold, distinct or sequence rule; a filter is folded into the rules it names. The
// rules keep the Sigma id as their ID, and carry title, level, ATT&CK techniques,
// description, references, author and false positives.
//
// # Wiring
//
// Next to the built-in catalog, with the engine's allowlists (they give the expand
// modifier's placeholders):
//
//	al, _ := analyzer.LoadAllowlists(allowlistFile)
//	set, err := sigma.Load(sigma.Options{Allowlists: al}, sigmaPaths...) // files or folders
//	if err != nil { ... }                  // a path that cannot be read: a usage error
//	for _, u := range set.Unsupported { ... } // report each (file:line, id, title, reason)
//	rules = append(catalog, set.Rules...)  // refuse ids already used, as loadRules does
//	eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
//	...
//	analyzer.Attribute(res.Findings, rules) // author and references as fields of the JSON
//
// Load never fails on the content of a file: a malformed document, another log source,
// a modifier or correlation the engine cannot run are Unsupported entries, and every
// other rule loads. Notes say how rules were read where it is not plain (lint shows them).
//
// # Why translation to CEL
//
// A translated rule is an engine rule like any other: it gets the prefilter index
// (resources, verbs, codes and stages tested before any CEL), the memo of matches on
// values that repeat (identity, verb, object), the not-evaluable accounting of bodies
// the audit level did not record, state, folding, redaction, and `rules show` prints the
// CEL it runs. What CEL cannot say alone (paths through lists and dotted keys, keys at any
// depth, keyword search, CIDR, date parts) is a few total Go functions in
// analyzer/sigma/sigmafn. A direct Go evaluator of the same trees (direct_test.go) is
// the oracle the translation is tested against over every event of the repository, and
// the comparison point of BenchmarkEngineWithSigma.
//
// # How fields read the audit event
//
// Sigma field names for this log source are the audit event's JSON paths
// (audit.k8s.io/v1): verb, objectRef.resource, user.username, user.groups,
// responseStatus.code, annotations.<key> (the rest of the path is one key),
// requestObject.<path>, responseObject.<path>, requestReceivedTimestamp. In bodies, a
// path crosses lists (requestObject.spec.containers.image is any container's image) and
// tries keys holding dots whole (metadata.labels.app.kubernetes.io/name). A list value
// matches when one element does. The event omits empty fields, so an empty string and an
// absent field are the same; null and exists: false mean absent. kind and apiVersion are
// constants (the decoder makes every event audit.k8s.io/v1). stageTimestamp and
// responseStatus beyond code, status, reason and message are not given to rules: a rule
// naming them is unsupported.
//
// A field whose first segment is not a top-level field of the event (SigmaHQ's hostPath,
// capabilities, apiGroup) is matched as a key path at any depth of the request body,
// objectRef, user and responseStatus; lint notes it. Such a rule needs the request body
// (below Request level its events are counted not evaluable) unless the key is one of
// objectRef's, user's or responseStatus's, and the raw body must hold the key before it
// is parsed.
//
// Values compare as strings without case (cased: with case); numbers and booleans as the
// text the event's JSON writes; a number field (responseStatus.code) against a value that
// is not a number never matches, and lint says so. Keywords are found in any value of the
// event. Every modifier of the appendix is read: contains, startswith, endswith, all,
// re (RE2, with i, m, s), cidr, base64, base64offset, utf16le/utf16be/utf16/wide (only
// before base64: UTF-16 bytes never appear in JSON text), windash, exists, cased, neq,
// lt/lte/gt/gte, minute/hour/day/week/month/year (UTC), expand (%registries%, %images%,
// %system_identities%, %operators% from the allowlists, with their globs), fieldref.
//
// # Stages and the prefilter
//
// One request is logged at several stages. A rule that does not read the stage sees every
// stage but RequestReceived, which a later stage of the same request always repeats with
// the outcome (kube-apiserver writes a failed authentication only at ResponseStarted, a
// long-running request at ResponseStarted and ResponseComplete: such a request counts
// twice in its finding, as in a SIEM). The prefilter takes the values a field must have in
// every match: verbs, resources, subresources and namespaces are compared lowercase, as
// the apiserver writes them. A test the prefilter makes exactly is left out of the CEL
// (most SigmaHQ rules need none: `rules show` prints both); a correlation that ORs
// several rules under their merged prefilter keeps every rule's full expression.
//
// # Correlations and filters
//
// event_count maps onto threshold, value_count onto distinct (the field's distinct
// values), temporal onto distinct (the distinct rules matched), temporal_ordered onto
// sequence; group-by fields (with aliases, per rule) make the key, timespan the window.
// The engine fires when a count reaches a threshold, so conditions are gte and gt; lt,
// lte, eq, neq and ranges, value_sum/avg/percentile and chains of correlations are
// unsupported. The rules a correlation names fire on their own only with generate: true.
// A filter (filter: rules, selections, condition) adds "and not (its condition)" to each
// rule it names, by id or name; naming a correlation filters the events it counts.
//
// # Attribution
//
// SigmaHQ's rules are under the Detection Rule License 1.1: their author and references
// stay visible wherever their findings are shown. A finding's message is the title,
// "Sigma rule by <author>" and the references; analyzer.Attribute copies author and
// references into the finding's fields for JSON.
package sigma
