package temporal

import (
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// CodecServerPath is where the codec server's /encode and /decode live; the
// Temporal UI's codec endpoint is the worker's address plus this path.
const CodecServerPath = "/codec"

// CodecServer serves Temporal's codec-server protocol (POST …/encode and
// …/decode of JSON payload lists, the SDK's handler) so that the Temporal
// UI and CLI show decrypted payloads to people allowed to see them.
type CodecServer struct {
	Codec *Codec
	// Origins may call from a browser (the Temporal UI's origins); CORS
	// preflights from any other origin are refused.
	Origins []string
	// Authorize answers whether a request may use the codec: 0 to let it,
	// else the HTTP status and message to refuse it with. nil lets anyone.
	Authorize func(r *http.Request) (status int, message string)
}

// Handler returns the codec server's handler, to be mounted at
// CodecServerPath.
func (s *CodecServer) Handler() http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(s.Codec)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			if !slices.Contains(s.Origins, origin) {
				http.Error(w, "origin "+origin+" may not use this codec server", http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if r.Method != http.MethodPost || !(strings.HasSuffix(r.URL.Path, "/encode") || strings.HasSuffix(r.URL.Path, "/decode")) {
			http.NotFound(w, r)
			return
		}
		if s.Authorize != nil {
			if status, msg := s.Authorize(r); status != 0 {
				http.Error(w, msg, status)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
		codec.ServeHTTP(w, r)
	})
}
