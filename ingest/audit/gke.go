package audit

import (
	"regexp"
	"strings"

	gojson "github.com/goccy/go-json"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// gkeEntry is the LogEntry around a GKE Cloud Audit Log record.
type gkeEntry struct {
	InsertID  string            `json:"insertId"`
	Timestamp string            `json:"timestamp"`
	Labels    map[string]string `json:"labels"`
	Operation *struct {
		ID string `json:"id"`
	} `json:"operation"`
}

// gkePayload is the google.cloud.audit.AuditLog payload of a GKE entry.
type gkePayload struct {
	ServiceName        string `json:"serviceName"`
	MethodName         string `json:"methodName"`
	ResourceName       string `json:"resourceName"`
	AuthenticationInfo struct {
		PrincipalEmail string `json:"principalEmail"`
	} `json:"authenticationInfo"`
	RequestMetadata struct {
		CallerIP                string `json:"callerIp"`
		CallerSuppliedUserAgent string `json:"callerSuppliedUserAgent"`
	} `json:"requestMetadata"`
	Status *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Request  gojson.RawMessage `json:"request"`
	Response gojson.RawMessage `json:"response"`
}

var versionSegment = regexp.MustCompile(`^v[0-9]+((alpha|beta)[0-9]+)?$`)

// grpcToHTTP maps google.rpc.Code (what GKE records) to the HTTP status the apiserver sent.
var grpcToHTTP = map[int]int32{
	0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
	9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}

// fromGKE maps a GKE Cloud Audit Log entry (serviceName k8s.io) onto an audit event.
// What GKE does not record (groups, stages) stays empty; the entry's insertId (or
// operation id) becomes the auditID.
func fromGKE(p *gkePayload, e *gkeEntry) decoded {
	if p.ServiceName != "k8s.io" {
		return decoded{reason: OtherService, msg: "cloud audit entry of service " + preview(p.ServiceName) + ", not k8s.io"}
	}
	id := e.InsertID
	if e.Operation != nil && e.Operation.ID != "" {
		id = e.Operation.ID
	}
	if id == "" {
		return decoded{reason: NoAuditID, msg: "GKE audit entry without insertId or operation id"}
	}
	if e.Timestamp == "" {
		return decoded{reason: NoTimestamp, msg: "GKE audit entry without timestamp"}
	}
	ts, msg := checkTime("timestamp", e.Timestamp)
	if msg != "" {
		return decoded{reason: BadTimestamp, msg: "GKE audit entry " + msg}
	}
	ev := &auditv1.Event{
		TypeMeta:                 metav1.TypeMeta{Kind: "Event", APIVersion: apiVersionV1},
		Level:                    auditv1.LevelMetadata,
		AuditID:                  types.UID(id),
		Stage:                    auditv1.StageResponseComplete,
		User:                     authnv1.UserInfo{Username: p.AuthenticationInfo.PrincipalEmail},
		UserAgent:                p.RequestMetadata.CallerSuppliedUserAgent,
		RequestReceivedTimestamp: metav1.NewMicroTime(ts),
		StageTimestamp:           metav1.NewMicroTime(ts),
	}
	if p.RequestMetadata.CallerIP != "" {
		ev.SourceIPs = []string{p.RequestMetadata.CallerIP}
	}
	if len(e.Labels) > 0 {
		ev.Annotations = e.Labels
	}
	ref, verb := gkeObjectRef(p.MethodName, p.ResourceName)
	ev.Verb = verb
	ev.ObjectRef = ref
	ev.RequestURI = gkeRequestURI(ref)
	code := int32(200)
	msg = ""
	if p.Status != nil {
		if c, ok := grpcToHTTP[p.Status.Code]; ok {
			code = c
		} else {
			code = 500
		}
		msg = p.Status.Message
	}
	ev.ResponseStatus = &metav1.Status{Code: code, Message: msg}
	if code >= 400 {
		ev.ResponseStatus.Status = metav1.StatusFailure
	}
	if len(p.Request) > 0 && string(p.Request) != "null" {
		ev.RequestObject = &runtime.Unknown{Raw: append([]byte(nil), p.Request...), ContentType: runtime.ContentTypeJSON}
		ev.Level = auditv1.LevelRequest
	}
	if len(p.Response) > 0 && string(p.Response) != "null" {
		ev.ResponseObject = &runtime.Unknown{Raw: append([]byte(nil), p.Response...), ContentType: runtime.ContentTypeJSON}
		ev.Level = auditv1.LevelRequestResponse
	}
	return accept(ev)
}

// gkeObjectRef reads the object from resourceName ("core/v1/namespaces/default/pods/web/exec")
// and the verb and subresource from methodName ("io.k8s.core.v1.pods.exec.create").
func gkeObjectRef(method, resource string) (*auditv1.ObjectReference, string) {
	segs := strings.Split(strings.TrimPrefix(method, "io.k8s."), ".")
	verb := segs[len(segs)-1]
	ref := &auditv1.ObjectReference{}
	vi := -1
	for i, s := range segs[:len(segs)-1] {
		if versionSegment.MatchString(s) {
			vi = i
			break
		}
	}
	if vi >= 0 {
		if vi+1 < len(segs)-1 {
			ref.Resource = segs[vi+1]
		}
		if vi+2 < len(segs)-1 {
			ref.Subresource = segs[vi+2]
		}
		ref.APIVersion = segs[vi]
	}
	parts := strings.Split(strings.Trim(resource, "/"), "/")
	if len(parts) >= 2 && versionSegment.MatchString(parts[1]) {
		if parts[0] != "core" {
			ref.APIGroup = parts[0]
		}
		ref.APIVersion = parts[1]
		rest := parts[2:]
		if len(rest) >= 2 && rest[0] == "namespaces" && (len(rest) > 2 || ref.Resource != "namespaces") {
			ref.Namespace = rest[1]
			rest = rest[2:]
		}
		if len(rest) >= 1 {
			ref.Resource = rest[0]
		}
		if len(rest) >= 2 {
			ref.Name = rest[1]
		}
		if len(rest) >= 3 {
			ref.Subresource = rest[2]
		}
	}
	if ref.Resource == "" && ref.Name == "" {
		return nil, verb
	}
	return ref, verb
}

func gkeRequestURI(ref *auditv1.ObjectReference) string {
	if ref == nil {
		return ""
	}
	var b strings.Builder
	if ref.APIGroup == "" {
		b.WriteString("/api/")
	} else {
		b.WriteString("/apis/" + ref.APIGroup + "/")
	}
	b.WriteString(ref.APIVersion)
	if ref.Namespace != "" {
		b.WriteString("/namespaces/" + ref.Namespace)
	}
	for _, p := range []string{ref.Resource, ref.Name, ref.Subresource} {
		if p != "" {
			b.WriteString("/" + p)
		}
	}
	return b.String()
}
