from lib import *
A='attacks.jsonl'; B='benign.jsonl'; N='no-requestreceived.jsonl'; M='metadata-only.jsonl'; K='kubelet-standin.jsonl'
# credentials inside configmap values: an AWS key pair in a .properties value, a password in a JDBC URL, a PEM block
cm=evs(A, ids=sc(A,'configmap-credentials'), pred=lambda e: res(e)=='configmaps' and e['verb']=='create', stages={'ResponseComplete'})
billing=[l for l in cm if P(l)['objectRef'].get('name')=='billing-app' or '"billing-app"' in l]
legacy=[l for l in cm if l not in billing]
assert billing and legacy, (len(billing), len(legacy))
w('KS-CRED-008','fire-values', billing)
w('KS-CRED-008','fire-keys', legacy)
for key, val in [('properties','aws.accessKeyId=AKIAFIXTURE1EXAMPLE1'), ('jdbc','jdbc:postgresql://ledger-db.payments:5432/ledger?user=billing&password=fixture-jdbc-password'),
                 ('pem','-----BEGIN PRIVATE KEY-----\nZml4dHVyZS1ub3QtYS1yZWFsLWtleQ==\n-----END PRIVATE KEY-----\n')]:
    def one(e, key=key, val=val):
        for b in ('requestObject','responseObject'):
            if e.get(b): e[b]['data']={'app.conf': 'region=eu-west-1\n' + val + '\n'}
    w('KS-CRED-008','fire-value-'+key, edit(billing, one))
w('KS-CRED-008','miss-real', evs(B, ids=sc(B,'ci-deploy')|sc(B,'patch-types'), pred=lambda e: res(e)=='configmaps') +
  evs(A, ids=sc(A,'deletion-burst'), pred=lambda e: res(e)=='configmaps' and e['verb']=='create')[:6])
# a JSON patch adding a credential to an existing configmap
def jp(e):
    e['verb']='patch'; e['requestObject']=[{"op":"add","path":"/data/db.url","value":"postgres://ledger:fixture-db-password@ledger-db.payments:5432/ledger"}]
w('KS-CRED-008','fire-json-patch', edit(evs(B, ids=sc(B,'ci-deploy'), pred=lambda e: res(e)=='configmaps' and e['stage']=='ResponseComplete' and e['verb']=='patch'), jp))
# tokens minted: a 48h token for a kube-system account; a 10-minute one for prod/web by CI
tr=evs(A, ids=sc(A,'token-request'), pred=lambda e: sub(e)=='token')
short=evs(B, ids=sc(B,'token-and-access-review'), pred=lambda e: sub(e)=='token')
w('KS-CRED-002','fire-real', tr); w('KS-CRED-002','miss-short-token', short)
w('KS-CRED-002','fire-metadata-level', evs(M, ids=sc(M,'token-request'), pred=lambda e: sub(e)=='token'))
w('KS-CRED-010','fire', short); w('KS-CRED-010','miss', tr + evs(A, ids=sc(A,'secret-enumeration'), pred=lambda e: sub(e)=='token'))
# client certificates: for system:masters and another CN (fires); alice's own (does not)
w('KS-CRED-005','fire-real', evs(A, ids=sc(A,'csr-system-masters')))
w('KS-CRED-005','miss-own-certificate', evs(B, ids=sc(B,'csr-approved')))
w('KS-CRED-006','fire-real', evs(A, ids=sc(A,'csr-system-masters')))
w('KS-CRED-006','miss-real', evs(B, ids=sc(B,'csr-approved')))
w('KS-CRED-007','fire-real', evs(A, ids=sc(A,'csr-system-masters')))
w('KS-CRED-007','miss-own-certificate', evs(B, ids=sc(B,'csr-approved')))
w('KS-CRED-001','fire-real', evs(A, ids=sc(A,'long-lived-token-secret'), pred=lambda e: res(e)=='secrets'))
w('KS-CRED-001','miss-real', evs(B, ids=sc(B,'cluster-setup'), pred=lambda e: res(e)=='secrets' and name(e)=='db-credentials'))
# one credential from two addresses: the backdoor token tried on the CI machine, then used from 203.0.113.77
ma=evs(A, pred=lambda e: user(e).endswith(':kube-metrics-agent'))
w('KS-CRED-003','fire-real', nolist(ma[:12]))
w('KS-CRED-003','miss-real', evs(A, ids=sc(A,'secret-list-cluster-wide')))
# a pod-bound token after its pod is gone: force-deleted (grace 0) and confirmed by the kubelet; the token works 10 s more
w('KS-CRED-004','fire', evs(A, ids=sc(A,'pod-token-after-delete')))
w('KS-CRED-004','miss-before-delete', evs(A, ids=sc(A,'pod-token-after-delete'), pred=lambda e: not (e['verb']=='delete' or code(e)==404)) [:12])
# pod-bound token from outside the cluster's networks; from the pod network (10.244.1.23) it is not
w('KS-CRED-009','fire', evs(A, ids=sc(A,'secret-enumeration'), pred=lambda e: user(e)=='system:serviceaccount:prod:web'))
w('KS-CRED-009','miss', evs(B, ids=sc(B,'pod-token-in-cluster')))
