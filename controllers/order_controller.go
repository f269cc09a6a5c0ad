// Package controllers holds the Order reconciler, the pure mapping from
// workflow progress to Order status, the trimming of finished Orders in the
// manager's cache, and the controller's metrics.
//
// The reconciler turns each Order into a Temporal workflow and mirrors the
// workflow's progress into the Order's status. It does not poll each order:
// the history follower of internal/temporal long-polls the history of each
// running order's workflow, which Temporal answers as soon as the workflow
// publishes a progress or closes; it keeps the latest progress in a cache
// and reports the changed Orders, which go into the controller's queue
// through a channel source. The reconcile then writes the status from the
// cached progress, once per change, and only when the status differs. The
// reconcile starts the follower of every running workflow it meets, so a
// restarted manager or a new leader catches up from history. Two safety
// nets remain: the progress watcher lists Temporal's visibility every few
// seconds for changes no follower reported (a follower declined at its
// limit), and a running order is requeued every minute, which reads the
// workflow once with Describe when the cached progress has grown older
// than that.
//
// Finished Orders (terminal, finalizer gone) are held in the manager's
// cache trimmed to what the reconciler reads (TrimFinished), so memory
// grows with the Orders in flight, not with every Order ever placed.
package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/temporal"
)

// Workflows is what the reconciler asks of Temporal; temporal.OrderWorkflows
// implements it.
type Workflows interface {
	// Start starts the order's workflow, or finds the one already started,
	// and returns its run id; closed says the one found has already ended.
	Start(ctx context.Context, in contract.OrderInput) (runID string, closed bool, err error)
	// Cancel signals the workflow to cancel: temporal.ErrNotFound when there
	// is no such workflow, temporal.ErrClosed when it already ended.
	Cancel(ctx context.Context, workflowID, reason string) error
	// Describe reads the workflow's current progress.
	Describe(ctx context.Context, workflowID string) (temporal.Snapshot, error)
	// URL links to the workflow in the Temporal UI, or is "".
	URL(workflowID, runID string) string
	// Refund starts the workflow making a partial refund, or finds the one
	// started before, and waits up to wait for how it ended: done is
	// false while the refund is being made.
	Refund(ctx context.Context, in contract.RefundInput, wait time.Duration) (res contract.RefundResult, done bool, err error)
	// Amend sends the running order an amendment and waits up to wait
	// for the answer: done is false while it is being decided;
	// temporal.ErrClosed when the workflow already ended.
	Amend(ctx context.Context, workflowID string, req contract.AmendRequest, wait time.Duration) (res contract.AmendResult, done bool, err error)
}

// Finalizer is held on an Order while its workflow may still move money.
const Finalizer = "orderflow.io/workflow"

// OrderReconciler reconciles Orders.
type OrderReconciler struct {
	client.Client
	Recorder  events.EventRecorder
	Workflows Workflows
	Progress  *temporal.ProgressCache
	// ProgressEvents carries the Orders whose workflow progress changed.
	ProgressEvents <-chan event.GenericEvent
	// Follow, when set, starts following a running workflow's history
	// (temporal.HistoryFollower.Follow); it is idempotent.
	Follow func(workflowID, runID string) bool
	// Resync requeues running orders as a safety net; a cached progress
	// older than Resync is refreshed with Describe, as ResyncReads allows
	// (nil: always). An Order whose read is refused keeps the status it
	// shows and tries again at its next resync.
	Resync      time.Duration
	ResyncReads *rate.Limiter
	// MaxConcurrentReconciles bounds parallel reconciles.
	MaxConcurrentReconciles int
	// DefaultTTL deletes finished Orders that set no
	// ttlSecondsAfterFinished this long after they finished; 0: never.
	DefaultTTL time.Duration
	// EditWindow is the edit window of Orders whose edit-window
	// annotation sets none (EditWindowAnnotation).
	EditWindow time.Duration
	// DefaultCarrier ships the Orders that set no spec.fulfillment (empty:
	// they are not shipped); DefaultShipBy is the shipping deadline of
	// those that set no shipBy (0: the workflow's, 48h).
	DefaultCarrier string
	DefaultShipBy  time.Duration
	// FirstStatusWait is how long a new order's first status write waits
	// for the workflow's first progress, so the two go in one write (the
	// design's one status write per progress); an order whose workflow
	// shows nothing by then gets its Pending status with the workflow's
	// link. 0: written at once.
	FirstStatusWait time.Duration
	// Metrics, when set, observes status transitions.
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// written holds the last status this process wrote, by Order UID, while
	// the Order runs. The controller is the only writer of status, so that
	// is the truth even when the informer cache has not caught up yet: a
	// reconcile reading a stale Order must not start the workflow again or
	// write an older status over a newer one.
	written sync.Map
	// started holds the workflows this process started whose Order's
	// status does not name them yet (its first write waits for progress,
	// FirstStatusWait), by Order UID: a reconcile before that write finds
	// the workflow here instead of starting it again.
	started sync.Map
}

