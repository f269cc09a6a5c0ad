package temporal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTheAPIKeyIsReadFromItsFileEachTimeAndNeverShown(t *testing.T) {
	file := filepath.Join(t.TempDir(), "apiKey")
	cfg := Config{APIKeyFile: file}
	if _, err := cfg.apiKey(); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("a missing key file: %v; want an error naming the file", err)
	}
	for _, key := range []string{"first-key", "rotated-key"} {
		if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := cfg.apiKey(); err != nil || got != key {
			t.Fatalf("read %q, %v; want %q (the file as it is now)", got, err, key)
		}
	}
	if err := os.WriteFile(file, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.apiKey(); err == nil || strings.Contains(err.Error(), "rotated-key") {
		t.Fatalf("an empty key file: %v", err)
	}
	t.Setenv("TEMPORAL_API_KEY", " from-env ")
	if got, _ := (Config{}).apiKey(); got != "from-env" {
		t.Fatalf("without a file the key is %q; want TEMPORAL_API_KEY's", got)
	}
}
