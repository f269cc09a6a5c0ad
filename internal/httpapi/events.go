package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	toolscache "k8s.io/client-go/tools/cache"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/temporal"
)

// Broadcaster fans Order changes from the informer out to the page's
// server-sent event streams.
type Broadcaster struct {
	mu   sync.Mutex
	subs map[chan change]struct{}
	// UI links to the order workflows in the Temporal UI.
	UI temporal.UI
}

// NewBroadcaster returns a Broadcaster with no subscribers.
func NewBroadcaster(ui temporal.UI) *Broadcaster {
	return &Broadcaster{subs: map[chan change]struct{}{}, UI: ui}
}

// Handler is the informer event handler that feeds the broadcaster.
func (b *Broadcaster) Handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { b.publish("order", obj) },
		UpdateFunc: func(_, obj any) { b.publish("order", obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			b.publish("deleted", obj)
		},
	}
}

func (b *Broadcaster) publish(kind string, obj any) {
	o, ok := obj.(*v1alpha1.Order)
	if !ok {
		return
	}
	data, err := json.Marshal(viewOf(o, b.UI))
	if err != nil {
		return
	}
	msg := change{namespace: o.Namespace, event: []byte(fmt.Sprintf("event: %s\ndata: %s\n\n", kind, data))}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- msg:
		default: // a slow reader misses events and reloads the list when it reconnects
		}
	}
}

// change is one Order's change as a server-sent event, with its namespace.
type change struct {
	namespace string
	event     []byte
}

func (b *Broadcaster) subscribe() chan change {
	ch := make(chan change, 256)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch
}

func (b *Broadcaster) unsubscribe(ch chan change) {
	b.mu.Lock()
	delete(b.subs, ch)
	b.mu.Unlock()
}

// streamOrders serves GET /api/orders/events: each change of an Order in
// the namespaces the caller may watch (the one ?namespace= names, or all
// it may see) as a server-sent event whose data is the order's JSON. It
// asks the Authorizer again every Recheck: when the caller's token or
// permission is gone, a last event "closed" says why (the status, code and
// message an ordinary request would get) and the stream ends; the
// namespaces it spans are worked out again then too.
func (s *Server) streamOrders(w http.ResponseWriter, r *http.Request, namespaces []string) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "Internal", Message: "streaming is not supported"})
		return
	}
	ch := s.Events.subscribe()
	defer s.Events.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("retry: 2000\n\n"))
	flusher.Flush()
	keepalive := time.NewTicker(20 * time.Second)
	defer keepalive.Stop()
	var recheck <-chan time.Time
	if every := s.Auth.Recheck(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-recheck:
			allowed, aerr := s.allowedNamespaces(r, "watch")
			if aerr != nil {
				data, _ := json.Marshal(map[string]any{"status": aerr.Status, "code": aerr.Code, "message": aerr.Message})
				_, _ = fmt.Fprintf(w, "event: closed\ndata: %s\n\n", data)
				flusher.Flush()
				return
			}
			namespaces = allowed
		case msg := <-ch:
			if !slices.Contains(namespaces, msg.namespace) {
				if !s.spansNew(r, msg.namespace) {
					continue
				}
				namespaces = append(namespaces, msg.namespace)
			}
			if _, err := w.Write(msg.event); err != nil {
				return
			}
			flusher.Flush()
		case <-keepalive.C:
			if _, err := w.Write([]byte(": keepalive\n\n")); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

// spansNew says whether a stream over every namespace the caller may see
// takes in ns, a namespace whose first Order appeared after the stream
// began; it asks the Authorizer (which caches its answers).
func (s *Server) spansNew(r *http.Request, ns string) bool {
	if r.URL.Query().Has("namespace") || !s.served(ns) {
		return false
	}
	if _, aerr := s.Auth.Allow(r, "watch", ns); aerr != nil {
		return false
	}
	return true
}
