package temporal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	sdktemporal "go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Payload metadata of an encrypted payload: the encoding, and the id of
// the key that encrypted it.
const (
	EncodingEncrypted = "binary/encrypted"
	MetadataKeyID     = "encryption-key-id"
	metadataCipher    = "encryption-cipher"
	cipherName        = "AES256-GCM"
)

// CodecKey is one AES-256 key and the id payloads name it by.
type CodecKey struct {
	ID  string
	Key []byte
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ParseCodecKeys reads keys written one per line (or separated by commas)
// as id=base64-of-32-bytes. The first key encrypts; the others only
// decrypt, so a new key goes first and the old ones stay until no history
// holds payloads they encrypted. Errors name the key id, never the key.
func ParseCodecKeys(text string) ([]CodecKey, error) {
	var keys []CodecKey
	seen := map[string]bool{}
	for i, field := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' }) {
		field = strings.TrimSpace(field)
		if field == "" || strings.HasPrefix(field, "#") {
			continue
		}
		id, b64, ok := strings.Cut(field, "=")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("codec key %d: want id=base64-key with an id of letters, digits, '.', '_' or '-'", i+1)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("codec key %q: not base64", id)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("codec key %q: %d bytes; AES-256 needs 32 (openssl rand -base64 32)", id, len(key))
		}
		if seen[id] {
			return nil, fmt.Errorf("codec key %q: given twice", id)
		}
		seen[id] = true
		keys = append(keys, CodecKey{ID: id, Key: key})
	}
	return keys, nil
}

// LoadCodecKeys reads the keys from file when one is named, else from the
// environment variable CODEC_KEYS. No keys means no encryption.
func LoadCodecKeys(file string) ([]CodecKey, error) {
	text := os.Getenv("CODEC_KEYS")
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("codec keys: %w", err)
		}
		text = string(b)
	}
	keys, err := ParseCodecKeys(text)
	if err != nil {
		return nil, fmt.Errorf("codec keys: %w", err)
	}
	return keys, nil
}

// Codec encrypts payloads with AES-256-GCM. Encrypted payloads carry the
// key id in their metadata; payloads that are not encrypted (histories
// written before encryption was turned on) pass through as they are.
type Codec struct {
	encrypt CodecKey
	aeads   map[string]cipher.AEAD
}

// NewCodec returns the codec of keys; the first encrypts.
func NewCodec(keys []CodecKey) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys")
	}
	c := &Codec{encrypt: keys[0], aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("codec key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
	}
	return c, nil
}

// Encode encrypts each payload whole (metadata and data) with the first key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.encrypt.ID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.encrypt.ID),
				metadataCipher:             []byte(cipherName),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.encrypt.ID)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads and passes the others through. A
// payload encrypted with a key this codec does not hold is an error naming
// the key id.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return nil, fmt.Errorf("codec: a payload is encrypted with key id %q, which is not among the configured keys (%s)", id, strings.Join(c.ids(), ", "))
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, fmt.Errorf("codec: a payload encrypted with key %q is truncated", id)
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("codec: a payload encrypted with key %q does not decrypt: %w", id, err)
		}
		var decoded commonpb.Payload
		if err := proto.Unmarshal(plain, &decoded); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		out[i] = &decoded
	}
	return out, nil
}

func (c *Codec) ids() []string {
	ids := make([]string, 0, len(c.aeads))
	for id := range c.aeads {
		ids = append(ids, id)
	}
	return ids
}

// DataConverter is the data converter of every OrderFlow client: the
// default one, below the codec when there are keys. Workflow code never
// sees the codec, so recorded histories replay either way.
func DataConverter(keys []CodecKey) (converter.DataConverter, error) {
	if len(keys) == 0 {
		return converter.GetDefaultDataConverter(), nil
	}
	codec, err := NewCodec(keys)
	if err != nil {
		return nil, err
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec), nil
}

// FailureConverter keeps failure messages and stack traces out of the
// history in clear when there are keys: they can name amounts and products.
func FailureConverter(dc converter.DataConverter, keys []CodecKey) converter.FailureConverter {
	return sdktemporal.NewDefaultFailureConverter(sdktemporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: len(keys) > 0,
	})
}