// startedWorkflow is a started workflow its Order's status does not name
// yet, and when it was started.
type startedWorkflow struct {
	ref v1alpha1.WorkflowRef
	at  time.Time
}

// +kubebuilder:rbac:groups=orderflow.io,resources=orders,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=orderflow.io,resources=orders/status,verbs=patch
// +kubebuilder:rbac:groups=orderflow.io,resources=orders/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update

// Reconcile brings one Order one step closer to its workflow's truth.
func (r *OrderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	order := &v1alpha1.Order{}
	if err := r.Get(ctx, req.NamespacedName, order); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if trimmed(order) {
		return r.expire(ctx, order) // finished: nothing left but its TTL
	}
	if st, ok := r.written.Load(order.UID); ok {
		order.Status = *st.(*v1alpha1.OrderStatus).DeepCopy()
	}
	if !order.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, order)
	}
	if order.Status.Phase.Terminal() {
		return r.reconcileFinished(ctx, order)
	}
	if err := r.ensureFinalizer(ctx, order); err != nil {
		return ctrl.Result{}, err
	}
	wf, snap, err := r.ensureWorkflow(ctx, order)
	if err != nil {
		return ctrl.Result{}, err
	}
	if wait := r.firstStatusWait(order, wf, snap); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if err := r.forwardCancel(ctx, order, snap); err != nil {
		return ctrl.Result{}, err
	}
	snap, deciding, err := r.amend(ctx, order, snap)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeStatus(ctx, order, wf, snap); err != nil {
		return ctrl.Result{}, err
	}
	if order.Status.Phase.Terminal() {
		return r.reconcileFinished(ctx, order)
	}
	if deciding {
		return ctrl.Result{RequeueAfter: amendRecheck}, nil
	}
	// Jittered, so Orders created together do not come back together
	// (docs/performance.md).
	return ctrl.Result{RequeueAfter: wait.Jitter(r.Resync, 0.5)}, nil
}

// reconcileFinished lets go of an Order that reached its end, follows its
// parcel, makes its partial refunds and deletes it when its TTL has passed
// (once its parcel's fate is known).
func (r *OrderReconciler) reconcileFinished(ctx context.Context, order *v1alpha1.Order) (ctrl.Result, error) {
	if err := r.finishTerminal(ctx, order); err != nil {
		return ctrl.Result{}, err
	}
	// A parcel still on its way brings the Order back; its TTL waits.
	var parcel ctrl.Result
	if shipping(order) {
		var err error
		if parcel, err = r.reconcileShipping(ctx, order); err != nil {
			return parcel, err
		}
	}
	if res, err := r.reconcileRefunds(ctx, order); err != nil || !res.IsZero() {
		return res, err
	}
	if !parcel.IsZero() {
		return parcel, nil
	}
	return r.expire(ctx, order)
}

// expire deletes a finished Order once its TTL (spec.ttlSecondsAfterFinished,
// else the manager's DefaultTTL) has passed since it finished, and until
// then asks to come back when it will have: one requeue, not a poll. Its
// record stays in PostgreSQL.
func (r *OrderReconciler) expire(ctx context.Context, order *v1alpha1.Order) (ctrl.Result, error) {
	ttl := r.DefaultTTL
	if s := order.Spec.TTLSecondsAfterFinished; s != nil {
		ttl = time.Duration(*s) * time.Second
	}
	done := order.Status.CompletionTime
	if ttl <= 0 && order.Spec.TTLSecondsAfterFinished == nil || done == nil {
		return ctrl.Result{}, nil
	}
	if left := done.Add(ttl).Sub(r.now()); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	// The UID precondition spares an Order applied again under the name.
	err := r.Delete(ctx, order, client.Preconditions{UID: &order.UID})
	if err := client.IgnoreNotFound(err); err != nil && !apierrors.IsConflict(err) {
		return ctrl.Result{}, err
	}
	logf.FromContext(ctx).V(1).Info("Deleted: its TTL after it finished has passed", "ttl", ttl)
	return ctrl.Result{}, nil
}

