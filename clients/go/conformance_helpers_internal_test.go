package matgto

// The shared conformance suite (clients/conformance/*.json), run without a
// server: each neutral case becomes the idiomatic Go call, and the request
// message the client would send is compared with the case's proto JSON. A
// case that lists "go" under "skip" is skipped with its reason. See
// clients/conformance/README.md.
//
// This file: loading the suite, skipping cases by language, and the value
// conversions the case files share.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const confLang = "go"

func loadConformance(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "conformance", file))
	if err != nil {
		t.Fatalf("conformance suite: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("conformance suite %s: %v", file, err)
	}
}

func skipFor(t *testing.T, skip map[string]string) {
	t.Helper()
	if reason := skip[confLang]; reason != "" {
		t.Skipf("conformance: %s", reason)
	}
}

func strs(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

func ms(v any) time.Duration { return time.Duration(v.(float64) * float64(time.Millisecond)) }
