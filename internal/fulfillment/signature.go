package fulfillment

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the HMAC signature of a webhook body, both ways:
// on the bookings OrderFlow sends and on the events a fulfillment service
// sends back. Its value is "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">", as Stripe signs its webhooks: the timestamp inside the
// signed text bounds a replay to SignatureTolerance.
const SignatureHeader = "X-OrderFlow-Signature"

// SignatureTolerance is how far a signature's time may be from now.
const SignatureTolerance = 5 * time.Minute

// ErrSignature is wrapped by every refused signature.
var ErrSignature = errors.New("bad signature")

// Sign returns the SignatureHeader value for body signed with secret at t.
func Sign(secret []byte, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a SignatureHeader value against body and secret, and that
// it was made within SignatureTolerance of now. Its errors say what was
// wrong, never the expected signature.
func Verify(secret []byte, header string, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret is configured to verify it", ErrSignature)
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return fmt.Errorf("%w: %s wants t=<unix time>,v1=<hex HMAC-SHA256>", ErrSignature, SignatureHeader)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: t=%q is not a unix time", ErrSignature, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return fmt.Errorf("%w: signed at %s, more than %s from now", ErrSignature, time.Unix(sec, 0).UTC().Format(time.RFC3339), SignatureTolerance)
	}
	want := []byte(mac(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return fmt.Errorf("%w: it does not match the body and the shared secret", ErrSignature)
}
