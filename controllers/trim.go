package controllers

import (
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
)

// TrimmedAnnotation marks an Order the manager's cache holds trimmed; it
// exists only in that cache, never in the API server.
const TrimmedAnnotation = "orderflow.io/cache-trimmed"

// trimmedMark is shared by every trimmed Order: objects in the cache are
// never modified, and a Get hands out a deep copy.
var trimmedMark = map[string]string{TrimmedAnnotation: "true"}

// TrimFinished is the manager cache's transform for Orders. Most Orders in
// a cluster are finished: terminal, their finalizer gone, nothing left for
// the controller to do. For those it keeps only what the reconciler and the
// orders-by-phase gauge read (identity, labels, spec.cancel, the phase, and
// the TTL and completion time for expiry),
// so 10 000 finished Orders cost a few megabytes instead of tens. Every
// other Order is kept whole, less its managed fields.
//
// A finished Order needs the controller again when its cancel is set after
// it completed (the refusal is written to status) or a refund is appended
// to its spec.refunds: that Order is kept whole until its status shows the
// refusal and every refund.
func TrimFinished(obj any) (any, error) {
	o, ok := obj.(*v1alpha1.Order)
	if !ok {
		return obj, nil
	}
	o.ManagedFields = nil
	if !finished(o) {
		return o, nil
	}
	t := &v1alpha1.Order{TypeMeta: o.TypeMeta}
	t.Name, t.Namespace, t.UID = o.Name, o.Namespace, o.UID
	t.ResourceVersion, t.Generation = o.ResourceVersion, o.Generation
	t.CreationTimestamp, t.Labels = o.CreationTimestamp, o.Labels
	t.Annotations = trimmedMark
	t.Spec.Cancel, t.Spec.TTLSecondsAfterFinished = o.Spec.Cancel, o.Spec.TTLSecondsAfterFinished
	t.Status.Phase, t.Status.CompletionTime = o.Status.Phase, o.Status.CompletionTime
	return t, nil
}

// finished says the controller is done with an Order.
func finished(o *v1alpha1.Order) bool {
	if !o.Status.Phase.Terminal() || len(o.Finalizers) > 0 || o.DeletionTimestamp != nil {
		return false
	}
	if o.Spec.Cancel && o.Status.Phase == v1alpha1.PhaseCompleted && !refused(&o.Status) {
		return false // the refusal is still to be written
	}
	if shipping(o) {
		return false // its parcel is still followed
	}
	if refundsPending(o) || o.Status.ObservedGeneration != o.Generation {
		return false // refunds to make, or a spec change still to show
	}
	return true
}

// trimmed says an Order came from the cache trimmed by TrimFinished.
func trimmed(o *v1alpha1.Order) bool {
	return o.Annotations[TrimmedAnnotation] == "true"
}

// CacheOptions scope the cache to one namespace when asked, strip managed
// fields from cached objects (they are large and never read) and keep
// finished Orders trimmed to what the controller reads of them.
func CacheOptions(namespace string) cache.Options {
	o := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         map[client.Object]cache.ByObject{&v1alpha1.Order{}: {Transform: TrimFinished}},
	}
	if namespace != "" {
		o.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return o
}
