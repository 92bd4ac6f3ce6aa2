from lib import *
A='attacks.jsonl'; B='benign.jsonl'; N='no-requestreceived.jsonl'; M='metadata-only.jsonl'; K='kubelet-standin.jsonl'
def ctl_pods(f, gen):
    return req(f, lambda e: e['verb']=='create' and res(e)=='pods' and sub(e)=='' and user(e).startswith('system:serviceaccount:kube-system:') and
               ((e.get('requestObject') or {}).get('metadata') or {}).get('generateName','').startswith(gen))
# controller-made pods whose template's creation is older than the log: the pods are the evidence
nd=ctl_pods(A,'node-debugger-')      # daemonset controller, kube-system, privileged, hostPID/hostNetwork, / mounted
la=ctl_pods(A,'log-agent-')          # replicaset controller, privileged, docker socket, SYS_ADMIN
ij=ctl_pods(A,'inspect-')            # job controller, hostPID, netshoot
kp=ctl_pods(B,'kube-proxy-')         # daemonset controller, kube-proxy: an expected workload
assert nd and la and ij and kp
kpds=req(B, lambda e: res(e)=='daemonsets' and name(e)=='kube-proxy' and e['verb']=='create')
for r in ['KS-WL-001','KS-WL-005']:
    w(r,'fire-controller-pods', nd)
    w(r,'miss-expected-workload', kp + kpds)
w('KS-WL-003','fire-controller-pods', la)
w('KS-WL-003','miss-expected-workload', kp + kpds)
w('KS-WL-006','fire-controller-pods', la)
w('KS-WL-006','miss-expected-workload', kp + kpds)
w('KS-WL-014','fire-controller-pods', nd)
w('KS-WL-014','miss-expected-workload', kp + kpds)
w('KS-WL-013','fire-controller-pods', ij)
w('KS-WL-013','miss-controller-pods', ctl_pods(B,'report-'))
w('KS-WL-018','miss-expected-workload', kpds)
w('KS-WL-022','miss-expected-workload', kp + kpds)
# the templates themselves, with the pods the controllers made: one finding folds them
w('KS-WL-001','fire-template-and-pods', evs(A, ids=sc(A,'privileged-deployment')))
w('KS-WL-003','fire-template-and-pods', evs(A, ids=sc(A,'privileged-deployment')))
w('KS-WL-005','fire-statefulset-and-pod', evs(A, ids=sc(A,'hostnetwork-statefulset')))
w('KS-WL-004','fire-statefulset-and-pod', evs(A, ids=sc(A,'hostnetwork-statefulset')))
w('KS-WL-004','miss-real', evs(A, ids=sc(A,'privileged-pod'), pred=lambda e: res(e)=='pods' and sub(e)=='' and e['verb']=='get'))
# benign workloads and their controllers' pods: nothing
WLRES={'pods','deployments','replicasets','statefulsets','daemonsets','jobs','cronjobs'}
benign_wl=evs(B, ids=sc(B,'developer-kubectl')|sc(B,'controller-workloads')|sc(B,'ci-deploy')|sc(B,'helm-install'),
              pred=lambda e: res(e) in WLRES and sub(e)=='' and e['verb'] in ('create','update','patch'), stages={'ResponseComplete'})
for r in ['KS-WL-001','KS-WL-005','KS-WL-014','KS-WL-022']:
    w(r,'miss-benign-workloads', benign_wl)
# a privileged pod in a log without level (an export from another tool): judged on its body
pp=req(A, lambda e: e['verb']=='create' and res(e)=='pods' and name(e)=='node-debug' and sub(e)=='')
def nolevel(e):
    e.pop('level',None)
w('KS-WL-001','fire-no-level', edit(pp, nolevel))
w('KS-WL-005','fire-no-level', edit(pp, nolevel))
# container injected by a strategic merge patch; set image and an annotation patch are not
w('KS-WL-017','fire-real', evs(A, ids=sc(A,'container-injected'), pred=lambda e: res(e)=='deployments'))
w('KS-WL-017','miss-real', evs(B, ids=sc(B,'patch-types')|sc(B,'ci-deploy'), pred=lambda e: res(e)=='deployments'))
w('KS-WL-013','fire-patch', evs(A, ids=sc(A,'container-injected'), pred=lambda e: res(e)=='deployments'))
# pods in kube-public count as a system namespace (the recording has kube-system; the same event in kube-public)
kps=req(A, lambda e: e['verb']=='create' and res(e)=='pods' and name(e)=='kube-proxy-helper' and user(e)=='ci-deployer')
def public(e):
    e['objectRef']['namespace']='kube-public'; e['requestURI']=e['requestURI'].replace('kube-system','kube-public')
    for b in ('requestObject','responseObject'):
        if e.get(b) and e[b].get('metadata'): e[b]['metadata']['namespace']='kube-public'
w('KS-WL-014','fire-kube-public', edit(kps, public))
w('KS-WL-014','fire-real', kps)
# untrusted registry: quiet until registries are configured (this rule's allowlist.yaml)
wa('KS-WL-012','registries: [registry.example.com, registry.k8s.io]\n')
w('KS-WL-012','fire-real', evs(A, ids=sc(A,'hostpid-job')))
w('KS-WL-012','miss-trusted-registry', evs(B, ids=sc(B,'helm-install')|sc(B,'kubeadm-addons'), pred=lambda e: res(e) in WLRES and e['verb']=='create'))
# steered onto control-plane nodes: nodeSelector + toleration, and nodeName cp-1 (learned control-plane from nodes-join)
joins=evs(B, ids=sc(B,'nodes-join'), pred=lambda e: res(e)=='nodes')
cp=evs(A, ids=sc(A,'control-plane-scheduling'))
w('KS-WL-022','fire', [l for l in cp if name(P(l))!='cp-pinned'])
w('KS-WL-022','fire-nodename-control-plane', joins + [l for l in cp if name(P(l))=='cp-pinned'])
w('KS-WL-022','miss', joins + evs(A, ids=sc(A,'privileged-pod')))
w('KS-WL-022','fire-daemonset-tolerates-all', evs(A, ids=sc(A,'hostpath-daemonset-kube-system'), pred=lambda e: res(e)=='daemonsets'))
