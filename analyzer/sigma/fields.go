package sigma

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer/sigma/sigmafn"
)

// accessor is how a Sigma field name reads the audit event in the engine's CEL: its
// values and their type. Sigma field names for Kubernetes audit logs are the event's own
// JSON paths (audit.k8s.io/v1); the engine gives CEL one variable per top-level field.
type accessor struct {
	field string  // the Sigma field name
	kind  accKind // what expr yields
	expr  string  // CEL
	guard string  // aOptString: CEL bool, the value is present
	needs string  // "", "request" or "response": the body the field reads
	// key identifies a field the prefilter can test ("verb", "objectRef.resource"...)
	key  string
	note string // how the field was resolved, when not plainly
	line int    // where the rule names it
	// deep is the last key of a field searched at any depth; body the last key of a
	// requestObject or responseObject path: a value found there sits under that JSON key
	deep, body string
}

type accKind uint8

const (
	aString    accKind = iota // a string, "" when absent (the event omits empty fields)
	aOptString                // a string present only when guard holds (an annotation)
	aInt                      // an int, 0 when absent (responseStatus.code)
	aStrList                  // a list of strings (user.groups, sourceIPs)
	aTime                     // a timestamp (requestReceivedTimestamp)
	aConst                    // a constant string (kind, apiVersion: the decoder makes every event audit.k8s.io/v1)
	aDyn                      // list(dyn): values found by sigmaValues
	aKeyword                  // keyword search: every scalar of the event
)

var topLevel = map[string]bool{"kind": true, "apiVersion": true, "level": true, "auditID": true, "stage": true,
	"requestURI": true, "verb": true, "user": true, "impersonatedUser": true, "sourceIPs": true, "userAgent": true,
	"objectRef": true, "responseStatus": true, "requestObject": true, "responseObject": true,
	"requestReceivedTimestamp": true, "stageTimestamp": true, "annotations": true}

var objectRefKeys = []string{"resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource"}

// metadataKeys are keys found in objectRef, user and responseStatus: a field of that name
// searched at any depth is found without a body.
var metadataKeys = map[string]bool{"resource": true, "namespace": true, "name": true, "uid": true, "apiGroup": true,
	"apiVersion": true, "resourceVersion": true, "subresource": true, "username": true, "groups": true, "extra": true,
	"code": true, "status": true, "reason": true, "message": true}

// deepRoots are the event's parts a field name outside the event's schema is searched
// in: the request body (the object the client sent) and the maps that name the request
// (object, identity, outcome). The response body (the apiserver's copy of the object,
// managedFields and all) and the annotations are left out: they are named by their own
// paths (responseObject.x, annotations.k), and the key can then be looked for in the raw
// request body before anything is parsed.
const deepRoots = "[user, impersonatedUser, objectRef, responseStatus, requestObject]"

// keywordRoots is every field of the event, for keyword search.
const keywordRoots = "[auditID, stage, level, verb, requestURI, userAgent, user, impersonatedUser, sourceIPs, objectRef, responseStatus, requestObject, responseObject, annotations, string(time)]"

func q(s string) string { return strconv.Quote(s) }

