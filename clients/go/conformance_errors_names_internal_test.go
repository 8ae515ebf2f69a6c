package matgto

// Conformance, client-side rules: errors.json (gRPC codes to Go errors),
// names.json (CassetteName) and proxy_addresses.json (the proxy URL).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestConformanceErrors(t *testing.T) {
	var suite struct {
		Cases []struct {
			Code  string `json:"code"`
			About string `json:"about"`
			Kind  string `json:"kind"`
		} `json:"cases"`
		Message string                                `json:"message"`
		Kinds   map[string]map[string]json.RawMessage `json:"kinds"`
	}
	loadConformance(t, "errors.json", &suite)
	sentinels := map[string]error{
		"ErrCassetteNotFound": ErrCassetteNotFound, "ErrSessionNotFound": ErrSessionNotFound,
		"ErrFaultNotFound": ErrFaultNotFound, "ErrInvalidArgument": ErrInvalidArgument,
		"ErrFailedPrecondition": ErrFailedPrecondition, "ErrCorruptCassette": ErrCorruptCassette,
		"ErrTooManySessions": ErrTooManySessions, "ErrUnauthenticated": ErrUnauthenticated,
		"ErrPermissionDenied": ErrPermissionDenied, "ErrUnavailable": ErrUnavailable,
		"ErrUnimplemented": ErrUnimplemented, "context.DeadlineExceeded": context.DeadlineExceeded,
	}
	seen := map[codes.Code]bool{}
	for _, c := range suite.Cases {
		var code codes.Code
		if err := code.UnmarshalJSON([]byte(`"` + c.Code + `"`)); err != nil {
			t.Fatalf("%s: %v", c.Code, err)
		}
		seen[code] = true
		t.Run(c.Code+"-"+c.About, func(t *testing.T) {
			raw, ok := suite.Kinds[confLang][c.Kind]
			if !ok {
				t.Fatalf("errors.json kinds.go does not name the error of kind %s", c.Kind)
			}
			var name string
			if json.Unmarshal(raw, &name) != nil {
				var skip struct{ Skip string }
				_ = json.Unmarshal(raw, &skip)
				t.Skipf("conformance: %s: %s", c.Kind, skip.Skip)
			}
			err := toError("Replay", status.Error(code, suite.Message))
			var e *Error
			if !errors.As(err, &e) || e.Code != code || !strings.Contains(err.Error(), suite.Message) {
				t.Fatalf("got %#v", err)
			}
			if name == "*Error" {
				for n, s := range sentinels {
					if errors.Is(err, s) {
						t.Errorf("%s matches %s", c.Code, n)
					}
				}
				return
			}
			sentinel, ok := sentinels[name]
			if !ok {
				t.Fatalf("no Go error named %s", name)
			}
			if !errors.Is(err, sentinel) {
				t.Errorf("errors.Is(%v, %s) is false", err, name)
			}
		})
	}
	for c := codes.Code(1); c <= codes.Unauthenticated; c++ {
		if !seen[c] {
			t.Errorf("errors.json has no case for %s", codeName(c))
		}
	}
}

func TestConformanceNames(t *testing.T) {
	var suite struct {
		Segment      string            `json:"segment"`
		MaxBytes     int               `json:"max_bytes"`
		DistinctSkip map[string]string `json:"distinct_skip"`
		Valid        []string          `json:"valid"`
		Invalid      []struct {
			Name string            `json:"name"`
			Skip map[string]string `json:"skip"`
		} `json:"invalid"`
	}
	loadConformance(t, "names.json", &suite)
	seg := regexp.MustCompile(suite.Segment)
	accepted := func(name string) bool {
		if len(name) > suite.MaxBytes {
			return false
		}
		for _, s := range strings.Split(name, "/") {
			if !seg.MatchString(s) || strings.Trim(s, ".") == "" {
				return false
			}
		}
		return true
	}
	for _, name := range suite.Valid {
		if !accepted(name) {
			t.Errorf("names.json: %q is listed valid but the grammar refuses it", name)
		}
		if got := CassetteName(name); got != name {
			t.Errorf("CassetteName(%q) = %q, want it unchanged", name, got)
		}
	}
	outs := map[string]string{}
	for _, c := range suite.Invalid {
		t.Run(fmt.Sprintf("%.40s", c.Name), func(t *testing.T) {
			skipFor(t, c.Skip)
			if accepted(c.Name) {
				t.Fatalf("names.json: %q is listed invalid but the grammar accepts it", c.Name)
			}
			got := CassetteName(c.Name)
			if !accepted(got) || got == c.Name {
				t.Errorf("CassetteName(%q) = %q: not a name the server accepts", c.Name, got)
			}
			if other, dup := outs[got]; dup && suite.DistinctSkip[confLang] == "" {
				t.Errorf("CassetteName(%q) = CassetteName(%q) = %q", c.Name, other, got)
			}
			outs[got] = c.Name
		})
	}
}

func TestConformanceProxyAddresses(t *testing.T) {
	var suite struct {
		Cases []struct {
			Proxy   string            `json:"proxy"`
			Control string            `json:"control"`
			URL     string            `json:"url"`
			Skip    map[string]string `json:"skip"`
		} `json:"cases"`
	}
	loadConformance(t, "proxy_addresses.json", &suite)
	for _, c := range suite.Cases {
		t.Run(c.Proxy+" via "+c.Control, func(t *testing.T) {
			skipFor(t, c.Skip)
			// What Session.ProxyURL and Client.ProxyURL hand to HTTP clients.
			u, err := (&Client{addr: c.Control}).proxyURLFor(c.Proxy)
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != c.URL {
				t.Errorf("got %s, want %s", u, c.URL)
			}
		})
	}
}
