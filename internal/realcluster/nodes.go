package realcluster

import (
	"encoding/json"
	"fmt"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// KubeletUserAgent is the user agent of a v1.37.2 kubelet built as tools/apiserver builds.
const KubeletUserAgent = "kubelet/" + K8sVersion + " (linux/amd64) kubernetes/unknown"

// StartNodes registers nodes and keeps them Ready, as their kubelets would: each node,
// under its own identity (system:node:NAME, which must be one of Users) and the kubelet's
// user agent, creates its Node, patches its status Ready with 127.0.0.1 as its address and
// renews its lease in kube-node-lease every 10 seconds. This is a stand-in for the kubelet's
// API traffic only (no kubelet can run here: there is no container runtime); the kubelet
// endpoint it advertises is a port on 127.0.0.1 where nothing listens, so the apiserver's
// exec, attach, port-forward and log requests fail to connect — unless KubeletStandIn is
// set, and then a stand-in answers them (kubelet.go). nodes/proxy to 127.0.0.1 is refused
// by the apiserver itself either way.
// The control-plane nodes are labelled and tainted by the admin afterwards, as kubeadm does.
//
// Each node also watches the pods bound to it (the kubelet's watch, a field selector on
// spec.nodeName), reports them Running with its containers started (PATCH pods/status),
// and confirms the deletion of a terminating pod (DELETE with grace 0 and the pod's UID
// as precondition), so pods look as they do on a real node: kubectl port-forward and logs
// ask the apiserver only for a Running pod, and deleted pods go away.
func (d *Driver) StartNodes(workers, controlPlanes []string) error {
	d.nodeStop = make(chan struct{})
	for _, name := range append(append([]string(nil), workers...), controlPlanes...) {
		if err := d.registerNode(name); err != nil {
			return err
		}
	}
	for _, name := range controlPlanes {
		patch := `{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":"","node.kubernetes.io/exclude-from-external-load-balancers":""}},"spec":{"taints":[{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]}}`
		if _, err := d.Client(Admin).CoreV1().Nodes().Patch(d.Ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "kubeadm"}); err != nil {
			return fmt.Errorf("marking %s control-plane: %w", name, err)
		}
	}
	return nil
}

func (d *Driver) registerNode(name string) error {
	user := "system:node:" + name
	if _, ok := d.C.Users[user]; !ok {
		return fmt.Errorf("realcluster: no static token for %s", user)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	if d.KubeletStandIn {
		if d.standIn == nil {
			if d.standIn, err = startKubeletStandIn(d.C.CA); err != nil {
				return err
			}
		}
		port = d.standIn.port
	}
	d.KubeletAt[name] = port
	cs := d.ClientVia(user, Remote{UserAgent: KubeletUserAgent})
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
	}, Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"}}}
	if _, err := cs.CoreV1().Nodes().Create(d.Ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering node %s: %w", name, err)
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	status := map[string]any{"status": corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
			{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
		},
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: name}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: K8sVersion, OperatingSystem: "linux", Architecture: "amd64",
			ContainerRuntimeVersion: "containerd://2.1.4", OSImage: "Debian GNU/Linux 13 (trixie)", KernelVersion: "6.12.0"},
	}}
	body, err := json.Marshal(status)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Nodes().PatchStatus(d.Ctx, name, body); err != nil {
		return fmt.Errorf("node %s status: %w", name, err)
	}
	leases := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	lease := &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: coordv1.LeaseSpec{
		HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &metav1.MicroTime{Time: time.Now()}}}
	cur, err := leases.Create(d.Ctx, lease, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, err = leases.Get(d.Ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("node %s lease: %w", name, err)
	}
	d.nodeWG.Add(2)
	go func() {
		defer d.nodeWG.Done()
		if err := d.runPods(cs, name); err != nil && d.Ctx.Err() == nil {
			d.mu.Lock()
			d.nodeErrs = append(d.nodeErrs, fmt.Errorf("node %s pods: %w", name, err))
			d.mu.Unlock()
		}
	}()
	go func() {
		defer d.nodeWG.Done()
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-d.nodeStop:
				return
			case <-d.Ctx.Done():
				return
			case <-tick.C:
			}
			// As the kubelet does: update the lease it last wrote; read it again only
			// after a conflict.
			cur.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
			l, err := leases.Update(d.Ctx, cur, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) {
				if l, err = leases.Get(d.Ctx, name, metav1.GetOptions{}); err == nil {
					l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
					l, err = leases.Update(d.Ctx, l, metav1.UpdateOptions{})
				}
			}
			if err == nil {
				cur = l
			} else if d.Ctx.Err() == nil {
				d.mu.Lock()
				d.nodeErrs = append(d.nodeErrs, fmt.Errorf("renewing %s's lease: %w", name, err))
				d.mu.Unlock()
			}
		}
	}()
	return nil
}

// StopNodes stops the lease renewals and returns the first renewal error, if any.
func (d *Driver) StopNodes() error {
	if d.nodeStop == nil {
		return nil
	}
	close(d.nodeStop)
	d.nodeWG.Wait()
	d.nodeStop = nil
	if d.standIn != nil {
		d.standIn.close()
		d.standIn = nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.nodeErrs) > 0 {
		return d.nodeErrs[0]
	}
	return nil
}

// runPods is the kubelet's pod loop reduced to its API traffic: it ends when the nodes
// stop.
func (d *Driver) runPods(cs *kubernetes.Clientset, node string) error {
	pods := cs.CoreV1().Pods("")
	sel := fields.OneTermEqualSelector("spec.nodeName", node).String()
	podIP := 0
	for {
		list, err := pods.List(d.Ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return err
		}
		handle := func(p *corev1.Pod) error {
			switch {
			case p.DeletionTimestamp != nil:
				err := cs.CoreV1().Pods(p.Namespace).Delete(d.Ctx, p.Name, metav1.DeleteOptions{
					GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &p.UID}})
				if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
					return nil
				}
				return err
			case p.Status.Phase == corev1.PodPending:
				podIP++
				body, err := json.Marshal(map[string]any{"status": runningStatus(p, node, podIP)})
				if err != nil {
					return err
				}
				_, err = cs.CoreV1().Pods(p.Namespace).Patch(d.Ctx, p.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
				if apierrors.IsNotFound(err) {
					return nil
				}
				return err
			}
			return nil
		}
		for i := range list.Items {
			if err := handle(&list.Items[i]); err != nil {
				return err
			}
		}
		w, err := pods.Watch(d.Ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true})
		if err != nil {
			return err
		}
	events:
		for {
			select {
			case <-d.nodeStop:
				w.Stop()
				return nil
			case ev, ok := <-w.ResultChan():
				if !ok {
					break events // the apiserver ends watches after a while: list again
				}
				if p, ok := ev.Object.(*corev1.Pod); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
					if err := handle(p); err != nil {
						w.Stop()
						return err
					}
				}
			}
		}
	}
}

// runningStatus is the status a kubelet reports once a pod's containers have started.
func runningStatus(p *corev1.Pod, node string, n int) corev1.PodStatus {
	now := metav1.Now()
	st := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    "127.0.0.1",
		HostIPs:   []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP:     fmt.Sprintf("10.244.%d.%d", len(node)%8, 10+n%200),
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: "PodReadyToStartContainers", Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	if p.Spec.HostNetwork {
		st.PodIP = "127.0.0.1"
	}
	st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	for _, c := range p.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image + "@sha256:" + randHex(32), Ready: true, Started: ptr.To(true),
			ContainerID: "containerd://" + randHex(32),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return st
}
