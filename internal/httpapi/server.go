// Package httpapi serves the REST API and the web page on top of Order
// resources. It keeps no copy of its own: it creates and patches Orders in
// the API server and reads them from an informer cache, so kubectl, GitOps
// and the page all see one truth. The catalog comes from PostgreSQL.
package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/temporal"
)

//go:embed web/index.html
var indexHTML []byte

// DefaultMaxBody bounds request bodies.
const DefaultMaxBody = 1 << 20

// Server is the REST API and web page.
type Server struct {
	// Namespace is the API's own namespace: where an order is created, and
	// what a request acts in, unless it names another (?namespace=).
	Namespace string
	// Namespaces are the other namespaces the API serves (AllNamespaces:
	// every one); see namespaces.go.
	Namespaces []string
	// Orders reads Orders, from an informer cache.
	Orders client.Reader
	// Auth authenticates and authorizes each request.
	Auth Authorizer
	// Products lists the catalog.
	Products func(context.Context) ([]catalog.Product, error)
	// Records reads an order's payments and notifications by its record
	// key; nil leaves them out.
	Records func(ctx context.Context, key string) (orders.Records, error)
	// Ready reports whether the server can serve (cache synced, database up).
	Ready func(context.Context) error
	// Events streams Order changes to the page.
	Events *Broadcaster
	// UI links to the order workflows in the Temporal UI.
	UI      temporal.UI
	Log     logr.Logger
	MaxBody int64
	// CarrierEvents, when set, takes a fulfillment service's signed events.
	CarrierEvents *CarrierEvents
	// Registry, when set, receives the request metrics.
	Registry prometheus.Registerer

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// Handler returns the routes of the API, the page and the probes.
func (s *Server) Handler(metrics http.Handler) http.Handler {
	if s.MaxBody == 0 {
		s.MaxBody = DefaultMaxBody
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderflow_api_requests_total", Help: "API requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "orderflow_api_request_duration_seconds", Help: "API request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"route"})
	if s.Registry != nil {
		s.Registry.MustRegister(s.requests, s.latency)
	}
	mux := http.NewServeMux()
	// Each route counts and times its requests under its own pattern.
	handle := func(pattern string, h http.Handler) {
		route := prometheus.Labels{"route": pattern}
		mux.Handle(pattern, promhttp.InstrumentHandlerDuration(s.latency.MustCurryWith(route),
			promhttp.InstrumentHandlerCounter(s.requests.MustCurryWith(route), h)))
	}
	handle("POST /api/orders", s.authorized("create", s.createOrder))
	handle("GET /api/orders", s.across("list", s.listOrders))
	handle("GET /api/orders/events", s.across("watch", s.streamOrders))
	handle("GET /api/namespaces", s.across("list", s.listNamespaces))
	handle("GET /api/orders/{id}", s.authorized("get", s.getOrder))
	handle("PATCH /api/orders/{id}", s.authorized("patch", s.amendOrder))
	handle("POST /api/orders/{id}/cancel", s.authorized("patch", s.cancelOrder))
	handle("POST /api/orders/{id}/refunds", s.authorized("patch", s.refundOrder))
	handle("GET /api/products", s.authorized("", s.listProducts))
	handle("POST /api/fulfillment/events", s.logged(http.HandlerFunc(s.carrierEvent)))
	handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	}))
	page := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
		_, _ = w.Write(indexHTML)
	}
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /orders/{id}", page) // an order's own page: the same page, showing one order
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.Ready != nil {
			if err := s.Ready(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return s.logged(mux)
}

// authorized runs h once the caller may perform verb on Orders in the
// request's namespace (requestNamespace; an empty verb only
// authenticates), handing it the client the caller's writes go through
// and the namespace in the request (namespaceOf); otherwise it answers
// the error.
func (s *Server) authorized(verb string, h func(http.ResponseWriter, *http.Request, client.Client)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if aerr := tokenInURL(r); aerr != nil {
			writeError(w, aerr)
			return
		}
		ns, _, aerr := s.requestNamespace(r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		c, aerr := s.Auth.Allow(r, verb, ns)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		h(w, withNamespace(r, ns), c)
	})
}

// across runs h with the namespaces the caller may perform verb on Orders
// in (allowedNamespaces): the one the request names, or every served one
// the caller's RBAC allows.
func (s *Server) across(verb string, h func(http.ResponseWriter, *http.Request, []string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if aerr := tokenInURL(r); aerr != nil {
			writeError(w, aerr)
			return
		}
		allowed, aerr := s.allowedNamespaces(r, verb)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		h(w, r, allowed)
	})
}

// tokenInURL refuses a token in the query string.
func tokenInURL(r *http.Request) *apiError {
	for _, name := range []string{"access_token", "token", "bearer"} {
		if r.URL.Query().Has(name) {
			return badRequest("TokenInURL", name, "tokens travel in the Authorization header only, never in the URL (where logs and browser history keep them)")
		}
	}
	return nil
}

