from lib import *
A='attacks.jsonl'; B='benign.jsonl'
# GKE Cloud Audit Log entries (the real API server cannot write this format): its frontends'
# and health checkers' anonymous calls to the health endpoints, as GKE records them
def gke(i, method, resource, ua, code=0, ip="35.191.1.7"):
    return D({"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"system:anonymous"},
      "methodName":method,"requestMetadata":{"callerIp":ip,"callerSuppliedUserAgent":ua},"resourceName":resource,"serviceName":"k8s.io","status":{"code":code}},
      "insertId":"gke-health-%d"%i,"resource":{"type":"k8s_cluster","labels":{"project_id":"p","location":"europe-west1","cluster_name":"c"}},
      "timestamp":"2026-03-10T11:00:%02d.000000Z"%i,"logName":"projects/p/logs/cloudaudit.googleapis.com%2Fdata_access","labels":{"authorization.k8s.io/decision":"allow"}})
w('KS-AUTH-001','miss-gke-health-checks', [gke(1,"io.k8s.readyz","readyz","GoogleHC/1.0"), gke(2,"io.k8s.core.v1.healthz.get","core/v1/healthz","GoogleHC/1.0"),
   gke(3,"io.k8s.livez","livez","GoogleKubernetesEngineFrontend"), gke(4,"io.k8s.readyz","readyz","GoogleKubernetesEngineFrontend")])
w('KS-AUTH-001','fire-gke', [gke(5,"io.k8s.core.v1.pods.list","core/v1/namespaces/default/pods","curl/8.0", ip="198.51.100.4")])
# managed clusters' own identities at work (recorded events, the identity as EKS names it)
cm=req(B, lambda e: res(e)=='configmaps' and e['verb']=='patch' and name(e)=='api-config')
def eks(who, target):
    def f(e):
        e['user']={"username":who,"groups":["system:authenticated"]}
        e['objectRef']['namespace']='kube-system'; e['objectRef']['name']=target
        e['requestURI']='/api/v1/namespaces/kube-system/configmaps/'+target
    return f
w('KS-CP-004','miss-eks-control-plane', edit(cm, eks('eks:addon-manager','coredns')) + edit(cm, eks('eks:kms-storage-migrator','aws-auth')))
w('KS-CP-004','fire-person-edits-aws-auth', edit(cm, eks('alice','aws-auth')))
# an AKS CSI driver's kube-system account from the public address its node also uses (learned from the node's own requests)
nodelease=evs(B, ids=sc(B,'idle'), pred=lambda e: user(e)=='system:node:node-1' and res(e)=='leases', stages={'ResponseComplete'})[:1]
ctlreq=evs(B, pred=lambda e: user(e)=='system:serviceaccount:kube-system:endpointslice-controller', stages={'ResponseComplete'})[:1]
assert nodelease and ctlreq
def addr(ip, who=None):
    def f(e):
        e['sourceIPs']=[ip]
        if who: e['user']['username']=who
    return f
w('KS-AUTH-005','miss-add-on-on-node-address', edit(nodelease, addr('20.61.7.30')) + edit(ctlreq, addr('20.61.7.30','system:serviceaccount:kube-system:csi-azuredisk-node-sa')))
w('KS-AUTH-005','fire-controller-from-elsewhere', edit(nodelease, addr('20.61.7.30')) + edit(ctlreq, addr('198.51.100.77')))
# kubeadm's system:coredns ClusterRole is an add-on's, not a built-in one; system:discovery is built in
rp=req(B, lambda e: res(e)=='roles' and e['verb']=='patch' and name(e)=='reader' and user(e)=='alice')
def crole(n, who='kubernetes-admin', builtin=False):
    def f(e):
        e['user']={"username":who,"groups":["system:masters","system:authenticated"]}
        o=e['objectRef']; o['resource']='clusterroles'; o.pop('namespace',None); o['name']=n
        e['requestURI']='/apis/rbac.authorization.k8s.io/v1/clusterroles/'+n+'?fieldManager=kubectl-patch'
        r=e.get('responseObject')
        if r:
            r['kind']='ClusterRole'; r['metadata']['name']=n; r['metadata'].pop('namespace',None)
            if builtin: r['metadata'].setdefault('labels',{})['kubernetes.io/bootstrapping']='rbac-defaults'
    return f
w('KS-RBAC-008','miss-add-on-system-role', edit(rp, crole('system:coredns')))
w('KS-RBAC-008','fire-builtin-role-patched', edit(rp, crole('system:discovery', builtin=True)))
def nolabel_meta(e):
    e['level']='Metadata'; e.pop('requestObject',None); e.pop('responseObject',None)
w('KS-RBAC-008','fire-builtin-role-metadata-level', edit(edit(rp, crole('system:discovery')), nolabel_meta))
