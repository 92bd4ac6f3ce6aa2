from lib import *
A='attacks.jsonl'; B='benign.jsonl'; N='no-requestreceived.jsonl'; M='metadata-only.jsonl'; K='kubelet-standin.jsonl'
# change trail: what people changed (benign set-up, developer, CI, helm); controllers' writes of the same kinds are not
setup=evs(B, ids=sc(B,'cluster-setup')|sc(B,'ci-deploy')|sc(B,'helm-install')|sc(B,'developer-kubectl'), stages={'ResponseComplete'},
          pred=lambda e: e['verb'] in ('create','update','patch','delete'))
ctl=evs(B, stages={'ResponseComplete'}, pred=lambda e: e['verb'] in ('create','update','patch','delete') and
        (user(e).startswith('system:') or user(e)=='') )
for rid, rs in [('KS-TRAIL-001',{'roles','rolebindings','clusterroles','clusterrolebindings'}), ('KS-TRAIL-002',{'serviceaccounts'}),
                ('KS-TRAIL-003',{'namespaces'}), ('KS-TRAIL-004',{'services'}), ('KS-TRAIL-005',{'configmaps'}),
                ('KS-TRAIL-006',{'deployments','daemonsets','statefulsets','jobs','cronjobs'})]:
    fire=[l for l in setup if res(P(l)) in rs]
    miss=[l for l in ctl if res(P(l)) in rs][:10]
    if not miss:
        miss=[l for l in evs(B, pred=lambda e: res(e) in rs and e['verb'] in ('get','list','watch'))][:10]
    w(rid,'fire',nolist(fire)); w(rid,'miss',nolist(miss))
w('KS-TRAIL-003','miss', evs(B, stages={'ResponseComplete'}, pred=lambda e: res(e)=='namespaces' and user(e).startswith('system:'))[:20] or
  nolist(evs(B, pred=lambda e: res(e)=='namespaces' and e['verb'] in ('get','list'))[:10]))
# anonymous allowed on a resource fires; the public endpoints do not, nor GKE's health checks
w('KS-AUTH-001','fire-real', nolist(evs(A, ids=sc(A,'anonymous-allowed'), pred=lambda e: user(e)=='system:anonymous')))
w('KS-AUTH-001','miss-public-endpoints', evs(A, ids=sc(A,'anonymous-probes'), pred=lambda e: code(e)<400))
# first-seen on secret reads: a new identity+address lists secrets (tuned learning: the recording starts seconds earlier)
wa('KS-DISC-004','# the recording starts seconds before the attack: a shorter learning period than the hour\ntuning:\n  KS-DISC-004: {learning: 5s}\n')
wa('KS-DISC-005','# the recording starts seconds before the attack: a shorter learning period than the hour\ntuning:\n  KS-DISC-005: {learning: 5s}\n')
head=evs(A, pred=lambda e: e['requestReceivedTimestamp'] < P(load(A)[0][0])['requestReceivedTimestamp'][:17]+'09')[:40]
slc=nolist(evs(A, ids=sc(A,'secret-list-cluster-wide')))
w('KS-DISC-004','fire-secret-read', head + slc)
w('KS-DISC-005','fire-secret-read', head + slc)
w('KS-DISC-004','miss-secret-read-in-learning', slc)
w('KS-DISC-005','miss-secret-read-in-learning', slc)
# evasion: real shapes
w('KS-EVADE-001','fire-real', evs(A, ids=sc(A,'events-deleted'), pred=lambda e: res(e)=='events' and e['verb'] in ('delete','deletecollection'))[:8])
w('KS-EVADE-001','miss-real', evs(B, ids=sc(B,'developer-kubectl'), pred=lambda e: res(e)=='events'))
w('KS-EVADE-002','fire-real', evs(A, ids=sc(A,'networkpolicy-deleted'), pred=lambda e: res(e)=='networkpolicies'))
dl=evs(A, ids=sc(A,'deletion-burst'), pred=lambda e: e['verb']=='delete', stages={'ResponseComplete'})
w('KS-EVADE-003','fire-real', dl)
w('KS-EVADE-003','miss-real-nine', dl[:9])
w('KS-WL-016','fire-real', evs(A, ids=sc(A,'ephemeral-debug-container'), pred=lambda e: sub(e)=='ephemeralcontainers'))
w('KS-WL-016','miss-refused', evs(A, ids=sc(A,'ephemeral-debug-container'), pred=lambda e: sub(e)=='ephemeralcontainers' and user(e)=='alice'))
w('KS-WL-019','fire-real', evs(A, ids=sc(A,'hostpid-job'), pred=lambda e: res(e)=='jobs'))
w('KS-WL-019','miss-controller', evs(B, pred=lambda e: res(e)=='jobs' and user(e).startswith('system:'))[:10])
w('KS-WL-018','fire-real', evs(A, ids=sc(A,'hostpath-daemonset-kube-system'), pred=lambda e: res(e)=='daemonsets'))
w('KS-CP-005','miss-real', evs(B, ids=sc(B,'ci-deploy')|sc(B,'helm-install'), pred=lambda e: res(e)=='services'))
w('KS-EVADE-004','miss-real', evs(B, ids=sc(B,'idle')))
w('KS-EVADE-005','miss-real', evs(B, ids=sc(B,'idle')))