// ensureFinalizer holds the Order until its workflow is done with it.
func (r *OrderReconciler) ensureFinalizer(ctx context.Context, order *v1alpha1.Order) error {
	if controllerutil.ContainsFinalizer(order, Finalizer) {
		return nil
	}
	orig := order.DeepCopy()
	controllerutil.AddFinalizer(order, Finalizer)
	return r.Patch(ctx, order, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
}

// finishTerminal drops the finalizer of an order that reached its end.
func (r *OrderReconciler) finishTerminal(ctx context.Context, order *v1alpha1.Order) error {
	defer r.written.Delete(order.UID)
	if order.Spec.Cancel && order.Status.Phase == v1alpha1.PhaseCompleted {
		// A cancel that came after completion: say so once, in status too.
		if err := r.writeStatus(ctx, order, nil, nil); err != nil {
			return err
		}
	}
	if !controllerutil.ContainsFinalizer(order, Finalizer) {
		return nil
	}
	orig := order.DeepCopy()
	controllerutil.RemoveFinalizer(order, Finalizer)
	return client.IgnoreNotFound(r.Patch(ctx, order, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})))
}

// workflowID is the id of the Order's workflow: the one its status names
// (Orders placed before identity by name keep theirs), else the one its
// namespace and name give.
func workflowID(order *v1alpha1.Order) string {
	if ref := order.Status.Workflow; ref != nil && ref.ID != "" {
		return ref.ID
	}
	return contract.WorkflowID(order.Namespace, order.Name)
}

// ensureWorkflow starts the order's workflow, or attaches to the one that
// runs or ran under the Order's identity, and returns what is known of its
// progress.
func (r *OrderReconciler) ensureWorkflow(ctx context.Context, order *v1alpha1.Order) (*v1alpha1.WorkflowRef, *temporal.Snapshot, error) {
	id := workflowID(order)
	if p, ok := r.started.Load(order.UID); ok && order.Status.Workflow == nil {
		// Started by this process, its first status still to be written:
		// its progress, when any came, is the follower's (no read of
		// Temporal per new order while it waits).
		ref := p.(startedWorkflow).ref
		if snap, ok := r.Progress.Get(ref.ID); ok {
			return &ref, &snap, nil
		}
		return &ref, nil, nil
	}
	if ref := order.Status.Workflow; ref != nil && ref.RunID != "" {
		if _, ok := r.fresh(id); !ok && !order.Spec.Cancel && r.ResyncReads != nil && !r.ResyncReads.Allow() {
			// Nothing new came from the watcher: this is the safety net,
			// and it is busy. A cancel is never held up: it needs the phase.
			snap, _ := r.Progress.Get(id)
			r.follow(id, ref.RunID, &snap)
			if snap.RunID == "" {
				return nil, nil, nil
			}
			return nil, &snap, nil
		}
		snap, err := r.snapshot(ctx, order, id)
		if err == nil {
			r.follow(id, ref.RunID, snap)
		}
		return nil, snap, err
	}
	in := OrderInput(order)
	window, err := editWindow(order, r.EditWindow)
	if err != nil {
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonInvalidAnnotation, "StartWorkflow",
			"%v; the order starts with the manager's edit window (%s)", err, r.EditWindow)
	}
	in.EditWindow = window
	in.Fulfillment = fulfillmentOf(order, r.DefaultCarrier, r.DefaultShipBy)
	runID, closed, err := r.Workflows.Start(ctx, in)
	if err != nil {
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonTemporalError, "StartWorkflow",
			"Cannot start the order's workflow: %v", err)
		return nil, nil, err
	}
	ref := &v1alpha1.WorkflowRef{ID: id, RunID: runID, URL: r.Workflows.URL(id, runID)}
	if closed {
		// It ended before this Order's status was ever written (the API
		// server was down, or the Order was deleted and applied again):
		// its last progress may be gone from the watcher's listing, so
		// read it.
		snap, err := r.snapshot(ctx, order, id)
		return ref, snap, err
	}
	r.follow(id, runID, nil)
	if snap, ok := r.Progress.Get(id); ok {
		return ref, &snap, nil
	}
	return ref, nil, nil
}

// firstStatusWait says how much longer the first status write of an order
// whose workflow was just started waits for its first progress; 0: write
// now.
func (r *OrderReconciler) firstStatusWait(order *v1alpha1.Order, wf *v1alpha1.WorkflowRef, snap *temporal.Snapshot) time.Duration {
	if r.FirstStatusWait <= 0 || wf == nil || snap != nil || order.Status.Workflow != nil {
		return 0
	}
	p, _ := r.started.LoadOrStore(order.UID, startedWorkflow{ref: *wf, at: r.now()})
	return p.(startedWorkflow).at.Add(r.FirstStatusWait).Sub(r.now())
}

