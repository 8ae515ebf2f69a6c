package matgto_test

// Helpers shared by the fault and latency tests against the real server
// (faults_actions_test.go, faults_selectors_test.go, latency_test.go).

import (
	"context"
	"io"
	"net/http"
	"testing"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

// record records one GET of each path from up into cassette name, through a
// session of the helper, and returns the bodies.
func record(t *testing.T, c *matgto.Client, name string, up *upstream, paths ...string) map[string][]byte {
	t.Helper()
	bodies := map[string][]byte{}
	t.Run("record "+name, func(t *testing.T) {
		s := matgto.UseCassette(t, name, matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
		for _, p := range paths {
			bodies[p] = do(t, s.HTTPClient(), "GET", up.URL+p, nil).Body
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	return bodies
}

// get sends GET url through hc and returns the response with its body read,
// or the error of the request or of reading the body.
func get(ctx context.Context, hc *http.Client, url string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