// statusWriter remembers the status code for the log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logged logs each request at V(1) (never its headers: they may carry a
// token).
func (s *Server) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.Log.V(1).Info("Request", "method", r.Method, "route", r.Pattern, "path", r.URL.Path, "code", sw.code,
			"duration", time.Since(start).Round(time.Microsecond).String(), "remote", r.RemoteAddr)
	})
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request, c client.Client) {
	spec, aerr := decodeCreate(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	o := &v1alpha1.Order{Spec: spec}
	o.Namespace, o.GenerateName = s.namespaceOf(r), "order-"
	if err := c.Create(r.Context(), o); err != nil {
		s.kubeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewOf(o, s.UI))
}

// getOrder serves GET /api/orders/{id}: the order, each completed step with
// its time, and, when the database can be read, its payments and
// notifications.
func (s *Server) getOrder(w http.ResponseWriter, r *http.Request, _ client.Client) {
	o, ok := s.order(w, r)
	if !ok {
		return
	}
	v := detailView{orderView: viewOf(o, s.UI), Steps: stepsOf(o)}
	if s.Records != nil {
		rec, err := s.Records(r.Context(), recordKey(o))
		if err != nil {
			s.Log.Error(err, "Reading an order's records failed", "order", o.Name)
		} else {
			v.Payments, v.Notifications = rec.Payments, rec.Notifications
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// order reads the Order named by the path's id from the cache; when there
// is none it answers the error itself.
func (s *Server) order(w http.ResponseWriter, r *http.Request) (*v1alpha1.Order, bool) {
	o := &v1alpha1.Order{}
	if err := s.Orders.Get(r.Context(), types.NamespacedName{Namespace: s.namespaceOf(r), Name: r.PathValue("id")}, o); err != nil {
		s.kubeError(w, err)
		return nil, false
	}
	return o, true
}

func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request, c client.Client) {
	o, ok := s.order(w, r)
	if !ok {
		return
	}
	if o.Status.Phase.Terminal() {
		writeError(w, &apiError{Status: http.StatusConflict, Code: "OrderFinished",
			Message: "order " + o.Name + " is already " + string(o.Status.Phase) + " and cannot be cancelled"})
		return
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`))
	if err := c.Patch(r.Context(), o, patch); err != nil {
		s.kubeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, viewOf(o, s.UI))
}

func (s *Server) listProducts(w http.ResponseWriter, r *http.Request, _ client.Client) {
	products, err := s.Products(r.Context())
	if err != nil {
		s.Log.Error(err, "Listing products failed")
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "CatalogUnavailable", Message: "the catalog cannot be read right now"})
		return
	}
	views := make([]productView, 0, len(products))
	for _, p := range products {
		views = append(views, productView{ProductID: p.ID, Name: p.Name, Price: p.Price.String(), Currency: p.Currency, Stock: p.Stock})
	}
	writeJSON(w, http.StatusOK, map[string]any{"products": views})
}

type productView struct {
	ProductID string `json:"productID"`
	Name      string `json:"name"`
	Price     string `json:"price"`
	Currency  string `json:"currency"`
	Stock     int64  `json:"stock"`
}

// apiError is the JSON error every failure answers with.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func badRequest(code, field, message string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Field: field, Message: message}
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// fromKube turns an API server error into an API error: validation errors
// (OpenAPI and CEL) keep their field, as a 422.
func fromKube(err error) *apiError {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsNotFound(err):
		return &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "no such order"}
	case apierrors.IsInvalid(err):
		e := &apiError{Status: http.StatusUnprocessableEntity, Code: "Invalid", Message: err.Error()}
		if errors.As(err, &status) && status.Status().Details != nil && len(status.Status().Details.Causes) > 0 {
			cause := status.Status().Details.Causes[0]
			e.Field, e.Message = trimSpec(cause.Field), cause.Message
		}
		return e
	case apierrors.IsForbidden(err):
		return &apiError{Status: http.StatusForbidden, Code: "Forbidden", Message: "not allowed: " + err.Error()}
	case apierrors.IsUnauthorized(err):
		return &apiError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "the credentials were refused"}
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return &apiError{Status: http.StatusConflict, Code: "Conflict", Message: err.Error()}
	case apierrors.IsTooManyRequests(err):
		return &apiError{Status: http.StatusTooManyRequests, Code: "TooManyRequests", Message: "try again later"}
	}
	return &apiError{Status: http.StatusBadGateway, Code: "KubernetesUnavailable", Message: "the Kubernetes API could not be reached"}
}

// trimSpec names a field as the REST body does: spec.items[0].quantity is
// items[0].quantity.
func trimSpec(field string) string {
	if len(field) > 5 && field[:5] == "spec." {
		return field[5:]
	}
	return field
}

// kubeError answers an error of the Kubernetes API, logging the ones that
// are not the caller's doing (the caller sees only that the API could not
// be reached).
func (s *Server) kubeError(w http.ResponseWriter, err error) {
	e := fromKube(err)
	if e.Status >= 500 {
		s.Log.Error(err, "Kubernetes API call failed")
	}
	writeError(w, e)
}