// follow has the workflow's history followed unless it is known closed.
func (r *OrderReconciler) follow(id, runID string, snap *temporal.Snapshot) {
	if r.Follow != nil && (snap == nil || !snap.Closed) {
		r.Follow(id, runID)
	}
}

// fresh returns the cached progress of the workflow if it is younger than
// Resync.
func (r *OrderReconciler) fresh(id string) (temporal.Snapshot, bool) {
	snap, ok := r.Progress.Get(id)
	return snap, ok && r.now().Sub(snap.Fetched) < r.Resync
}

// snapshot returns the cached progress of the workflow, reading it from
// Temporal when none is cached or the cached one is older than Resync.
func (r *OrderReconciler) snapshot(ctx context.Context, order *v1alpha1.Order, id string) (*temporal.Snapshot, error) {
	if snap, ok := r.fresh(id); ok {
		return &snap, nil
	}
	snap, err := r.Workflows.Describe(ctx, id)
	if errors.Is(err, temporal.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonTemporalError, "DescribeWorkflow",
			"Cannot read the order's workflow: %v", err)
		return nil, err
	}
	r.Progress.Put(id, snap)
	if cached, ok := r.Progress.Get(id); ok {
		return &cached, nil
	}
	return &snap, nil
}

// forwardCancel passes spec.cancel on to the workflow until it shows it is
// cancelling.
func (r *OrderReconciler) forwardCancel(ctx context.Context, order *v1alpha1.Order, snap *temporal.Snapshot) error {
	if !order.Spec.Cancel || snap == nil || snap.Closed {
		return nil
	}
	switch snap.Progress.Phase {
	case contract.PhaseCancelling, contract.PhaseCancelled, contract.PhaseCompleted, contract.PhaseFailed:
		return nil
	}
	if reused(order, snap) {
		return nil // the workflow is another order's
	}
	err := r.Workflows.Cancel(ctx, workflowID(order), contract.ReasonCancelled)
	if errors.Is(err, temporal.ErrClosed) || errors.Is(err, temporal.ErrNotFound) {
		return nil // the next progress shows how it ended
	}
	if err != nil {
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonTemporalError, "Cancel",
			"Cannot pass the cancel request on to the workflow: %v", err)
		return err
	}
	logf.FromContext(ctx).V(1).Info("Cancel requested", "workflow", workflowID(order))
	return nil
}

// writeStatus patches the status when it differs from what it should be,
// and records an Event for each transition.
func (r *OrderReconciler) writeStatus(ctx context.Context, order *v1alpha1.Order, wf *v1alpha1.WorkflowRef, snap *temporal.Snapshot) error {
	want := desiredStatus(order, wf, snap, metav1.NewTime(r.now()))
	if p, ok := r.started.Load(order.UID); ok && order.Status.StartTime == nil && want.StartTime != nil {
		at := metav1.NewTime(p.(startedWorkflow).at) // started before its first status write
		want.StartTime = &at
	}
	if equalStatus(order.Status, want) {
		return nil
	}
	orig := order.DeepCopy()
	order.Status = want
	if err := r.Status().Patch(ctx, order, client.MergeFrom(orig)); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.written.Store(order.UID, want.DeepCopy())
	if want.Workflow != nil {
		r.started.Delete(order.UID)
	}
	// An Order that meets its order already finished (re-created after it
	// ran) was re-attached: what it shows was recorded, nothing moved now.
	reattached := snap != nil && want.Phase.Terminal() && !orig.Status.Phase.Terminal() &&
		(snap.Progress.Restored || (snap.Closed && orig.Status.Workflow == nil)) && want.Reason != contract.ReasonNameReused
	if reattached {
		r.Recorder.Eventf(order, nil, corev1.EventTypeNormal, v1alpha1.ReasonReattached, "Reattach",
			"Order %s/%s was processed before (%s, placed %s): it shows the recorded outcome; nothing was charged or reserved again",
			order.Namespace, order.Name, want.Phase, snap.Progress.StartTime.UTC().Format(time.RFC3339))
	} else {
		r.recordTransitions(order, &orig.Status, &want)
		r.recordAmendment(order, &orig.Status, &want)
		r.recordShipping(order, &orig.Status, &want)
	}
	if r.Metrics != nil {
		r.Metrics.observe(order, &orig.Status, &want)
	}
	return nil
}

