package generate

import (
	"strconv"
)

// Request and response objects, appended as the apiserver would serialize them (field
// order of the Go types, managedFields included since the audit backend keeps them by
// default). Each function reads the parameters its actor stored in the request.

func appendRV(b []byte, rv uint64) []byte {
	b = append(b, `"resourceVersion":"`...)
	b = appendUint(b, rv)
	return append(b, '"')
}

func (s *sim) managedField(b []byte, manager, op, apiVersion string, t int64, subresource, fields string) []byte {
	b = append(b, `{"manager":`...)
	b = appendString(b, manager)
	b = append(b, `,"operation":"`...)
	b = append(b, op...)
	b = append(b, `","apiVersion":"`...)
	b = append(b, apiVersion...)
	b = append(b, `","time":`...)
	b = s.clk.appendSecond(b, t)
	b = append(b, `,"fieldsType":"FieldsV1","fieldsV1":`...)
	b = append(b, fields...)
	if subresource != "" {
		b = append(b, `,"subresource":"`...)
		b = append(b, subresource...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// ---- leases ----

func nodeLeaseBody(s *sim, r *request, b []byte, rv uint64) []byte {
	n := r.x.(*node)
	b = append(b, `{"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"`...)
	b = append(b, n.name...)
	b = append(b, `","namespace":"kube-node-lease","uid":"`...)
	b = append(b, n.leaseUID...)
	b = append(b, `",`...)
	b = appendRV(b, rv)
	b = append(b, `,"creationTimestamp":`...)
	b = s.clk.appendSecond(b, n.created)
	b = append(b, `,"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"`...)
	b = append(b, n.name...)
	b = append(b, `","uid":"`...)
	b = append(b, n.uid...)
	b = append(b, `"}],"managedFields":[`...)
	b = s.managedField(b, "kubelet", "Update", "coordination.k8s.io/v1", r.received-10*sec, "",
		`{"f:metadata":{"f:ownerReferences":{".":{},"k:{\"uid\":\"`+n.uid+`\"}":{}}},"f:spec":{"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:renewTime":{}}}`)
	b = append(b, `]},"spec":{"holderIdentity":"`...)
	b = append(b, n.name...)
	b = append(b, `","leaseDurationSeconds":40,"renewTime":`...)
	b = s.clk.appendMicro(b, r.received)
	return append(b, `}}`...)
}

func nodeLeaseRequest(s *sim, r *request, b []byte) []byte {
	return nodeLeaseBody(s, r, b, uint64(r.t1))
}

func nodeLeaseResponse(s *sim, r *request, b []byte) []byte {
	return nodeLeaseBody(s, r, b, uint64(r.i1))
}

func leaderLeaseBody(s *sim, r *request, b []byte, rv uint64) []byte {
	l := r.x.(*lease)
	b = append(b, `{"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"`...)
	b = append(b, l.name...)
	b = append(b, `","namespace":"`...)
	b = append(b, l.ns...)
	b = append(b, `","uid":"`...)
	b = append(b, l.uid...)
	b = append(b, `",`...)
	b = appendRV(b, rv)
	b = append(b, `,"creationTimestamp":`...)
	b = s.clk.appendSecond(b, l.created)
	if l.manager == "kube-apiserver" {
		b = append(b, `,"labels":{"apiserver.kubernetes.io/identity":"kube-apiserver","kubernetes.io/hostname":"`...)
		b = append(b, l.host...)
		b = append(b, `"}`...)
	}
	b = append(b, `,"managedFields":[`...)
	b = s.managedField(b, l.manager, "Update", "coordination.k8s.io/v1", r.received-2*sec, "",
		`{"f:spec":{"f:acquireTime":{},"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:leaseTransitions":{},"f:renewTime":{}}}`)
	b = append(b, `]},"spec":{"holderIdentity":`...)
	b = appendString(b, l.holder)
	b = append(b, `,"leaseDurationSeconds":`...)
	b = strconv.AppendInt(b, int64(l.duration), 10)
	b = append(b, `,"acquireTime":`...)
	b = s.clk.appendMicro(b, l.acquired)
	b = append(b, `,"renewTime":`...)
	b = s.clk.appendMicro(b, r.received)
	b = append(b, `,"leaseTransitions":`...)
	b = strconv.AppendInt(b, int64(l.transitions), 10)
	return append(b, `}}`...)
}

func leaderLeaseRequest(s *sim, r *request, b []byte) []byte {
	return leaderLeaseBody(s, r, b, uint64(r.t1))
}

func leaderLeaseResponse(s *sim, r *request, b []byte) []byte {
	return leaderLeaseBody(s, r, b, uint64(r.i1))
}

// ---- node status ----

var nodeConditions = []struct{ typ, status, reason, msg string }{
	{"MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
	{"DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
	{"PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
	{"Ready", "True", "KubeletReady", "kubelet is posting ready status"},
}

// nodeStatusPatch is the strategic merge patch a kubelet sends with its periodic status.
func nodeStatusPatch(s *sim, r *request, b []byte) []byte {
	n := r.x.(*node)
	b = append(b, `{"status":{"$setElementOrder/conditions":[{"type":"MemoryPressure"},{"type":"DiskPressure"},{"type":"PIDPressure"},{"type":"Ready"}],"allocatable":{"ephemeral-storage":"`...)
	b = strconv.AppendInt(b, 92000000000+int64(r.i1)*1000, 10)
	b = append(b, `"},"conditions":[`...)
	for i, c := range nodeConditions {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"lastHeartbeatTime":`...)
		b = s.clk.appendSecond(b, r.received)
		b = append(b, `,"type":"`...)
		b = append(b, c.typ...)
		b = append(b, `"}`...)
	}
	b = append(b, `],"images":[`...)
	for i, d := range s.c.deployments {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"names":["`...)
		b = append(b, d.image...)
		b = append(b, `@sha256:`...)
		b = append(b, n.uid[:8]...)
		b = append(b, d.uid[:8]...)
		b = append(b, n.uid[:8]...)
		b = append(b, d.uid[:8]...)
		b = append(b, n.uid[:8]...)
		b = append(b, d.uid[:8]...)
		b = append(b, n.uid[:8]...)
		b = append(b, d.uid[:8]...)
		b = append(b, `","`...)
		b = append(b, d.image...)
		b = append(b, ':', 'v', '1', '.')
		b = strconv.AppendInt(b, int64(d.tag), 10)
		b = append(b, `"],"sizeBytes":`...)
		b = strconv.AppendInt(b, int64(40000000+len(d.image)*1234567), 10)
		b = append(b, '}')
	}
	b = append(b, `]}}`...)
	return b
}

// ---- events ----

func eventBody(s *sim, r *request, b []byte, response bool) []byte {
	p := r.x.(*pod)
	ev := kubeletEventReasons[r.i1]
	b = append(b, `{"kind":"Event","apiVersion":"v1","metadata":{"name":"`...)
	b = append(b, r.s1...)
	b = append(b, `","namespace":"`...)
	b = append(b, p.dep.ns...)
	b = append(b, '"')
	if response {
		b = append(b, `,"uid":"`...)
		b = append(b, r.s2...)
		b = append(b, `",`...)
		b = appendRV(b, uint64(r.t1))
		b = append(b, `,"creationTimestamp":`...)
		b = s.clk.appendSecond(b, r.received)
		b = append(b, `,"managedFields":[`...)
		b = s.managedField(b, "kubelet", "Update", "v1", r.received, "",
			`{"f:count":{},"f:firstTimestamp":{},"f:involvedObject":{},"f:lastTimestamp":{},"f:message":{},"f:reason":{},"f:reportingComponent":{},"f:reportingInstance":{},"f:source":{"f:component":{},"f:host":{}},"f:type":{}}`)
		b = append(b, ']')
	}
	b = append(b, `},"involvedObject":{"kind":"Pod","namespace":"`...)
	b = append(b, p.dep.ns...)
	b = append(b, `","name":"`...)
	b = append(b, p.name...)
	b = append(b, `","uid":"`...)
	b = append(b, p.uid...)
	b = append(b, `","apiVersion":"v1","resourceVersion":"`...)
	b = appendUint(b, s.c.deployments[0].rv)
	b = append(b, `","fieldPath":"spec.containers{`...)
	b = append(b, p.dep.name...)
	b = append(b, `}"},"reason":"`...)
	b = append(b, ev.reason...)
	b = append(b, `","message":`...)
	msg := ev.msg
	switch ev.reason {
	case "Unhealthy":
		msg = "Readiness probe failed: Get \"http://10.244." + strconv.Itoa(1+r.i1) + ".17:" + strconv.Itoa(p.dep.port) + "/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
	case "BackOff":
		msg = "Back-off pulling image \"" + p.dep.image + ":v1." + strconv.Itoa(p.dep.tag) + "\""
	case "Pulled":
		msg = "Container image \"" + p.dep.image + ":v1." + strconv.Itoa(p.dep.tag) + "\" already present on machine and can be accessed by the pod"
	default:
		msg = "Liveness probe warning: " + p.name + " responded slowly"
	}
	b = appendString(b, msg)
	b = append(b, `,"source":{"component":"kubelet","host":"`...)
	b = append(b, p.node.name...)
	b = append(b, `"},"firstTimestamp":`...)
	b = s.clk.appendSecond(b, r.received)
	b = append(b, `,"lastTimestamp":`...)
	b = s.clk.appendSecond(b, r.received)
	b = append(b, `,"count":1,"type":"`...)
	b = append(b, ev.typ...)
	b = append(b, `","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"`...)
	b = append(b, p.node.name...)
	return append(b, `"}`...)
}

func eventRequest(s *sim, r *request, b []byte) []byte  { return eventBody(s, r, b, false) }
func eventResponse(s *sim, r *request, b []byte) []byte { return eventBody(s, r, b, true) }

// ---- workloads ----

func appendLabels(b []byte, app string) []byte {
	b = append(b, `{"app":"`...)
	b = append(b, app...)
	b = append(b, `","app.kubernetes.io/part-of":"shop"}`...)
	return b
}

// appendPodSpec appends an ordinary, hardened pod spec for deployment d.
func appendPodSpec(b []byte, d *deployment, nodeName string, full bool) []byte {
	b = append(b, `{"volumes":[{"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}}],"defaultMode":420}}],"containers":[{"name":"`...)
	b = append(b, d.name...)
	b = append(b, `","image":"`...)
	b = append(b, d.image...)
	b = append(b, `:v1.`...)
	b = strconv.AppendInt(b, int64(d.tag), 10)
	b = append(b, `","ports":[{"name":"http","containerPort":`...)
	b = strconv.AppendInt(b, int64(d.port), 10)
	b = append(b, `,"protocol":"TCP"}],"env":[{"name":"APP_ENV","value":"`...)
	b = append(b, d.ns...)
	b = append(b, `"},{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"name":"api-db","key":"password"}}}],"resources":{"limits":{"memory":"512Mi"},"requests":{"cpu":"100m","memory":"256Mi"}},"readinessProbe":{"httpGet":{"path":"/healthz","port":"http","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":{"capabilities":{"drop":["ALL"]},"runAsNonRoot":true,"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false}}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"`...)
	b = append(b, d.sa...)
	b = append(b, `","serviceAccount":"`...)
	b = append(b, d.sa...)
	b = append(b, '"')
	if nodeName != "" {
		b = append(b, `,"nodeName":"`...)
		b = append(b, nodeName...)
		b = append(b, '"')
	}
	b = append(b, `,"securityContext":{"seccompProfile":{"type":"RuntimeDefault"}},"imagePullSecrets":[{"name":"registry-pull"}],"schedulerName":"default-scheduler"`...)
	if full {
		b = append(b, `,"tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"`...)
	}
	return append(b, '}')
}

func appendDeployment(s *sim, b []byte, d *deployment, t int64) []byte {
	b = append(b, `{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"`...)
	b = append(b, d.name...)
	b = append(b, `","namespace":"`...)
	b = append(b, d.ns...)
	b = append(b, `","uid":"`...)
	b = append(b, d.uid...)
	b = append(b, `",`...)
	b = appendRV(b, d.rv)
	b = append(b, `,"generation":`...)
	b = strconv.AppendInt(b, int64(d.generation), 10)
	b = append(b, `,"creationTimestamp":`...)
	b = s.clk.appendSecond(b, d.created)
	b = append(b, `,"labels":`...)
	b = appendLabels(b, d.name)
	b = append(b, `,"annotations":{"deployment.kubernetes.io/revision":"`...)
	b = strconv.AppendInt(b, int64(d.generation), 10)
	b = append(b, `"},"managedFields":[`...)
	b = s.managedField(b, "kubectl-client-side-apply", "Update", "apps/v1", t, "",
		`{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},"f:app":{},"f:app.kubernetes.io/part-of":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"`+d.name+`\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{}}}}}}}`)
	b = append(b, ',')
	b = s.managedField(b, "kube-controller-manager", "Update", "apps/v1", t, "status",
		`{"f:metadata":{"f:annotations":{"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}`)
	b = append(b, `]},"spec":{"replicas":`...)
	b = strconv.AppendInt(b, int64(d.replicas), 10)
	b = append(b, `,"selector":{"matchLabels":{"app":"`...)
	b = append(b, d.name...)
	b = append(b, `"}},"template":{"metadata":{"labels":`...)
	b = appendLabels(b, d.name)
	b = append(b, `},"spec":`...)
	b = appendPodSpec(b, d, "", false)
	b = append(b, `},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}},"revisionHistoryLimit":10,"progressDeadlineSeconds":600},"status":{"observedGeneration":`...)
	b = strconv.AppendInt(b, int64(d.generation-1), 10)
	b = append(b, `,"replicas":`...)
	b = strconv.AppendInt(b, int64(d.replicas), 10)
	b = append(b, `,"updatedReplicas":`...)
	b = strconv.AppendInt(b, int64(d.replicas), 10)
	b = append(b, `,"readyReplicas":`...)
	b = strconv.AppendInt(b, int64(d.replicas), 10)
	b = append(b, `,"availableReplicas":`...)
	b = strconv.AppendInt(b, int64(d.replicas), 10)
	b = append(b, `,"conditions":[{"type":"Available","status":"True","lastUpdateTime":`...)
	b = s.clk.appendSecond(b, d.created)
	b = append(b, `,"lastTransitionTime":`...)
	b = s.clk.appendSecond(b, d.created)
	b = append(b, `,"reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability."}]}}`...)
	return b
}

// deploymentImagePatch is the strategic merge patch `kubectl set image` sends.
func deploymentImagePatch(s *sim, r *request, b []byte) []byte {
	d := r.x.(*deployment)
	b = append(b, `{"spec":{"template":{"spec":{"containers":[{"image":"`...)
	b = append(b, d.image...)
	b = append(b, `:v1.`...)
	b = strconv.AppendInt(b, int64(r.i1), 10)
	b = append(b, `","name":"`...)
	b = append(b, d.name...)
	return append(b, `"}]}}}}`...)
}

// deploymentRestartPatch is the patch `kubectl rollout restart` sends.
func deploymentRestartPatch(s *sim, r *request, b []byte) []byte {
	b = append(b, `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"`...)
	b = append(b, s.clk.appendSecond(nil, r.received)[1:21]...)
	return append(b, `"}}}}}`...)
}

func deploymentResponse(s *sim, r *request, b []byte) []byte {
	return appendDeployment(s, b, r.x.(*deployment), r.received)
}

func deploymentStatusRequest(s *sim, r *request, b []byte) []byte {
	return appendDeployment(s, b, r.x.(*deployment), r.received)
}

// appendPod appends a Pod as the replicaset controller creates it (response: with
// uid, resourceVersion and managedFields).
func appendPod(s *sim, b []byte, p *pod, t int64, response bool, rv uint64) []byte {
	d := p.dep
	b = append(b, `{"kind":"Pod","apiVersion":"v1","metadata":{`...)
	if response {
		b = append(b, `"name":"`...)
		b = append(b, p.name...)
		b = append(b, `",`...)
	}
	b = append(b, `"generateName":"`...)
	b = append(b, d.name...)
	b = append(b, '-')
	b = append(b, d.rsHash...)
	b = append(b, `-","namespace":"`...)
	b = append(b, d.ns...)
	b = append(b, '"')
	if response {
		b = append(b, `,"uid":"`...)
		b = append(b, p.uid...)
		b = append(b, `",`...)
		b = appendRV(b, rv)
		b = append(b, `,"creationTimestamp":`...)
		b = s.clk.appendSecond(b, t)
	} else {
		b = append(b, `,"creationTimestamp":null`...)
	}
	b = append(b, `,"labels":{"app":"`...)
	b = append(b, d.name...)
	b = append(b, `","pod-template-hash":"`...)
	b = append(b, d.rsHash...)
	b = append(b, `"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"`...)
	b = append(b, d.name...)
	b = append(b, '-')
	b = append(b, d.rsHash...)
	b = append(b, `","uid":"`...)
	b = append(b, d.rsUID...)
	b = append(b, `","controller":true,"blockOwnerDeletion":true}]`...)
	if response {
		b = append(b, `,"managedFields":[`...)
		b = s.managedField(b, "kube-controller-manager", "Update", "v1", t, "",
			`{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"`+d.rsUID+`\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"`+d.name+`\"}":{".":{},"f:env":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{},"f:readinessProbe":{},"f:resources":{},"f:securityContext":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:imagePullSecrets":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:serviceAccount":{},"f:serviceAccountName":{},"f:terminationGracePeriodSeconds":{}}}`)
		b = append(b, ']')
	}
	b = append(b, `},"spec":`...)
	b = appendPodSpec(b, d, "", response)
	if response {
		b = append(b, `,"status":{"phase":"Pending","qosClass":"Burstable"}}`...)
	} else {
		b = append(b, `,"status":{}}`...)
	}
	return b
}

func podCreateRequest(s *sim, r *request, b []byte) []byte {
	return appendPod(s, b, r.x.(*pod), r.received, false, 0)
}

func podCreateResponse(s *sim, r *request, b []byte) []byte {
	return appendPod(s, b, r.x.(*pod), r.received, true, uint64(r.t1))
}

func podBindingRequest(s *sim, r *request, b []byte) []byte {
	p := r.x.(*pod)
	b = append(b, `{"kind":"Binding","apiVersion":"v1","metadata":{"name":"`...)
	b = append(b, p.name...)
	b = append(b, `","namespace":"`...)
	b = append(b, p.dep.ns...)
	b = append(b, `","uid":"`...)
	b = append(b, p.uid...)
	b = append(b, `","creationTimestamp":null},"target":{"kind":"Node","name":"`...)
	b = append(b, p.node.name...)
	return append(b, `"}}`...)
}

func statusSuccess(s *sim, r *request, b []byte) []byte {
	return append(b, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}`...)
}

// podStatusPatch is the status patch a kubelet sends when a container becomes ready.
func podStatusPatch(s *sim, r *request, b []byte) []byte {
	p := r.x.(*pod)
	b = append(b, `{"metadata":{"uid":"`...)
	b = append(b, p.uid...)
	b = append(b, `"},"status":{"$setElementOrder/conditions":[{"type":"PodReadyToStartContainers"},{"type":"Initialized"},{"type":"Ready"},{"type":"ContainersReady"},{"type":"PodScheduled"}],"conditions":[{"lastTransitionTime":`...)
	b = s.clk.appendSecond(b, r.received)
	b = append(b, `,"status":"True","type":"Ready"},{"lastTransitionTime":`...)
	b = s.clk.appendSecond(b, r.received)
	b = append(b, `,"status":"True","type":"ContainersReady"}],"containerStatuses":[{"containerID":"containerd://`...)
	b = append(b, p.uid[:8]...)
	b = append(b, p.dep.uid[:8]...)
	b = append(b, p.node.uid[:8]...)
	b = append(b, p.uid[:8]...)
	b = append(b, `","image":"`...)
	b = append(b, p.dep.image...)
	b = append(b, `:v1.`...)
	b = strconv.AppendInt(b, int64(p.dep.tag), 10)
	b = append(b, `","lastState":{},"name":"`...)
	b = append(b, p.dep.name...)
	b = append(b, `","ready":true,"restartCount":0,"started":true,"state":{"running":{"startedAt":`...)
	b = s.clk.appendSecond(b, r.received-3*sec)
	b = append(b, `}}}],"phase":"Running","podIP":"10.244.`...)
	b = strconv.AppendInt(b, int64(len(p.node.name)%7+1), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(2+r.i1%250), 10)
	b = append(b, `","startTime":`...)
	b = s.clk.appendSecond(b, r.received-5*sec)
	return append(b, `}}`...)
}

func podDeleteResponse(s *sim, r *request, b []byte) []byte {
	return appendPod(s, b, r.x.(*pod), r.received-int64(r.i1)*sec, true, uint64(r.t1))
}

// ---- secrets ----

func appendSecret(s *sim, b []byte, sc *secret, withKind bool) []byte {
	if withKind {
		b = append(b, `{"kind":"Secret","apiVersion":"v1","metadata":{"name":`...)
	} else {
		b = append(b, `{"metadata":{"name":`...)
	}
	b = appendSecretMeta(s, b, sc, false)
	return appendSecretData(b, sc)
}

// appendDataMap appends a Secret's data map, base64 values, keys sorted as encoding/json
// sorts a map's keys (the secrets' keys are kept sorted).
func appendDataMap(b []byte, sc *secret) []byte {
	b = append(b, '{')
	for i, d := range sc.data {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, d.key)
		b = append(b, ':')
		b = appendString(b, b64(d.value))
	}
	return append(b, '}')
}

// appendSecretData closes a Secret after its metadata: data and type.
func appendSecretData(b []byte, sc *secret) []byte {
	b = append(b, `,"data":`...)
	b = appendDataMap(b, sc)
	b = append(b, `,"type":`...)
	b = appendString(b, sc.typ)
	return append(b, '}')
}

func appendSecretMeta(s *sim, b []byte, sc *secret, applied bool) []byte {
	b = appendString(b, sc.name)
	b = append(b, `,"namespace":"`...)
	b = append(b, sc.ns...)
	b = append(b, `","uid":"`...)
	b = append(b, sc.uid...)
	b = append(b, `",`...)
	b = appendRV(b, sc.rv)
	b = append(b, `,"creationTimestamp":`...)
	b = s.clk.appendSecond(b, sc.created)
	if applied {
		b = append(b, `,"annotations":{"kubectl.kubernetes.io/last-applied-configuration":`...)
		b = appendString(b, lastApplied(sc))
		b = append(b, '}')
	}
	b = append(b, `,"managedFields":[`...)
	b = s.managedField(b, "kubectl-create", "Update", "v1", sc.created, "", `{"f:data":{},"f:type":{}}`)
	if applied {
		b = append(b, ',')
		b = s.managedField(b, "kubectl-client-side-apply", "Update", "v1", sc.created, "",
			`{"f:data":{},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},"f:type":{}}`)
	}
	return append(b, `]}`...)
}

// lastApplied is the kubectl.kubernetes.io/last-applied-configuration annotation of a
// Secret applied from a manifest: the whole object, data included, as a JSON string.
func lastApplied(sc *secret) string {
	b := []byte(`{"apiVersion":"v1","data":`)
	b = appendDataMap(b, sc)
	b = append(b, `,"kind":"Secret","metadata":{"annotations":{},"name":`...)
	b = appendString(b, sc.name)
	b = append(b, `,"namespace":`...)
	b = appendString(b, sc.ns)
	b = append(b, `},"type":`...)
	b = appendString(b, sc.typ)
	return string(b) + "}\n"
}

// secretApplyPatch is the strategic merge patch kubectl apply sends for a Secret.
func secretApplyPatch(s *sim, r *request, b []byte) []byte {
	s.discloseSecret(r.i1)
	sc := s.c.secrets[r.i1]
	b = append(b, `{"data":`...)
	b = appendDataMap(b, sc)
	b = append(b, `,"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":`...)
	b = appendString(b, lastApplied(sc))
	return append(b, `}}}`...)
}

func secretApplyResponse(s *sim, r *request, b []byte) []byte {
	s.discloseSecret(r.i1)
	sc := s.c.secrets[r.i1]
	b = append(b, `{"kind":"Secret","apiVersion":"v1","metadata":{"name":`...)
	b = appendSecretMeta(s, b, sc, true)
	return appendSecretData(b, sc)
}

// secretResponse is the Secret a get returns; at RequestResponse its data reaches the log.
func secretResponse(s *sim, r *request, b []byte) []byte {
	s.discloseSecret(r.i1)
	return appendSecret(s, b, s.c.secrets[r.i1], true)
}

// secretListResponse is a SecretList of every secret (r.s1 empty) or of namespace r.s1.
func secretListResponse(s *sim, r *request, b []byte) []byte {
	b = append(b, `{"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"`...)
	b = appendUint(b, uint64(r.t1))
	b = append(b, `"},"items":[`...)
	first := true
	for i, sc := range s.c.secrets {
		if r.s1 != "" && sc.ns != r.s1 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		s.discloseSecret(i)
		b = appendSecret(s, b, sc, false)
	}
	return append(b, `]}`...)
}
