from lib import *
A='attacks.jsonl'; B='benign.jsonl'; N='no-requestreceived.jsonl'; M='metadata-only.jsonl'; K='kubelet-standin.jsonl'
cap=evs(A, ids=sc(A,'cluster-admin-binding-patched'), pred=lambda e: res(e)=='clusterrolebindings' and e['verb'] in ('patch','update','create'), stages={'ResponseComplete'})
add=[l for l in cap if name(P(l))=='cluster-admin' and '"op":"add"' in l]
rm=[l for l in cap if name(P(l))=='cluster-admin' and '"op":"remove"' in l]
cda=[l for l in cap if name(P(l))=='ci-deployer-admin']
assert add and rm and len(cda)>=2
setup_cda=req(B, lambda e: res(e)=='clusterrolebindings' and name(e)=='ci-deployer-admin' and e['verb']=='create')
# a subject added to cluster-admin's binding with a JSON patch: judged on the stored object
w('KS-RBAC-001','fire-json-patch', add)
w('KS-RBAC-001','miss-json-patch-removal', rm)
w('KS-RBAC-001','fire-no-requestreceived', evs(N, ids=sc(N,'cluster-admin-binding-patched'), pred=lambda e: name(e)=='cluster-admin' and isinstance(e.get('requestObject'), list) and any(o.get('op')=='add' for o in e['requestObject'])))
w('KS-RBAC-001','fire-by-service-account', evs(A, ids=sc(A,'rbac-written-by-sa'), pred=lambda e: res(e)=='clusterrolebindings'))
# the cluster owner (system:masters) configuring grants at set-up: the change trail, not an alert
w('KS-RBAC-001','miss-system-masters-setup', evs(B, ids=sc(B,'cluster-setup'), pred=lambda e: 'rolebindings' in res(e)))
w('KS-RBAC-008','fire-json-patch-builtin-binding', add)
w('KS-RBAC-008','miss-created-system-name', evs(A, ids=sc(A,'rbac-written-by-sa'), pred=lambda e: res(e)=='clusterrolebindings'))
# subject added: JSON patch on a binding first seen; merge patch on one created earlier in the log
w('KS-RBAC-010','fire', add)
w('KS-RBAC-010','fire-merge-patch', setup_cda + cda[:1])
w('KS-RBAC-010','miss', rm)
w('KS-RBAC-010','miss-merge-patch-restore', setup_cda + cda[1:])
w('KS-RBAC-010','fire-no-requestreceived', evs(N, ids=sc(N,'cluster-admin-binding-patched'), pred=lambda e: res(e)=='clusterrolebindings'))
# roles: a * rule added to an existing role by JSON patch; alice's benign JSON patch adds a read rule
wr=evs(A, ids=sc(A,'rbac-wildcard-role'), pred=lambda e: res(e)=='roles' and e['verb']=='patch')
w('KS-RBAC-003','fire-json-patch', [l for l in wr if '"op":"add"' in l])
w('KS-RBAC-003','miss-json-patch-removal', [l for l in wr if '"op":"remove"' in l])
pt=evs(B, ids=sc(B,'patch-types'), pred=lambda e: res(e)=='roles')
for r in ['KS-RBAC-003','KS-RBAC-004','KS-RBAC-005','KS-RBAC-006','KS-RBAC-007','KS-RBAC-011','KS-RBAC-012']:
    w(r,'miss-benign-role-patches', pt)
rr=evs(A, ids=sc(A,'rbac-risky-roles'), pred=lambda e: res(e) in ('roles','clusterroles','rolebindings','clusterrolebindings'))
def role(n): return [l for l in rr if name(P(l))==n]
w('KS-RBAC-004','fire-real', role('rbac-manager'))
w('KS-RBAC-005','fire-real', role('debugger'))
w('KS-RBAC-006','fire-real', role('secret-reader'))
w('KS-RBAC-007','fire-real', role('secret-reader'))
w('KS-RBAC-011','fire', role('secret-writer'))
w('KS-RBAC-011','miss', role('secret-reader') + role('debugger') + evs(B, ids=sc(B,'helm-install'), pred=lambda e: res(e)=='roles'))
w('KS-RBAC-012','fire', role('token-minter'))
w('KS-RBAC-012','miss', role('debugger') + role('rbac-manager'))
w('KS-RBAC-013','fire', role('default-edit'))
w('KS-RBAC-013','miss', evs(B, ids=sc(B,'cluster-setup')|sc(B,'helm-install'), pred=lambda e: 'rolebindings' in res(e)))
w('KS-RBAC-009','fire-real', evs(A, ids=sc(A,'rbac-written-by-sa'), pred=lambda e: res(e)=='clusterrolebindings'))
w('KS-RBAC-009','miss-real', evs(B, ids=sc(B,'helm-install'), pred=lambda e: 'role' in res(e)))
w('KS-RBAC-002','fire-real', evs(A, ids=sc(A,'cluster-admin-binding'), pred=lambda e: res(e)=='clusterrolebindings'))
w('KS-RBAC-002','miss-real', evs(A, ids=sc(A,'rbac-written-by-sa'), pred=lambda e: res(e)=='clusterrolebindings'))
# CHAIN-002: the backdoor built for real (service account, binding, token minted, used)
w('KS-CHAIN-002','fire-real', evs(A, ids=sc(A,'cluster-admin-binding')|sc(A,'token-request')|sc(A,'secret-list-cluster-wide'),
   pred=lambda e: user(e) in ('ci-deployer','system:serviceaccount:kube-system:kube-metrics-agent')))
w('KS-CHAIN-002','miss-real', evs(A, ids=sc(A,'cluster-admin-binding')|sc(A,'secret-list-cluster-wide'),
   pred=lambda e: user(e) in ('ci-deployer','system:serviceaccount:kube-system:kube-metrics-agent')))
# CHAIN-001: a binding naming oneself (ci-deployer adds a group to its own cluster-admin binding), then a workload write
# by the same identity (its DaemonSet, written earlier in the recording: moved to after the binding here)
ds=req(A, lambda e: res(e)=='daemonsets' and e['verb']=='create' and user(e)=='ci-deployer')
t0=P(cda[0])['requestReceivedTimestamp']
def after(e):
    for k in ('requestReceivedTimestamp','stageTimestamp'):
        e[k]=t0[:17]+'59.000000Z'
w('KS-CHAIN-001','fire', cda[:1] + edit(ds, after))
w('KS-CHAIN-001','miss-helm-install-by-admin', evs(B, ids=sc(B,'helm-install')))
w('KS-CHAIN-001','miss-roles-for-others', evs(B, ids=sc(B,'patch-types'), pred=lambda e: res(e) in ('roles','deployments')))
