package realcluster

import "strings"

// PolicyDefault logs at RequestResponse what detections read bodies of (secrets,
// configmaps, pods and their subresources, service accounts and tokens, namespaces, nodes,
// services, RBAC, workloads, admission webhooks, APIServices, CSRs, token and access
// reviews, network policies) and at Metadata everything else, leases and events included
// (they are most of a cluster's volume and no detection reads their bodies). Every stage
// is logged: a request at RequestResponse with a long-running response (exec, watch) has
// RequestReceived, ResponseStarted and ResponseComplete.
const PolicyDefault = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
    resources:
      - group: coordination.k8s.io
        resources: ["leases"]
      - group: ""
        resources: ["events"]
      - group: events.k8s.io
        resources: ["events"]
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "pods", "pods/*", "serviceaccounts", "serviceaccounts/*",
                    "namespaces", "namespaces/*", "nodes", "nodes/*", "services", "services/*"]
      - group: rbac.authorization.k8s.io
      - group: apps
      - group: batch
      - group: admissionregistration.k8s.io
      - group: apiregistration.k8s.io
      - group: certificates.k8s.io
      - group: authentication.k8s.io
      - group: authorization.k8s.io
      - group: networking.k8s.io
  - level: Metadata
`

// PolicyNoRequestReceived is PolicyDefault without the RequestReceived stage, as managed
// clusters (EKS, GKE, AKS) and most hardening guides configure it: most requests are then
// logged once, at ResponseComplete.
var PolicyNoRequestReceived = strings.Replace(PolicyDefault, "kind: Policy\n",
	"kind: Policy\nomitStages:\n  - RequestReceived\n", 1)

// PolicyMetadata logs every request at Metadata: no request or response bodies, the level
// of clusters that must not write secret values to the log.
const PolicyMetadata = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
`
