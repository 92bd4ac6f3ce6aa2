package sigma

import (
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// Every value modifier of the specification's appendix, on audit events.
func TestModifiers(t *testing.T) {
	runCases(t, []matchCase{
		{name: "plain value is case-insensitive equality",
			detection: "selection:\n    userAgent: 'KUBECTL/V1.32.4 (linux/amd64) kubernetes/4cb5f07'\ncondition: selection",
			fire:      []string{``},
			miss:      []string{`{"userAgent":"kubectl/v1.32.4"}`}},
		{name: "contains",
			detection: "selection:\n    requestURI|contains: '/Namespaces/'\ncondition: selection",
			fire:      []string{``},
			miss:      []string{`{"requestURI":"/api/v1/pods"}`}},
		{name: "startswith",
			detection: "selection:\n    userAgent|startswith: 'Kubectl/'\ncondition: selection",
			fire:      []string{``},
			miss:      []string{`{"userAgent":"python-requests/2.31 kubectl/"}`}},
		{name: "endswith",
			detection: "selection:\n    user.username|endswith: ':ADMIN'\ncondition: selection",
			fire:      []string{`{"user":{"username":"system:serviceaccount:ci:admin"}}`},
			miss:      []string{`{"user":{"username":"admin:ci"}}`}},
		{name: "contains|all: every value",
			detection: "selection:\n    requestURI|contains|all:\n        - 'command=sh'\n        - 'stdin=true'\ncondition: selection",
			fire:      []string{`{"requestURI":"/api/v1/namespaces/a/pods/p/exec?command=sh&stdin=true"}`},
			miss:      []string{`{"requestURI":"/api/v1/namespaces/a/pods/p/exec?command=sh&stdin=false"}`}},
		{name: "list without all: any value",
			detection: "selection:\n    requestURI|contains:\n        - 'command=sh'\n        - 'stdin=true'\ncondition: selection",
			fire:      []string{`{"requestURI":"/x?stdin=true"}`, `{"requestURI":"/x?command=sh"}`},
			miss:      []string{`{"requestURI":"/x?command=ls"}`}},
		{name: "re is case-sensitive and searches",
			detection: "selection:\n    requestURI|re: 'command=(ba)?sh(&|$)'\ncondition: selection",
			fire:      []string{`{"requestURI":"/exec?command=bash&stdin=true"}`, `{"requestURI":"/exec?command=sh"}`},
			miss:      []string{`{"requestURI":"/exec?command=BASH"}`, `{"requestURI":"/exec?command=shx"}`}},
		{name: "re|i",
			detection: "selection:\n    requestURI|re|i: 'command=bash'\ncondition: selection",
			fire:      []string{`{"requestURI":"/exec?command=BASH"}`},
			miss:      []string{`{"requestURI":"/exec?command=zsh"}`}},
		{name: "re|m: anchors at each line",
			detection: "selection:\n    requestObject.data.script|re|m: '^curl '\ncondition: selection",
			fire:      []string{`{"requestObject":{"data":{"script":"set -e\ncurl http://x | sh"}}}`},
			miss:      []string{`{"requestObject":{"data":{"script":"set -e; curl http://x"}}}`}},
		{name: "re without m: ^ is the start of the value",
			detection: "selection:\n    requestObject.data.script|re: '^curl '\ncondition: selection",
			miss:      []string{`{"requestObject":{"data":{"script":"set -e\ncurl http://x | sh"}}}`}},
		{name: "re|s: dot matches newline",
			detection: "selection:\n    requestObject.data.script|re|s: 'begin.*end'\ncondition: selection",
			fire:      []string{`{"requestObject":{"data":{"script":"begin\nmiddle\nend"}}}`}},
		{name: "re without s: dot stops at newline",
			detection: "selection:\n    requestObject.data.script|re: 'begin.*end'\ncondition: selection",
			miss:      []string{`{"requestObject":{"data":{"script":"begin\nmiddle\nend"}}}`}},
		{name: "cidr on a list field, v4 and v6",
			detection: "selection:\n    sourceIPs|cidr:\n        - '203.0.113.0/24'\n        - '2001:db8::/32'\ncondition: selection",
			fire:      []string{`{"sourceIPs":["203.0.113.77","127.0.0.1"]}`, `{"sourceIPs":["2001:db8::1"]}`, `{"sourceIPs":["::ffff:203.0.113.9"]}`},
			miss:      []string{`{"sourceIPs":["198.51.100.1"]}`, `{"sourceIPs":["not-an-ip"]}`}},
		{name: "cidr single address",
			detection: "selection:\n    sourceIPs|cidr: '169.254.169.254'\ncondition: selection",
			fire:      []string{`{"sourceIPs":["169.254.169.254"]}`},
			miss:      []string{`{"sourceIPs":["169.254.169.253"]}`}},
		{name: "base64: the encoded value",
			detection: "selection:\n    requestObject.data.payload|base64: 'curl http://evil'\ncondition: selection",
			fire:      []string{`{"requestObject":{"data":{"payload":"Y3VybCBodHRwOi8vZXZpbA=="}}}`},
			miss:      []string{`{"requestObject":{"data":{"payload":"curl http://evil"}}}`}},
		{name: "base64offset|contains at each of the three offsets",
			detection: "selection:\n    requestURI|base64offset|contains: '/bin/bash'\ncondition: selection",
			// base64 of "/bin/bash -i", "x/bin/bash -i", "xy/bin/bash -i"
			fire: []string{`{"requestURI":"/exec?command=L2Jpbi9iYXNoIC1p"}`, `{"requestURI":"/exec?command=eC9iaW4vYmFzaCAtaQ=="}`,
				`{"requestURI":"/exec?command=eHkvYmluL2Jhc2ggLWk="}`},
			miss: []string{`{"requestURI":"/exec?command=L2Jpbi9zaCAtaQ=="}`}}, // /bin/sh -i
		{name: "utf16le|base64offset|contains (wide)",
			detection: "selection:\n    requestURI|wide|base64offset|contains: 'cmd'\ncondition: selection",
			fire:      []string{`{"requestURI":"/exec?command=YwBtAGQA"}`}, // UTF-16LE "cmd"
			miss:      []string{`{"requestURI":"/exec?command=Y21k"}`}},    // UTF-8 "cmd"
		{name: "utf16 (byte order mark) and utf16be, then base64",
			detection: "bom:\n    requestObject.data.a|utf16|base64: 'cmd'\nbe:\n    requestObject.data.b|utf16be|base64: 'cmd'\ncondition: bom and be",
			fire:      []string{`{"requestObject":{"data":{"a":"//5jAG0AZAA=","b":"AGMAbQBk"}}}`},
			miss:      []string{`{"requestObject":{"data":{"a":"AGMAbQBk","b":"//5jAG0AZAA="}}}`}},
		{name: "windash: any dash",
			detection: "selection:\n    requestURI|windash|contains: ' -enc '\ncondition: selection",
			fire:      []string{`{"requestURI":"x -enc y"}`, `{"requestURI":"x /enc y"}`, "{\"requestURI\":\"x \u2013enc y\"}", "{\"requestURI\":\"x \u2015enc y\"}"},
			miss:      []string{`{"requestURI":"x enc y"}`, `{"requestURI":"x +enc y"}`}},
		{name: "exists true",
			detection: "selection:\n    impersonatedUser.username|exists: true\ncondition: selection",
			fire:      []string{`{"impersonatedUser":{"username":"system:admin"}}`},
			miss:      []string{``}},
		{name: "exists false",
			detection: "selection:\n    requestObject.spec.hostNetwork|exists: false\ncondition: selection",
			fire:      []string{``},
			miss:      []string{`{"requestObject":{"spec":{"hostNetwork":false}}}`}},
		{name: "cased",
			detection: "selection:\n    objectRef.name|cased: 'Web'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"Web"}}`},
			miss:      []string{`{"objectRef":{"name":"web"}}`}},
		{name: "cased with wildcard",
			detection: "selection:\n    objectRef.name|cased: 'W*b'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"Wxxb"}}`},
			miss:      []string{`{"objectRef":{"name":"wxxb"}}`}},
		{name: "gte on an integer field",
			detection: "selection:\n    responseStatus.code|gte: 400\ncondition: selection",
			fire:      []string{`{"responseStatus":{"code":400}}`, `{"responseStatus":{"code":503}}`},
			miss:      []string{`{"responseStatus":{"code":399}}`}},
		{name: "lt, lte, gt on a body number",
			detection: "lt:\n    requestObject.spec.replicas|lt: 2\nlte:\n    requestObject.spec.replicas|lte: 2\ngt:\n    requestObject.spec.replicas|gt: 10\ncondition: (lt and lte) or gt",
			fire:      []string{`{"requestObject":{"spec":{"replicas":1}}}`, `{"requestObject":{"spec":{"replicas":11}}}`},
			miss:      []string{`{"requestObject":{"spec":{"replicas":2}}}`, `{"requestObject":{"spec":{"replicas":10}}}`, `{"requestObject":{"spec":{}}}`}},
		{name: "numeric comparison reads numeric strings",
			detection: "selection:\n    objectRef.resourceVersion|gt: 1000\ncondition: selection",
			fire:      []string{`{"objectRef":{"resourceVersion":"1001"}}`},
			miss:      []string{`{"objectRef":{"resourceVersion":"999"}}`, `{"objectRef":{"resourceVersion":"abc"}}`}},
		{name: "neq",
			detection: "selection:\n    verb: create\nother:\n    objectRef.namespace|neq:\n        - 'kube-system'\n        - 'kube-public'\ncondition: selection and other",
			fire:      []string{``},
			miss:      []string{`{"objectRef":{"namespace":"kube-system"}}`, `{"objectRef":{"namespace":"kube-public"}}`}},
		{name: "fieldref: equal to another field",
			detection: "selection:\n    user.username|fieldref: objectRef.name\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"ALICE"}}`},
			miss:      []string{``}},
		{name: "fieldref|endswith",
			detection: "selection:\n    user.username|fieldref|endswith: objectRef.name\ncondition: selection",
			fire:      []string{`{"user":{"username":"system:serviceaccount:default:web"}}`},
			miss:      []string{``}},
		{name: "fieldref|neq",
			detection: "selection:\n    objectRef.namespace|fieldref|neq: requestObject.metadata.namespace\nbody:\n    requestObject.metadata.namespace|exists: true\ncondition: selection and body",
			fire:      []string{`{"requestObject":{"metadata":{"namespace":"other"}}}`},
			miss:      []string{`{"requestObject":{"metadata":{"namespace":"default"}}}`, ``}},
		{name: "expand: an allowlist placeholder",
			detection: "selection:\n    user.username|expand: '%operators%'\ncondition: selection",
			fire:      []string{`{"user":{"username":"system:serviceaccount:argocd:application-controller"}}`, `{"user":{"username":"ops-bot"}}`, `{"user":{"username":"team-a-deployer"}}`},
			miss:      []string{``, `{"user":{"username":"team-a/b-deployer"}}`}},
		{name: "expand: escaped percent before a placeholder (specification example)",
			detection: "selection:\n    objectRef.name|expand: '\\%plain%operators%'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"%plainops-bot"}}`},
			miss:      []string{`{"objectRef":{"name":"ops-bot"}}`}},
		{name: "without expand a placeholder is literal (specification example)",
			detection: "selection:\n    objectRef.name: '%operators%'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"%OPERATORS%"}}`},
			miss:      []string{`{"objectRef":{"name":"ops-bot"}}`}},
		{name: "date parts: hour and weekday-free comparisons",
			detection: "night:\n    requestReceivedTimestamp|hour|lt: 6\nmarch:\n    requestReceivedTimestamp|month: 3\ncondition: night and march",
			fire:      []string{`{"requestReceivedTimestamp":"2026-03-10T03:59:00Z","stageTimestamp":"2026-03-10T03:59:00Z"}`},
			miss:      []string{`{"requestReceivedTimestamp":"2026-03-10T06:00:00Z","stageTimestamp":"2026-03-10T06:00:00Z"}`, `{"requestReceivedTimestamp":"2026-04-10T03:00:00Z","stageTimestamp":"2026-04-10T03:00:00Z"}`}},
		{name: "date parts of a body date",
			detection: "selection:\n    requestObject.metadata.creationTimestamp|year|gte: 2030\ncondition: selection",
			fire:      []string{`{"requestObject":{"metadata":{"creationTimestamp":"2031-01-01T00:00:00Z"}}}`},
			miss:      []string{`{"requestObject":{"metadata":{"creationTimestamp":"2029-12-31T23:59:59Z"}}}`}},
		{name: "week, day, minute",
			detection: "selection:\n    requestReceivedTimestamp|week: 11\n    requestReceivedTimestamp|day: 10\n    requestReceivedTimestamp|minute|gte: 30\ncondition: selection",
			fire:      []string{`{"requestReceivedTimestamp":"2026-03-10T10:45:00Z","stageTimestamp":"2026-03-10T10:45:00Z"}`},
			miss:      []string{`{"requestReceivedTimestamp":"2026-03-10T10:15:00Z","stageTimestamp":"2026-03-10T10:15:00Z"}`}},
	})
}

// Values: numbers, booleans, null, the empty string; lists of values in bodies.
func TestValues(t *testing.T) {
	runCases(t, []matchCase{
		{name: "integer on an integer field",
			detection: "selection:\n    responseStatus.code:\n        - 401\n        - 403\ncondition: selection",
			fire:      []string{`{"responseStatus":{"code":403}}`},
			miss:      []string{`{"responseStatus":{"code":404}}`}},
		{name: "quoted integer on an integer field",
			detection: "selection:\n    responseStatus.code: '401'\ncondition: selection",
			fire:      []string{`{"responseStatus":{"code":401}}`}},
		{name: "wildcard on an integer field",
			detection: "selection:\n    responseStatus.code: '40?'\ncondition: selection",
			fire:      []string{`{"responseStatus":{"code":404}}`},
			miss:      []string{`{"responseStatus":{"code":500}}`}},
		{name: "boolean in a body",
			detection: "selection:\n    requestObject.spec.hostNetwork: true\ncondition: selection",
			fire:      []string{`{"requestObject":{"spec":{"hostNetwork":true}}}`},
			miss:      []string{`{"requestObject":{"spec":{"hostNetwork":false}}}`, ``}},
		{name: "a path through a list (any container)",
			detection: "selection:\n    requestObject.spec.containers.securityContext.privileged: true\ncondition: selection",
			fire:      []string{`{"requestObject":{"spec":{"containers":[{"name":"a"},{"name":"b","securityContext":{"privileged":true}}]}}}`},
			miss:      []string{`{"requestObject":{"spec":{"containers":[{"name":"a","securityContext":{"privileged":false}}]}}}`}},
		{name: "a list value: any element",
			detection: "selection:\n    user.groups: 'system:masters'\ncondition: selection",
			fire:      []string{`{"user":{"groups":["system:authenticated","system:masters"]}}`},
			miss:      []string{``}},
		{name: "a key with dots (an annotation)",
			detection: "selection:\n    annotations.authorization.k8s.io/decision: 'allow'\n    requestObject.metadata.labels.app.kubernetes.io/name: 'web'\ncondition: selection",
			fire:      []string{`{"annotations":{"authorization.k8s.io/decision":"allow"},"requestObject":{"metadata":{"labels":{"app.kubernetes.io/name":"web"}}}}`},
			miss:      []string{`{"annotations":{"authorization.k8s.io/decision":"forbid"},"requestObject":{"metadata":{"labels":{"app.kubernetes.io/name":"web"}}}}`}},
		{name: "null: absent or null (specification example)",
			detection: "selection:\n    verb: create\nfilter:\n    requestObject.spec.serviceAccountName: null\ncondition: selection and not filter",
			fire:      []string{`{"requestObject":{"spec":{"serviceAccountName":"builder"}}}`},
			miss:      []string{``, `{"requestObject":{"spec":{"serviceAccountName":null}}}`}},
		{name: "null on a metadata field",
			detection: "selection:\n    impersonatedUser.username: null\ncondition: selection",
			fire:      []string{``},
			miss:      []string{`{"impersonatedUser":{"username":"bob"}}`}},
		{name: "empty string and null in two selections (specification example)",
			detection: "selection_main:\n    verb: 'create'\nselection_empty1:\n    objectRef.subresource: ''\nselection_empty2:\n    objectRef.subresource: null\ncondition: selection_main and 1 of selection_empty*",
			fire:      []string{``},
			miss:      []string{`{"objectRef":{"subresource":"exec"}}`}},
		{name: "the empty namespace: cluster-scoped objects and requests without an object",
			detection: "selection:\n    verb: get\n    objectRef.namespace: ''\ncondition: selection",
			fire:      []string{`{"verb":"get","requestURI":"/healthz","objectRef":null}`, `{"verb":"get","objectRef":{"resource":"nodes","namespace":null}}`},
			miss:      []string{`{"verb":"get"}`}},
		{name: "wildcard alone: any value, objects too",
			detection: "selection:\n    requestObject.spec.volumes.hostPath: '*'\ncondition: selection",
			fire:      []string{`{"requestObject":{"spec":{"volumes":[{"name":"v","hostPath":{"path":"/"}}]}}}`},
			miss:      []string{`{"requestObject":{"spec":{"volumes":[{"name":"v","emptyDir":{}}]}}}`}},
		{name: "a field that is not an audit event path is found at any depth",
			detection: "selection:\n    hostPath|exists: true\ncondition: selection",
			fire:      []string{`{"requestObject":{"spec":{"volumes":[{"name":"v","hostPath":{"path":"/"}}]}}}`},
			miss:      []string{``}},
		{name: "kind and apiVersion are the decoder's",
			detection: "selection:\n    kind: Event\n    apiVersion: 'audit.k8s.io/v1'\ncondition: selection",
			fire:      []string{``, `{"apiVersion":"audit.k8s.io/v1beta1"}`}},
		{name: "Unicode letters compare without case too",
			detection: "selection:\n    objectRef.name: 'ÉTÉ'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"été"}}`},
			miss:      []string{`{"objectRef":{"name":"ete"}}`}},
	})
}

// The specification's wildcard and escape rules.
func TestWildcardsAndEscapes(t *testing.T) {
	runCases(t, []matchCase{
		{name: "? is one character",
			detection: "selection:\n    objectRef.name: 'prog?.exe'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"progA.exe"}}`},
			miss:      []string{`{"objectRef":{"name":"prog.exe"}}`, `{"objectRef":{"name":"progAB.exe"}}`}},
		{name: "* is any length",
			detection: "selection:\n    objectRef.name: 'antivirus_V*.exe'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"antivirus_V1.exe"}}`, `{"objectRef":{"name":"antivirus_V21.2.1.exe"}}`, `{"objectRef":{"name":"antivirus_V.exe"}}`},
			miss:      []string{`{"objectRef":{"name":"antivirus_V1.exe.bak"}}`}},
		{name: "\\* is a plain star",
			detection: "selection:\n    objectRef.name: 'a\\*b'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"a*b"}}`},
			miss:      []string{`{"objectRef":{"name":"axb"}}`}},
		{name: "\\? is a plain question mark",
			detection: "selection:\n    objectRef.name: 'a\\?'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"a?"}}`},
			miss:      []string{`{"objectRef":{"name":"ab"}}`}},
		{name: "\\\\* is a backslash then a wildcard",
			detection: "selection:\n    objectRef.name: 'a\\\\*'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"a\\"}}`, `{"objectRef":{"name":"a\\xyz"}}`},
			miss:      []string{`{"objectRef":{"name":"axyz"}}`}},
		{name: "\\\\\\* is a backslash then a plain star",
			detection: "selection:\n    objectRef.name: 'a\\\\\\*'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"a\\*"}}`},
			miss:      []string{`{"objectRef":{"name":"a\\x"}}`}},
		{name: "a single backslash before a letter is plain",
			detection: "selection:\n    objectRef.name: 'C:\\Windows\\System32\\whoami.exe'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"c:\\windows\\system32\\WHOAMI.EXE"}}`}},
		{name: "double backslash is one backslash",
			detection: "selection:\n    objectRef.name: 'C:\\\\Windows'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"C:\\Windows"}}`}},
		{name: "three or four backslashes are two",
			detection: "three:\n    objectRef.name: 'a\\\\\\b'\nfour:\n    objectRef.namespace: 'a\\\\\\\\b'\ncondition: three and four",
			fire:      []string{`{"objectRef":{"name":"a\\\\b","namespace":"a\\\\b"}}`},
			miss:      []string{`{"objectRef":{"name":"a\\b","namespace":"a\\b"}}`}},
		{name: "regex metacharacters in a plain value are plain",
			detection: "selection:\n    requestURI|contains: '.+(x)[y]$'\ncondition: selection",
			fire:      []string{`{"requestURI":"/a.+(x)[y]$b"}`},
			miss:      []string{`{"requestURI":"/aaxy"}`}},
		{name: "wildcards in a contains value",
			detection: "selection:\n    requestURI|contains: 'command=*sh'\ncondition: selection",
			fire:      []string{`{"requestURI":"/exec?command=%2Fbin%2Fbash&x=1"}`},
			miss:      []string{`{"requestURI":"/exec?command=ls"}`}},
	})
	// the parsed form, for the record
	for in, want := range map[string]string{`a\*b`: `a\*b`, `a\\*`: `a\\*`, `a\\\*`: `a\\\*`, `a\b`: `a\\b`, `**x`: `*x`} {
		if got := parseSigmaString(in, false).String(); got != want {
			t.Errorf("parse %q = %q, want %q", in, got, want)
		}
	}
}

// Conditions: and, or, not, parentheses, precedence, "x of" forms, lists of conditions,
// keywords, lists of maps.
func TestConditions(t *testing.T) {
	const sels = "a:\n    verb: create\nb:\n    objectRef.resource: pods\nc:\n    objectRef.namespace: kube-system\n_private:\n    user.username: alice\n"
	runCases(t, []matchCase{
		{name: "and", detection: sels + "condition: a and c",
			fire: []string{`{"objectRef":{"namespace":"kube-system"}}`}, miss: []string{``}},
		{name: "or", detection: sels + "condition: c or a",
			fire: []string{``}, miss: []string{`{"verb":"get"}`}},
		{name: "not", detection: sels + "condition: a and not c",
			fire: []string{``}, miss: []string{`{"objectRef":{"namespace":"kube-system"}}`}},
		{name: "or binds less than and", detection: sels + "condition: c or a and b",
			fire: []string{``, `{"verb":"get","objectRef":{"namespace":"kube-system"}}`}, miss: []string{`{"verb":"get"}`}},
		{name: "not binds more than and", detection: sels + "condition: not c and a",
			fire: []string{``}, miss: []string{`{"objectRef":{"namespace":"kube-system"}}`}},
		{name: "parentheses", detection: sels + "condition: (c or a) and not (b and c)",
			fire: []string{``}, miss: []string{`{"objectRef":{"namespace":"kube-system"}}`}},
		{name: "not not", detection: sels + "condition: not not c",
			fire: []string{`{"objectRef":{"namespace":"kube-system"}}`}, miss: []string{``}},
		{name: "1 of pattern", detection: "sel_x:\n    verb: delete\nsel_y:\n    verb: create\nother:\n    verb: get\ncondition: 1 of sel_*",
			fire: []string{``, `{"verb":"delete"}`}, miss: []string{`{"verb":"get"}`}},
		{name: "all of pattern", detection: "sel_x:\n    verb: create\nsel_y:\n    objectRef.namespace: kube-system\ncondition: all of sel_*",
			fire: []string{`{"objectRef":{"namespace":"kube-system"}}`}, miss: []string{``}},
		{name: "pattern with a star inside", detection: "sel_a_1:\n    verb: create\nsel_b_1:\n    verb: get\nsel_a_2:\n    verb: delete\ncondition: 1 of sel_*_1",
			fire: []string{``, `{"verb":"get"}`}, miss: []string{`{"verb":"delete"}`}},
		{name: "1 of them leaves _private out", detection: "x:\n    verb: delete\n_private:\n    verb: create\ncondition: 1 of them",
			fire: []string{`{"verb":"delete"}`}, miss: []string{``}},
		{name: "all of them leaves _private out", detection: "x:\n    verb: create\ny:\n    objectRef.resource: pods\n_private:\n    verb: delete\ncondition: all of them",
			fire: []string{``}, miss: []string{`{"objectRef":{"resource":"secrets"}}`}},
		{name: "2 of pattern", detection: "s1:\n    verb: create\ns2:\n    objectRef.namespace: kube-system\ns3:\n    user.username: bob\ncondition: 2 of s*",
			fire: []string{`{"objectRef":{"namespace":"kube-system"}}`, `{"user":{"username":"bob"}}`}, miss: []string{``}},
		{name: "1 of selection* and not 1 of filter* (specification example)",
			detection: "selection_verb:\n    verb: create\nselection_res:\n    objectRef.resource: secrets\nfilter_sa:\n    user.username|startswith: 'system:serviceaccount:'\nfilter_node:\n    user.username|startswith: 'system:node:'\ncondition: 1 of selection* and not 1 of filter*",
			fire:      []string{``}, miss: []string{`{"user":{"username":"system:node:n1"}}`, `{"verb":"get","objectRef":{"resource":"pods"}}`}},
		{name: "a list of conditions is any of them",
			detection: "a:\n    verb: delete\nb:\n    objectRef.resource: secrets\ncondition:\n    - a\n    - b",
			fire:      []string{`{"verb":"delete"}`, `{"objectRef":{"resource":"secrets"}}`}, miss: []string{``}},
		{name: "keywords: any of them, anywhere in the event",
			detection: "keywords:\n    - 'TRUFFLEHOG'\n    - 'azurehound'\ncondition: keywords",
			fire:      []string{`{"userAgent":"trufflehog/3.63"}`, `{"requestObject":{"metadata":{"annotations":{"x":"run by AzureHound"}}}}`}, miss: []string{``}},
		{name: "keywords with all (specification example)",
			detection: "keywords_cmdlet:\n    '|all':\n        - 'OabVirtualDirectory'\n        - ' -ExternalUrl '\ncondition: keywords_cmdlet",
			fire:      []string{`{"requestURI":"/x?command=Set-OabVirtualDirectory -ExternalUrl http://e"}`}, miss: []string{`{"requestURI":"/x?command=Set-OabVirtualDirectory"}`}},
		{name: "a list of maps is any of them (specification example)",
			detection: "selection:\n    - objectRef.name|endswith: '-example'\n    - userAgent|contains: 'Test executable'\ncondition: selection",
			fire:      []string{`{"objectRef":{"name":"x-example"}}`, `{"userAgent":"a test executable"}`}, miss: []string{``}},
		{name: "a map is all of its fields (specification example)",
			detection: "selection:\n    EventLog: Security\n    EventID:\n        - 517\n        - 1102\ncondition: selection",
			fire:      []string{`{"requestObject":{"EventLog":"Security","EventID":1102}}`}, miss: []string{`{"requestObject":{"EventLog":"Security","EventID":4624}}`, `{"requestObject":{"EventLog":"System","EventID":517}}`}},
		{name: "quoted hexadecimal values stay strings (specification example)",
			detection: "selection:\n    EventLog: Security\n    EventID: 4769\n    TicketOptions: '0x40810000'\n    TicketEncryption: '0x17'\ncondition: selection",
			fire:      []string{`{"requestObject":{"EventLog":"Security","EventID":"4769","TicketOptions":"0x40810000","TicketEncryption":"0x17"}}`}, miss: []string{`{"requestObject":{"EventLog":"Security","EventID":4769,"TicketOptions":"0x40810000","TicketEncryption":"23"}}`}},
		{name: "keywords and a field selection",
			detection: "selection:\n    verb: create\nkeywords:\n    - 'nginx'\ncondition: selection and keywords",
			fire:      []string{``}, miss: []string{`{"requestObject":{"spec":{"containers":[{"name":"x","image":"redis"}]}}}`}},
	})
}

// What cannot run is reported with its reason and line, and the rest of the file loads.
func TestUnsupported(t *testing.T) {
	rule := func(det string) string { return header + "detection:\n" + indent(det) }
	cases := []struct{ name, yaml, want string }{
		{"windows logsource", "title: x\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 4625\n    condition: sel\n", "kubesleuth reads Kubernetes audit logs"},
		{"another kubernetes service", "title: x\nlogsource:\n    product: kubernetes\n    service: kubelet\ndetection:\n    sel:\n        a: b\n    condition: sel\n", "not \"kubelet\""},
		{"unknown modifier", rule("sel:\n    verb|sounds_like: create\ncondition: sel"), "unknown modifier \"sounds_like\""},
		{"stageTimestamp", rule("sel:\n    stageTimestamp|contains: '2026'\ncondition: sel"), "stageTimestamp"},
		{"responseStatus.details", rule("sel:\n    responseStatus.details.kind: pods\ncondition: sel"), "responseStatus.code, status, reason and message"},
		{"objectRef typo", rule("sel:\n    objectRef.resources: pods\ncondition: sel"), "objectRef has resource"},
		{"aggregation condition", rule("sel:\n    verb: create\ncondition: sel | count() by user.username > 5"), "correlation"},
		{"timeframe", rule("sel:\n    verb: create\ntimeframe: 5m\ncondition: sel"), "timeframe"},
		{"lookahead", rule("sel:\n    requestURI|re: 'a(?=b)'\ncondition: sel"), "RE2"},
		{"placeholder that is no allowlist", rule("sel:\n    user.username|expand: '%Administrators%'\ncondition: sel"), "not an allowlist"},
		{"utf16 alone", rule("sel:\n    requestURI|utf16le: 'cmd'\ncondition: sel"), "UTF-16"},
		{"utf16 then contains", rule("sel:\n    requestURI|utf16le|contains: 'cmd'\ncondition: sel"), "needs base64 between"},
		{"undefined identifier", rule("sel:\n    verb: create\ncondition: sel and other"), "\"other\", which the detection does not define"},
		{"pattern matching nothing", rule("sel:\n    verb: create\ncondition: 1 of filter*"), "matches no search identifier"},
		{"two type modifiers", rule("sel:\n    sourceIPs|cidr|re: 'x'\ncondition: sel"), "cannot be combined"},
		{"exists takes a boolean", rule("sel:\n    verb|exists: 'yes'\ncondition: sel"), "true or false"},
		{"status unsupported", strings.Replace(rule("sel:\n    verb: create\ncondition: sel"), "level: high", "level: high\nstatus: unsupported", 1), "status is unsupported"},
		{"no title", "logsource:\n    product: kubernetes\ndetection:\n    sel:\n        verb: create\n    condition: sel\n", "title is required"},
		{"not sigma", "rules:\n  - id: KS-X-001\n", "no detection, correlation or filter"},
		{"lt needs a number", rule("sel:\n    responseStatus.code|lt: 'abc'\ncondition: sel"), "needs a number"},
		{"bad cidr", rule("sel:\n    sourceIPs|cidr: '10.0.0.0/33'\ncondition: sel"), "not a network"},
		{"no condition", rule("sel:\n    verb: create"), "no condition"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			us := unsupportedOf(t, c.yaml)
			if len(us) != 1 || !strings.Contains(us[0].Reason, c.want) {
				t.Fatalf("unsupported = %v, want one containing %q", us, c.want)
			}
			if us[0].File != "test.yml" || us[0].Line < 1 {
				t.Errorf("no place: %+v", us[0])
			}
		})
	}
}

// A broken document costs its own lines: the documents around it load, and the error
// names the line in the file without quoting it.
func TestBrokenDocumentCostsItsLines(t *testing.T) {
	good := func(id string) string {
		return "title: ok " + id + "\nid: " + id + "\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n    sel:\n        verb: delete\n    condition: sel\n"
	}
	y := good("a") + "---\ntitle: broken\ndetection: [unclosed, 's3cr3t-value\n  condition: x\n---\n" + good("b")
	al, _ := analyzer.DefaultAllowlists()
	set := Parse(Options{Allowlists: al}, []byte(y), "multi.yml")
	if len(set.Rules) != 2 || set.Rules[0].ID != "a" || set.Rules[1].ID != "b" {
		t.Fatalf("rules = %v", ids(set.Rules))
	}
	if len(set.Unsupported) != 1 {
		t.Fatalf("unsupported = %v", set.Unsupported)
	}
	u := set.Unsupported[0]
	if u.File != "multi.yml" || u.Line < 11 || u.Line > 14 || strings.Contains(u.Reason, "s3cr3t") {
		t.Errorf("broken document reported as %s", u)
	}
}