// recordTransitions records what a person needs to know, not every step
// (each step's time is in its condition): one Normal Event when the order
// completes or is cancelled, a Warning when it fails or a cancel is refused.
func (r *OrderReconciler) recordTransitions(order *v1alpha1.Order, old, now *v1alpha1.OrderStatus) {
	if refused(now) && !refused(old) {
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonCancelRefused, "Cancel",
			"Cancel refused: the order already completed")
	}
	if now.Phase == old.Phase {
		return
	}
	switch now.Phase {
	case v1alpha1.PhaseCompleted:
		r.Recorder.Eventf(order, nil, corev1.EventTypeNormal, v1alpha1.ReasonCompleted, "Complete", "Order completed, total %s %s", now.Total, now.Currency)
	case v1alpha1.PhaseFailed:
		r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, now.Reason, "Fail", "Order failed: %s", now.Message)
	case v1alpha1.PhaseCancelled:
		r.Recorder.Eventf(order, nil, corev1.EventTypeNormal, contract.ReasonCancelled, "Cancel", "Order cancelled: %s", now.Message)
	}
}

func refused(st *v1alpha1.OrderStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == v1alpha1.ConditionCancelRefused && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

// reconcileDelete cancels a running order's workflow and lets the Order go
// once the workflow has unwound; with deletionPolicy Orphan it lets the
// Order go at once and the workflow carries on.
func (r *OrderReconciler) reconcileDelete(ctx context.Context, order *v1alpha1.Order) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(order, Finalizer) {
		return ctrl.Result{}, nil
	}
	id := workflowID(order)
	if !order.Status.Phase.Terminal() && order.Spec.DeletionPolicy != v1alpha1.DeletionOrphan {
		err := r.Workflows.Cancel(ctx, id, contract.ReasonDeleted)
		switch {
		case errors.Is(err, temporal.ErrNotFound):
			// Never started: nothing to undo.
		case errors.Is(err, temporal.ErrClosed), err == nil:
			snap, err := r.snapshot(ctx, order, id)
			if err != nil {
				return ctrl.Result{}, err
			}
			if err := r.writeStatus(ctx, order, nil, snap); err != nil {
				return ctrl.Result{}, err
			}
			if snap != nil && !order.Status.Phase.Terminal() {
				// The watcher brings the Order back when the workflow has unwound.
				return ctrl.Result{RequeueAfter: r.Resync}, nil
			}
		default:
			r.Recorder.Eventf(order, nil, corev1.EventTypeWarning, v1alpha1.ReasonTemporalError, "Delete",
				"Cannot cancel the order's workflow, keeping the finalizer: %v", err)
			return ctrl.Result{}, err
		}
	}
	r.written.Delete(order.UID)
	r.started.Delete(order.UID)
	orig := order.DeepCopy()
	controllerutil.RemoveFinalizer(order, Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, order, client.MergeFrom(orig)))
}

func (r *OrderReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// OrderInput is the workflow input for an Order: what the controller starts
// its workflow with.
func OrderInput(o *v1alpha1.Order) contract.OrderInput {
	in := contract.OrderInput{
		Key: contract.Key(o.Namespace, o.Name), UID: string(o.UID), Namespace: o.Namespace, Name: o.Name,
		Fingerprint: Fingerprint(o.Spec),
		CustomerID:  o.Spec.CustomerID, CustomerEmail: o.Spec.CustomerEmail,
		Currency: o.Spec.Currency, PaymentMethod: o.Spec.PaymentMethod, Cancel: o.Spec.Cancel,
	}
	for _, it := range o.Spec.Items {
		in.Items = append(in.Items, contract.Item{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: it.UnitPrice})
	}
	return in
}

// specOrLifecycleChanged lets through the Order updates the reconciler acts
// on: spec changes (generation) and deletion. Its own writes (status,
// finalizer) do not trigger a reconcile: one that ran on a cache not yet
// holding the status it just wrote would write it again.
var specOrLifecycleChanged = predicate.Or(
	predicate.GenerationChangedPredicate{},
	predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !e.ObjectNew.GetDeletionTimestamp().Equal(e.ObjectOld.GetDeletionTimestamp())
	}},
)

// SetupWithManager registers the reconciler and its progress source.
func (r *OrderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Resync == 0 {
		r.Resync = time.Minute
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Order{}, builder.WithPredicates(specOrLifecycleChanged)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			// Failures are mostly a dependency being down (API server,
			// Temporal): retry an Order at least every 10 s rather than the
			// default's backoff of up to 16 minutes, so orders move again
			// soon after the dependency is back.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, 10*time.Second),
		})
	if r.ProgressEvents != nil {
		b = b.WatchesRawSource(source.Channel(r.ProgressEvents, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}
