from lib import *
A='attacks.jsonl'; B='benign.jsonl'; N='no-requestreceived.jsonl'; M='metadata-only.jsonl'; K='kubelet-standin.jsonl'
isexec=lambda e: res(e)=='pods' and sub(e)=='exec'
# WebSocket exec (verb get, 101) seen only at ResponseStarted: a log read while the stream was open
ws_rs=evs(K, ids=sc(K,'exec-shell'), pred=lambda e: isexec(e) and e['verb']=='get', stages={'ResponseStarted'})
assert ws_rs and all(code(P(l))==101 for l in ws_rs)
w('KS-EXEC-001','fire-websocket-responsestarted', ws_rs[:1])
# SPDY exec (verb create) the node did not answer: 500, but authorized and asked
spdy=evs(A, ids=sc(A,'exec-shell'), pred=lambda e: isexec(e) and e['verb']=='create')
assert any(code(P(l))==500 for l in spdy)
w('KS-EXEC-001','fire-spdy-node-unreachable', spdy)
w('KS-EXEC-001','fire-metadata-level', evs(M, ids=sc(M,'exec-shell'), pred=isexec))
# near misses: the RequestReceived of an exec (no outcome yet), logs, a refused debug container
w('KS-EXEC-001','miss-requestreceived-and-logs', evs(A, ids=sc(A,'exec-shell'), pred=isexec, stages={'RequestReceived'}) +
  evs(K, ids=sc(K,'developer-kubectl'), pred=lambda e: sub(e)=='log'))
# port-forward: WebSocket 101 (node answered), WebSocket 500 then SPDY fallback (it did not)
w('KS-EXEC-002','fire-websocket-101', evs(K, ids=sc(K,'port-forward'), pred=lambda e: sub(e)=='portforward'))
w('KS-EXEC-002','fire-node-unreachable', evs(A, ids=sc(A,'port-forward'), pred=lambda e: sub(e)=='portforward'))
w('KS-EXEC-002','miss-requestreceived', evs(A, ids=sc(A,'port-forward'), pred=lambda e: sub(e)=='portforward', stages={'RequestReceived'}))
# interactive shell: kubectl exec -i / -it sh; a shell running a one-liner is not
w('KS-EXEC-003','fire-real', evs(A, ids=sc(A,'exec-shell'), pred=isexec))
hc=evs(B, ids=sc(B,'exec-health-checks'), pred=isexec)
w('KS-EXEC-003','miss-health-checks', hc + evs(A, ids=sc(A,'exec-reverse-shell'), pred=isexec))
# network tool: to the metadata service fires; curl -sk https://localhost:8443/healthz does not
w('KS-EXEC-004','fire-real', evs(A, ids=sc(A,'exec-cloud-metadata'), pred=isexec))
w('KS-EXEC-004','miss-localhost-health-check', hc)
# reverse shell to 198.51.100.23 fires; bash -c '</dev/tcp/127.0.0.1/8080' (a port check) does not
w('KS-EXEC-005','fire-real', evs(A, ids=sc(A,'exec-reverse-shell'), pred=isexec))
w('KS-EXEC-005','miss-port-check', hc)
w('KS-EXEC-006','fire-real', evs(A, ids=sc(A,'exec-sa-token-read'), pred=isexec))
w('KS-EXEC-006','miss-real', evs(A, ids=sc(A,'exec-cloud-metadata'), pred=isexec))
w('KS-EXEC-007','fire-real', evs(A, ids=sc(A,'exec-cloud-metadata'), pred=isexec))
w('KS-EXEC-007','miss-real', hc)
w('KS-EXEC-008','fire-real', evs(A, ids=sc(A,'cp-out-of-pod'), pred=isexec))
w('KS-EXEC-008','fire-node-answered', evs(K, ids=sc(K,'cp-out-of-pod'), pred=isexec))
w('KS-EXEC-008','miss-real', evs(A, ids=sc(A,'exec-sa-token-read'), pred=isexec))
# nodes/proxy: the kubelet API (refused by this apiserver: 400, authorized) fires; Prometheus' metrics scrape does not
w('KS-EXEC-009','fire-real', evs(A, ids=sc(A,'nodes-proxy'), pred=lambda e: sub(e)=='proxy'))
w('KS-EXEC-009','miss-metrics-scrape', evs(B, ids=sc(B,'metrics-scrape'), pred=lambda e: sub(e)=='proxy'))
# exec into a pod created privileged: both steps real; the pod pinned, created by bob
w('KS-CHAIN-003','fire-real', evs(A, ids=sc(A,'privileged-pod')))
w('KS-CHAIN-003','miss-real', evs(A, ids=sc(A,'exec-shell')))
