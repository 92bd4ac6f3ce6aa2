from lib import *
A='attacks.jsonl'; B='benign.jsonl'; N='no-requestreceived.jsonl'; M='metadata-only.jsonl'; K='kubelet-standin.jsonl'
# --- stages: failed logins are one ResponseStarted event, 401, empty user
fl=evs(A, ids=sc(A,'failed-logins'), pred=lambda e: code(e)==401)
assert all(P(l)['stage']=='ResponseStarted' for l in fl) and len(fl)>=12, len(fl)
w('KS-AUTH-002','fire-responsestarted-401s', fl)
w('KS-AUTH-002','miss-five-401s', fl[:5])
w('KS-AUTH-004','fire-responsestarted-401s', fl)
w('KS-AUTH-004','miss-nine-denials', fl[:9])
# managed log (no RequestReceived): the same
w('KS-AUTH-002','fire-no-requestreceived', evs(N, ids=sc(N,'failed-logins'), pred=lambda e: code(e)==401))
# --- anonymous probes: 401/403 across resources
ap=evs(A, ids=sc(A,'anonymous-probes'))
w('KS-AUTH-007','fire', ap)
w('KS-AUTH-007','miss', evs(A, ids=sc(A,'anonymous-probes'), pred=lambda e: code(e)<400 or e.get('requestURI','').startswith(('/api/v1/namespaces/kube-system/secrets','/api/v1/pods'))))
w('KS-AUTH-007','fire-metadata-level', evs(M, ids=sc(M,'anonymous-probes')))
w('KS-AUTH-008','fire', req(A, lambda e: user(e)=='system:anonymous' and e['verb']=='create'))
w('KS-AUTH-008','miss', evs(A, ids=sc(A,'anonymous-probes'), pred=lambda e: e['verb']!='create'))
# --- forbidden write (authorization) vs refused by admission (PodSecurity)
bobpod=req(A, lambda e: user(e)=='bob' and e['verb']=='create' and res(e)=='pods' and code(e)==403)
w('KS-AUTH-009','fire', bobpod[:2])
psa=req(A, lambda e: user(e)=='ci-deployer' and e['verb']=='create' and res(e)=='pods' and code(e)==403)
assert psa, 'psa refusal'
w('KS-AUTH-009','miss', psa + evs(A, ids=sc(A,'denial-burst'), pred=lambda e: e['verb'] in ('get','list')))
# --- denial burst by one identity: 25, threshold 10
db=evs(A, ids=sc(A,'denial-burst'))
w('KS-AUTH-003','fire-real', db)
d403=[l for l in db if code(P(l))==403]
w('KS-AUTH-003','miss-real-nine', req(A, lambda e: e['auditID'] in ids_of(d403[:9])))
# --- offensive user agents: rakkess (kubectl-access_matrix), peirates, azurehound
ou=evs(A, ids=sc(A,'offensive-user-agent'))
w('KS-AUTH-006','fire-rakkess', [l for l in ou if 'access_matrix' in P(l).get('userAgent','')][:2])
w('KS-AUTH-006','fire-azurehound', [l for l in ou if 'azurehound' in P(l).get('userAgent','')])
w('KS-AUTH-006','miss-kubectl', evs(A, ids=sc(A,'secret-list-cluster-wide')))
# --- permission checks burst
w('KS-DISC-002','fire-real', [l for l in ou if 'access_matrix' in P(l).get('userAgent','')])
w('KS-DISC-002','miss-real', evs(B, ids=sc(B,'token-and-access-review')))
# --- discovery burst: 20 types cluster-wide; a developer's kubectl lists a handful
w('KS-DISC-003','fire-real', nolist(evs(A, ids=sc(A,'discovery-burst'))))
w('KS-DISC-003','miss-real', nolist(evs(B, ids=sc(B,'developer-kubectl'), pred=lambda e: e['verb']=='list')))
w('KS-DISC-001','fire-real', evs(A, ids=sc(A,'discovery-burst'), pred=lambda e: 'review' in res(e)))
w('KS-DISC-001','miss-real', evs(B, ids=sc(B,'token-and-access-review')))
