from lib import *
A='attacks.jsonl'; B='benign.jsonl'; N='no-requestreceived.jsonl'; M='metadata-only.jsonl'; K='kubelet-standin.jsonl'
api=evs(A, ids=sc(A,'apiservice-insecure'), pred=lambda e: res(e)=='apiservices', stages={'ResponseComplete'})
cr=[l for l in api if P(l)['verb']=='create']; pa=[l for l in api if P(l)['verb']=='patch']
other=[l for l in api if P(l)['verb'] not in ('create','patch')]   # gets, the apiserver's own status updates, the delete
w('KS-CP-010','fire', cr); w('KS-CP-010','fire-redirected', pa); w('KS-CP-010','miss', other)
w('KS-CP-011','fire', cr); w('KS-CP-011','miss', other)
def secure(e):
    for b in ('requestObject','responseObject'):
        if e.get(b) and e[b].get('spec'): e[b]['spec'].pop('insecureSkipTLSVerify',None); e[b]['spec']['caBundle']='Zml4dHVyZS1jYQ=='
w('KS-CP-011','miss-ca-bundle', edit(cr, secure))
# Pod Security relaxed: relabelled privileged, then the label removed (kubectl label ...-: a merge patch with null)
psa=evs(A, ids=sc(A,'psa-label-relaxed'), pred=lambda e: res(e)=='namespaces' and e['verb']=='patch', stages={'ResponseComplete'})
assert len(psa)==2
w('KS-CP-012','fire', psa[:1]); w('KS-CP-012','fire-label-removed', psa[1:])
w('KS-CP-012','miss', evs(B, ids=sc(B,'cluster-setup'), pred=lambda e: res(e)=='namespaces' and e['verb']!='get'))
def jsonpatch_remove(e):
    e['requestObject']=[{"op":"remove","path":"/metadata/labels/pod-security.kubernetes.io~1enforce"}]
w('KS-CP-012','fire-json-patch-removal', edit(psa[1:], jsonpatch_remove))
def audit_label(e):
    e['requestObject']={"metadata":{"labels":{"pod-security.kubernetes.io/audit":None}}}
w('KS-CP-012','miss-audit-label', edit(psa[1:], audit_label))
# control-plane taint removed by a person; kubeadm's (the admin's) tainting and the taint put back are not
tr=evs(A, ids=sc(A,'control-plane-taint-removed'), pred=lambda e: res(e)=='nodes' and e['verb']=='patch', stages={'ResponseComplete'})
assert len(tr)==2
w('KS-CP-013','fire', tr[:1]); w('KS-CP-013','miss', tr[1:] + evs(B, ids=sc(B,'nodes-join'), pred=lambda e: res(e)=='nodes' and user(e)=='kubernetes-admin'))
def worker(e):
    e['objectRef']['name']='node-1'
    e['responseObject']['metadata']['labels'].pop('node-role.kubernetes.io/control-plane',None)
w('KS-CP-013','miss-worker-node', edit(tr[:1], worker))
# webhooks written by the backdoor service account (a kube-system account made by a person: not system)
w('KS-CP-001','fire-real', evs(A, ids=sc(A,'mutating-webhook'), pred=lambda e: 'webhook' in res(e)))
w('KS-CP-001','miss-real', evs(A, ids=sc(A,'apiservice-insecure'), pred=lambda e: res(e)=='apiservices'))
w('KS-CP-003','fire-real', evs(A, ids=sc(A,'cluster-admin-binding'), pred=lambda e: res(e)=='serviceaccounts'))
w('KS-CP-003','miss-controller-manager', evs(B, pred=lambda e: res(e)=='serviceaccounts' and e['verb']=='create' and ns(e)=='kube-system')[:20])
w('KS-CP-008','fire-real', evs(B, ids=sc(B,'impersonation-admin-as-alice')))
w('KS-CP-009','fire-real', evs(A, ids=sc(A,'impersonation-system-masters')))
w('KS-CP-009','miss-real', evs(B, ids=sc(B,'impersonation-admin-as-alice')))
w('KS-CP-007','miss-real', evs(B, ids=sc(B,'idle'), pred=lambda e: user(e).startswith('system:node:')))
