package analyzer

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	authnv1 "k8s.io/api/authentication/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer/sigma/sigmafn"
	"github.com/kubesleuth/kubesleuth/analyzer/workload"
)

// newEnv builds the CEL environment of rule expressions: one variable per top-level
// field of the audit event, and the helper functions of analyzer/rules/README.md.
func newEnv(al Allowlists) (*cel.Env, error) {
	mapSD := cel.MapType(cel.StringType, cel.DynType)
	unary := func(name string, arg, ret *cel.Type, fn func(ref.Val) ref.Val) cel.EnvOption {
		return cel.Function(name, cel.Overload(name+"_"+arg.String(), []*cel.Type{arg}, ret, cel.UnaryBinding(fn)))
	}
	return cel.NewEnv(
		ext.Strings(), ext.Lists(), ext.Sets(),
		sigmafn.Library(), // what Sigma rules translate to (analyzer/sigma)
		cel.Variable("auditID", cel.StringType),
		cel.Variable("stage", cel.StringType),
		cel.Variable("level", cel.StringType),
		cel.Variable("verb", cel.StringType),
		cel.Variable("requestURI", cel.StringType),
		cel.Variable("userAgent", cel.StringType),
		cel.Variable("user", mapSD),
		cel.Variable("impersonatedUser", mapSD),
		cel.Variable("sourceIPs", cel.ListType(cel.StringType)),
		cel.Variable("objectRef", mapSD),
		cel.Variable("responseStatus", mapSD),
		cel.Variable("requestObject", cel.DynType),
		cel.Variable("responseObject", cel.DynType),
		cel.Variable("annotations", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("time", cel.TimestampType),
		cel.Variable("object", cel.DynType),
		cel.Variable("change", cel.DynType),
		cel.Variable("authorized", cel.BoolType),
		cel.Variable("onBehalf", cel.BoolType),
		cel.Variable("expectedWorkload", cel.BoolType),
		cel.Variable("objectName", cel.StringType),

		unary("podSpec", cel.DynType, cel.DynType, func(v ref.Val) ref.Val {
			return cached(v, podSpecKey, func(m map[string]any) ref.Val { return native(orEmpty(workload.PodSpec(m))) })
		}),
		unary("podMetadata", cel.DynType, cel.DynType, func(v ref.Val) ref.Val {
			return native(orEmpty(workload.PodMetadata(asMap(v))))
		}),
		unary("containers", cel.DynType, cel.ListType(cel.DynType), func(v ref.Val) ref.Val {
			return cached(v, containersKey, func(m map[string]any) ref.Val { return native(workload.Containers(m)) })
		}),
		unary("execCommand", cel.StringType, cel.ListType(cel.StringType), func(v ref.Val) ref.Val {
			return native(ExecCommand(string(v.(types.String))))
		}),
		unary("image", cel.StringType, mapSD, func(v ref.Val) ref.Val {
			r := ParseImage(string(v.(types.String)))
			return native(map[string]any{"registry": r.Registry, "repository": r.Repository, "tag": r.Tag, "digest": r.Digest})
		}),
		unary("ipClass", cel.StringType, cel.StringType, func(v ref.Val) ref.Val {
			return types.String(IPClass(string(v.(types.String))))
		}),
		unary("netTargets", cel.StringType, cel.ListType(cel.StringType), func(v ref.Val) ref.Val {
			return native(NetTargets(string(v.(types.String))))
		}),
		unary("configured", cel.StringType, cel.BoolType, func(v ref.Val) ref.Val {
			l, ok := al.list(string(v.(types.String)))
			if !ok {
				return types.NewErr("configured: unknown list %q (want %s)", string(v.(types.String)), listNames)
			}
			return types.Bool(len(l) > 0)
		}),
		cel.Function("secretMaterial",
			cel.Overload("secretMaterial_dyn", []*cel.Type{cel.DynType}, cel.ListType(mapSD), cel.UnaryBinding(func(v ref.Val) ref.Val {
				return secretPlaces(v.Value())
			})),
			// secretMaterial(obj, kind): obj read as an object of that kind, for patch
			// bodies that carry no kind of their own
			cel.Overload("secretMaterial_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, cel.ListType(mapSD), cel.BinaryBinding(func(v, kind ref.Val) ref.Val {
				m := asMap(v)
				if m == nil {
					return secretPlaces(v.Value())
				}
				cp := make(map[string]any, len(m)+1)
				for k, x := range m {
					cp[k] = x
				}
				cp["kind"] = string(kind.(types.String))
				return secretPlaces(cp)
			}))),
		unary("csr", cel.StringType, mapSD, func(v ref.Val) ref.Val {
			return native(ParseCSR(string(v.(types.String))))
		}),
		cel.Function("allowed", cel.Overload("allowed_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(list, value ref.Val) ref.Val {
				name := string(list.(types.String))
				if _, ok := al.list(name); !ok {
					return types.NewErr("allowed: unknown list %q (want %s)", name, listNames)
				}
				return types.Bool(al.Allowed(name, string(value.(types.String))))
			}))),
		unary("isSystem", cel.DynType, cel.BoolType, func(v ref.Val) ref.Val {
			m := asMap(v)
			if b, ok := m[systemKey].(bool); ok {
				return types.Bool(b) // an event's identity map: decided once per identity
			}
			name, _ := m["username"].(string)
			return types.Bool(al.IsSystem(name, stringsOf(m["groups"])))
		}),
	)
}