// resolveField maps a Sigma field name onto the event. A name whose first segment is not
// a top-level field of audit.k8s.io/v1 Event (hostPath, capabilities, apiGroup in some
// SigmaHQ rules) is searched as a key path at any depth of the event; the note says so.
// Paths the engine does not give rules (stageTimestamp, responseStatus.details) are
// errors: the rule is reported unsupported rather than silently never matching.
func resolveField(name string) (accessor, error) {
	a := accessor{field: name}
	if name == "" {
		// keywords search whatever the event holds: at Metadata level its metadata
		a.kind, a.expr = aKeyword, "sigmaLeaves("+keywordRoots+")"
		return a, nil
	}
	segs := strings.Split(name, ".")
	head, rest := segs[0], strings.Join(segs[1:], ".")
	for _, s := range segs {
		if s == "" {
			return a, fmt.Errorf("field %q: empty path segment", name)
		}
	}
	if !topLevel[head] {
		a.kind = aDyn
		a.expr = "sigmaValues(" + deepRoots + ", " + q(sigmafn.Deep+name) + ")"
		if !metadataKeys[segs[len(segs)-1]] {
			a.needs = "request"
			a.deep = segs[len(segs)-1] // then only the request body can hold it
		}
		a.note = fmt.Sprintf("field %q is not a path of the audit event (audit.k8s.io/v1): it is matched as a key path at any depth of the request body, objectRef, user and responseStatus", name)
		return a, nil
	}
	single := func(kind accKind, expr string) (accessor, error) {
		if rest != "" {
			return a, fmt.Errorf("field %q: %s has no field %q", name, head, rest)
		}
		a.kind, a.expr, a.key = kind, expr, head
		return a, nil
	}
	switch head {
	case "kind":
		a.note = "field \"kind\" is always \"Event\": the decoder reads audit events only"
		return single(aConst, "Event")
	case "apiVersion":
		a.note = "field \"apiVersion\" is always \"audit.k8s.io/v1\": the decoder converts audit.k8s.io/v1beta1 events to v1"
		return single(aConst, "audit.k8s.io/v1")
	case "level", "auditID", "stage", "requestURI", "verb", "userAgent":
		return single(aString, head)
	case "sourceIPs":
		return single(aStrList, head)
	case "requestReceivedTimestamp":
		return single(aTime, "time")
	case "stageTimestamp":
		return a, fmt.Errorf("field %q: the engine gives rules requestReceivedTimestamp only, not stageTimestamp", name)
	case "user", "impersonatedUser":
		switch {
		case rest == "":
			a.kind, a.expr = aDyn, "sigmaValues("+head+", \"\")"
		case rest == "username" || rest == "uid":
			a.kind, a.expr, a.key = aString, head+"."+rest, head+"."+rest
		case rest == "groups":
			a.kind, a.expr, a.key = aStrList, head+".groups", head+".groups"
		case rest == "extra":
			a.kind, a.expr = aDyn, "sigmaValues("+head+", \"extra\")"
		case strings.HasPrefix(rest, "extra."):
			k := q(strings.TrimPrefix(rest, "extra."))
			a.kind, a.expr = aStrList, "("+k+" in "+head+".extra ? "+head+".extra["+k+"] : [])"
		default:
			return a, fmt.Errorf("field %q: %s has username, uid, groups and extra, not %q", name, head, rest)
		}
		return a, nil
	case "objectRef":
		if rest == "" {
			a.kind, a.expr = aDyn, "sigmaValues(objectRef, \"\")"
			return a, nil
		}
		for _, k := range objectRefKeys {
			if rest == k {
				a.kind, a.expr, a.key = aString, "objectRef."+k, "objectRef."+k
				return a, nil
			}
		}
		return a, fmt.Errorf("field %q: objectRef has %s, not %q", name, strings.Join(objectRefKeys, ", "), rest)
	case "responseStatus":
		switch rest {
		case "":
			a.kind, a.expr = aDyn, "sigmaValues(responseStatus, \"\")"
		case "code":
			a.kind, a.expr, a.key = aInt, "responseStatus.code", "responseStatus.code"
		case "status", "reason", "message":
			a.kind, a.expr, a.key = aString, "responseStatus."+rest, "responseStatus."+rest
		default:
			return a, fmt.Errorf("field %q: the engine gives rules responseStatus.code, status, reason and message, not %q", name, rest)
		}
		return a, nil
	case "requestObject", "responseObject":
		a.kind, a.expr = aDyn, "sigmaValues("+head+", "+q(rest)+")"
		if rest != "" {
			a.body = segs[len(segs)-1]
		}
		a.needs = "request"
		if head == "responseObject" {
			a.needs = "response"
		}
		return a, nil
	case "annotations":
		if rest == "" {
			a.kind, a.expr = aDyn, "sigmaValues(annotations, \"\")"
			return a, nil
		}
		// annotation keys hold dots and slashes: the rest of the path is one key
		a.kind, a.guard, a.expr = aOptString, q(rest)+" in annotations", "annotations["+q(rest)+"]"
		a.key = "annotations." + rest
		return a, nil
	}
	return a, fmt.Errorf("field %q: not handled", name)
}
