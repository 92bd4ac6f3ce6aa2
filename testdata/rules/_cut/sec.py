from lib import *
A='attacks.jsonl'; B='benign.jsonl'; N='no-requestreceived.jsonl'; M='metadata-only.jsonl'; K='kubelet-standin.jsonl'
secs=lambda e: res(e)=='secrets'
# secret reads: kube-system listed by the backdoor and by an impersonating admin; a person's namespace list
slc=evs(A, ids=sc(A,'secret-list-cluster-wide'), pred=secs)
ksys=[l for l in slc if ns(P(l))=='kube-system']
w('KS-SECRET-012','fire', nolist(ksys))
w('KS-SECRET-012','fire-impersonated', nolist(evs(A, ids=sc(A,'impersonation-system-masters'), pred=secs)))
w('KS-SECRET-012','miss', nolist(evs(A, ids=sc(A,'denial-burst')|sc(A,'node-identity-secrets'), pred=secs)))
w('KS-SECRET-012','fire-metadata-level', evs(M, ids=sc(M,'secret-list-cluster-wide'), pred=lambda e: secs(e) and ns(e)=='kube-system'))
dk=evs(B, ids=sc(B,'developer-kubectl'), pred=secs)
w('KS-SECRET-013','fire', nolist(dk))
w('KS-SECRET-013','fire-metadata-level', evs(M, ids=sc(M,'developer-kubectl'), pred=secs))
w('KS-SECRET-013','miss', nolist(slc + evs(A, ids=sc(A,'secret-enumeration'), pred=secs)))
w('KS-SECRET-004','fire-real', nolist([l for l in slc if ns(P(l))=='']))
w('KS-SECRET-004','miss-real', nolist(ksys + dk))
# registry credentials in a list response (the cluster-wide list returns prod/regcred)
w('KS-SECRET-008','fire-list', [l for l in slc if ns(P(l))=='' and P(l)['stage']=='ResponseComplete'])
w('KS-SECRET-008','fire-real', evs(A, ids=sc(A,'secret-enumeration'), pred=lambda e: secs(e) and name(e)=='regcred'))
w('KS-SECRET-008','miss-real', evs(A, ids=sc(A,'secret-enumeration'), pred=lambda e: secs(e) and name(e).startswith('app-secret-0')))
# distinct secret reads: 13 by the stolen web token; a near miss of 7
se=evs(A, ids=sc(A,'secret-enumeration'), pred=secs)
w('KS-SECRET-005','fire-real', se)
apps=[l for l in se if name(P(l)).startswith('app-secret-')]
w('KS-SECRET-005','miss-real-seven', [l for l in apps if int(name(P(l))[-2:])<=7])
# scripting clients: python-requests (recorded); the official Python client's user agent on the same request
w('KS-SECRET-002','fire-real', se[:4])
def pyclient(e): e['userAgent']='OpenAPI-Generator/31.0.0/python'
w('KS-SECRET-002','fire-official-python-client', edit(se[:4], pyclient))
w('KS-SECRET-002','miss-kubectl', nolist(dk))
w('KS-SECRET-006','fire-real', evs(A, ids=sc(A,'denial-burst'), pred=secs))
w('KS-SECRET-001','fire-real', evs(A, ids=sc(A,'node-identity-secrets'), pred=secs))
w('KS-SECRET-001','miss-real', evs(B, ids=sc(B,'idle')|sc(B,'nodes-join'), pred=lambda e: user(e).startswith('system:node:') and secs(e)) or
  evs(B, ids=sc(B,'nodes-join'), pred=lambda e: user(e).startswith('system:node:'))[:10])
# secret values in the log: the backdoor token in a TokenRequest response (kept JWT-shaped); not evaluable rules at RR
w('KS-SECRET-010','fire-token-request', evs(A, ids=sc(A,'token-request'), pred=lambda e: sub(e)=='token'))
w('KS-SECRET-010','miss-metadata-objects', evs(B, ids=sc(B,'idle')))
w('KS-SECRET-009','fire-real', evs(B, ids=sc(B,'cluster-setup'), pred=lambda e: secs(e) and name(e)=='db-credentials'))
w('KS-SECRET-009','miss-real', evs(B, ids=sc(B,'cluster-setup'), pred=lambda e: res(e)=='namespaces' and e['verb']!='get'))
