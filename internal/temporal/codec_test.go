package temporal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

func testKey(id string, b byte) string {
	return id + "=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

func payloadOf(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTheCodecEncryptsAndRotatesKeys(t *testing.T) {
	old, err := ParseCodecKeys(testKey("k1", 1))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := NewCodec(old)
	if err != nil {
		t.Fatal(err)
	}
	secret := payloadOf(t, map[string]string{"email": "jane@example.com", "total": "1399.79"})
	enc, err := c1.Encode([]*commonpb.Payload{secret})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc[0].Data, []byte("jane@example.com")) || bytes.Contains(enc[0].Data, []byte("1399.79")) {
		t.Fatal("the encrypted payload holds the data in clear")
	}
	if string(enc[0].Metadata[MetadataKeyID]) != "k1" || string(enc[0].Metadata[converter.MetadataEncoding]) != EncodingEncrypted {
		t.Fatalf("metadata %v", enc[0].Metadata)
	}

	// A new key goes first: it encrypts, the old one still decrypts.
	both, err := ParseCodecKeys(testKey("k2", 2) + "\n" + testKey("k1", 1))
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := NewCodec(both)
	dec, err := c2.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec[0].Data, secret.Data) {
		t.Fatalf("decoded %q; want %q", dec[0].Data, secret.Data)
	}
	enc2, _ := c2.Encode([]*commonpb.Payload{secret})
	if string(enc2[0].Metadata[MetadataKeyID]) != "k2" {
		t.Fatalf("new payloads use key %q; want k2", enc2[0].Metadata[MetadataKeyID])
	}

	// The old codec does not hold k2: the error names the key id.
	if _, err := c1.Decode(enc2); err == nil || !strings.Contains(err.Error(), `key id "k2"`) {
		t.Fatalf("unknown key: %v", err)
	}
	// A tampered payload does not decrypt.
	enc[0].Data[len(enc[0].Data)-1] ^= 1
	if _, err := c2.Decode(enc); err == nil {
		t.Fatal("a tampered payload decrypted")
	}
	// Payloads written before encryption pass through.
	plain, err := c2.Decode([]*commonpb.Payload{secret})
	if err != nil || !bytes.Equal(plain[0].Data, secret.Data) {
		t.Fatalf("plain payload: %v", err)
	}
}

func TestBadCodecKeysAreNamed(t *testing.T) {
	short := "k=" + base64.StdEncoding.EncodeToString(make([]byte, 16))
	for text, want := range map[string]string{
		short:                                   "16 bytes; AES-256 needs 32",
		"k=not base64!":                         "not base64",
		"justakey":                              "want id=base64-key",
		testKey("k", 1) + "," + testKey("k", 2): `"k": given twice`,
		testKey("bad id", 1):                    "want id=base64-key",
	} {
		_, err := ParseCodecKeys(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", text, err, want)
		}
		if err != nil && strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
	keys, err := ParseCodecKeys("# rotated 2026-11\n" + testKey("a", 1) + "\n\n" + testKey("b", 2) + "\n")
	if err != nil || len(keys) != 2 || keys[0].ID != "a" {
		t.Fatalf("%v %v", keys, err)
	}
}

func TestTheCodecServerDecodesForAllowedCallersAndOrigins(t *testing.T) {
	keys, _ := ParseCodecKeys(testKey("k1", 1))
	codec, _ := NewCodec(keys)
	srv := &CodecServer{Codec: codec, Origins: []string{"http://localhost:8233"},
		Authorize: func(r *http.Request) (int, string) {
			if r.Header.Get("Authorization") != "Bearer good" {
				return http.StatusUnauthorized, "a bearer token is required"
			}
			return 0, ""
		}}
	mux := http.NewServeMux()
	mux.Handle(CodecServerPath+"/", srv.Handler())
	ts := httptest.NewServer(mux)
	defer ts.Close()

	enc, _ := codec.Encode([]*commonpb.Payload{payloadOf(t, "jane@example.com")})
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	post := func(auth, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+CodecServerPath+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post("", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %s", resp.Status)
	}
	if resp := post("Bearer good", "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("other origin: %s", resp.Status)
	}
	resp := post("Bearer good", "http://localhost:8233")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Fatalf("allowed: %s %v", resp.Status, resp.Header)
	}
	var out struct {
		Payloads []struct {
			Data []byte `json:"data"`
		} `json:"payloads"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Payloads) != 1 || !strings.Contains(string(out.Payloads[0].Data), "jane@example.com") {
		t.Fatalf("decoded: %+v %v", out, err)
	}

	// The UI's preflight.
	req, _ := http.NewRequest(http.MethodOptions, ts.URL+CodecServerPath+"/decode", nil)
	req.Header.Set("Origin", "http://localhost:8233")
	req.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if pre.StatusCode != http.StatusNoContent || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "X-Namespace") {
		t.Fatalf("preflight: %s %v", pre.Status, pre.Header)
	}
}