var nativeAdapter = types.DefaultTypeAdapter

// The pod-spec helpers are called by a dozen workload rules on the same body, each a walk
// and a copy: the first call keeps its result in the map it was given, under a key no
// JSON field can have (a NUL), and the others read it. The maps are the event's parsed
// body (one Matcher's, for one event), or maps those helpers made.
const (
	podSpecKey    = "\x00podSpec"
	containersKey = "\x00containers"
)

func cached(v ref.Val, key string, fn func(map[string]any) ref.Val) ref.Val {
	m, own := v.Value().(map[string]any)
	if !own {
		return fn(asMap(v)) // a CEL map literal: nothing to keep it in
	}
	if r, ok := m[key].(ref.Val); ok {
		return r
	}
	r := fn(m)
	m[key] = r
	return r
}

func native(v any) ref.Val { return nativeAdapter.NativeToValue(v) }

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

var mapType = reflect.TypeOf(map[string]any{})

// asMap turns a CEL value into a Go map (nil for non-maps), whether it wraps our own
// decoded JSON or came from a CEL map literal.
func asMap(v ref.Val) map[string]any {
	if m, ok := v.Value().(map[string]any); ok {
		return m
	}
	if v.Type() != types.MapType {
		return nil
	}
	n, err := v.ConvertToNative(mapType)
	if err != nil {
		return nil
	}
	m, _ := n.(map[string]any)
	return m
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// eventVars is the CEL activation of one event. Variables are built on first use and
// kept for the other rules that look at the same event: most events are rejected by the
// prefilters and never get here, and most rules read only a few fields.
type statusKey struct {
	code                    int64
	status, reason, message string
}

type eventVars struct {
	al *Allowlists
	// identities interned across events (identity.go), and this event's
	idents     map[uint64][]*identity
	nIdents    uint32
	nameGroups map[string]uint32
	lastByName map[string]*identity
	curIdent   *identity
	uniq       uint32 // numbers the events whose memo part is their own (memo.go)
	objects    map[auditv1.ObjectReference]map[string]any
	statuses   map[statusKey]map[string]any
	// memo key parts of this event (memo.go): their interned numbers, which are known,
	// the intern tables, and whether they must be flushed before the next event
	partIDs   [nMemoVars]uint32
	partOK    uint16
	intern    [nMemoVars]map[string]uint32
	ipIDs     map[[2]string]uint32
	objIDs    map[auditv1.ObjectReference]uint32
	flush     bool
	ev        *auditv1.Event
	cache     map[string]any
	reqBody   any
	respBody  any
	bodies    uint8 // bit 1: request parsed, bit 2: response parsed
	changeV   any
	hasChange bool
	ownerV    *ownerInfo
	hasOwner  bool
}

var _ interpreter.Activation = (*eventVars)(nil)

func (a *eventVars) reset(ev *auditv1.Event) {
	a.ev = ev
	clear(a.cache)
	a.partOK = 0
	a.curIdent = nil
	a.reqBody, a.respBody, a.bodies = nil, nil, 0
	a.changeV, a.hasChange, a.ownerV, a.hasOwner = nil, false, nil, false
}

func (a *eventVars) Parent() interpreter.Activation { return nil }

func (a *eventVars) ResolveName(name string) (any, bool) {
	ev := a.ev
	switch name {
	case "auditID":
		return string(ev.AuditID), true
	case "stage":
		return string(ev.Stage), true
	case "level":
		return string(ev.Level), true
	case "verb":
		return ev.Verb, true
	case "requestURI":
		return ev.RequestURI, true
	case "userAgent":
		return ev.UserAgent, true
	case "sourceIPs":
		if ev.SourceIPs == nil {
			return []string{}, true
		}
		return ev.SourceIPs, true
	case "time":
		return ev.RequestReceivedTimestamp.Time, true
	case "annotations":
		if ev.Annotations == nil {
			return map[string]string{}, true
		}
		return ev.Annotations, true
	case "requestObject":
		return a.body(true), true
	case "responseObject":
		return a.body(false), true
	case "object":
		return a.object(), true
	case "change":
		return a.change(), true
	case "authorized":
		return authorizedEvent(ev), true
	case "onBehalf":
		return a.onBehalf(), true
	case "expectedWorkload":
		return a.expectedWorkload(), true
	case "objectName":
		return a.objectName(), true
	}
	if v, ok := a.cache[name]; ok {
		return v, true
	}
	var v any
	switch name {
	case "user":
		v = a.identityMap()
	case "impersonatedUser":
		if ev.ImpersonatedUser != nil {
			v = a.userMap(ev.ImpersonatedUser)
		} else {
			v = map[string]any{"username": "", "uid": "", "groups": []any{}, "extra": map[string]any{}}
		}
	case "objectRef":
		var r auditv1.ObjectReference
		if ev.ObjectRef != nil {
			r = *ev.ObjectRef
		}
		// the same object (a lease renewed every ten seconds) recurs: share its map
		m, ok := a.objects[r]
		if !ok {
			m = map[string]any{"resource": r.Resource, "namespace": r.Namespace, "name": r.Name, "uid": string(r.UID),
				"apiGroup": r.APIGroup, "apiVersion": r.APIVersion, "resourceVersion": r.ResourceVersion, "subresource": r.Subresource}
			if a.objects != nil {
				if len(a.objects) >= 4096 {
					clear(a.objects)
				}
				a.objects[r] = m
			}
		}
		v = m
	case "responseStatus":
		var k statusKey
		if s := ev.ResponseStatus; s != nil {
			k = statusKey{int64(s.Code), s.Status, string(s.Reason), s.Message}
		}
		m, ok := a.statuses[k]
		if !ok {
			m = map[string]any{"code": k.code, "status": k.status, "reason": k.reason, "message": k.message}
			if a.statuses != nil {
				if len(a.statuses) >= 1024 {
					clear(a.statuses)
				}
				a.statuses[k] = m
			}
		}
		v = m
	default:
		return nil, false
	}
	if a.cache == nil {
		a.cache = map[string]any{}
	}
	a.cache[name] = v
	return v, true
}

// systemKey holds, in the identity maps the engine makes (user, impersonatedUser),
// whether the identity is a system one: the maps are reused across the events of an
// identity, so the allowlist is consulted once per identity, not once per rule and event.
// The NUL makes it a key no field of the audit event can have.
const systemKey = "\x00isSystem"

func (a *eventVars) userMap(u *authnv1.UserInfo) map[string]any {
	m := userMap(u)
	if a.al != nil {
		m[systemKey] = a.al.IsSystem(u.Username, u.Groups)
	}
	return m
}

func userMap(u *authnv1.UserInfo) map[string]any {
	groups := make([]any, len(u.Groups))
	for i, g := range u.Groups {
		groups[i] = g
	}
	extra := make(map[string]any, len(u.Extra))
	for k, vs := range u.Extra {
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		extra[k] = l
	}
	return map[string]any{"username": u.Username, "uid": u.UID, "groups": groups, "extra": extra}
}

// body parses a request or response body once per event; absent or undecodable bodies
// are {} so that field selections simply do not match.
func (a *eventVars) body(request bool) any {
	bit, dst, src := uint8(2), &a.respBody, a.ev.ResponseObject
	if request {
		bit, dst, src = 1, &a.reqBody, a.ev.RequestObject
	}
	if a.bodies&bit == 0 {
		a.bodies |= bit
		*dst = map[string]any{}
		if src != nil && len(src.Raw) > 0 {
			var v any
			if err := json.Unmarshal(src.Raw, &v); err == nil && v != nil {
				*dst = v
			}
		}
	}
	return *dst
}

func timeOf(ev *auditv1.Event) time.Time {
	if t := ev.RequestReceivedTimestamp.Time; !t.IsZero() {
		return t
	}
	return ev.StageTimestamp.Time
}

func secretPlaces(v any) ref.Val {
	places := SecretMaterial(v)
	out := make([]any, len(places))
	for i, p := range places {
		out[i] = map[string]any{"path": p.Path, "kind": p.Kind}
	}
	return native(out)
}
