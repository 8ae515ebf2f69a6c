package matgto_test

// Replay latency against the real server (issue 16): fixed and as-recorded.
// Timings are asserted with wide tolerances: they test the mechanism on a
// shared machine, not its precision.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

// timeGet times one GET through hc.
func timeGet(t *testing.T, hc *http.Client, url string) (time.Duration, response) {
	t.Helper()
	start := time.Now()
	r := do(t, hc, "GET", url, nil)
	return time.Since(start), r
}

func TestFixedLatencySlowsReplay(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	recorded := record(t, c, "latency/fixed", up, "/a", "/b")
	up.Close()
	ctx := ctxFor(t)

	fast, err := c.OpenSession(ctx, "latency/fixed", matgto.WithMode(matgto.ModeReplay))
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop(context.Background())
	slow, err := c.OpenSession(ctx, "latency/fixed", matgto.WithMode(matgto.ModeReplay),
		matgto.WithLatency(matgto.FixedLatency(300*time.Millisecond, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop(context.Background())
	if si, err := slow.Status(ctx); err != nil || si.Latency != matgto.FixedLatency(300*time.Millisecond, 0) {
		t.Errorf("slow session latency %+v (%v), want 300ms fixed", si, err)
	}

	// While the slow session waits, the fast one answers at once.
	var wg sync.WaitGroup
	var slowTook time.Duration
	var slowBody []byte
	var slowErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		_, slowBody, slowErr = get(ctx, slow.HTTPClient(), up.URL+"/a")
		slowTook = time.Since(start)
	}()
	time.Sleep(50 * time.Millisecond)
	fastTook, fastResp := timeGet(t, fast.HTTPClient(), up.URL+"/a")
	wg.Wait()
	if slowErr != nil {
		t.Fatalf("GET through the slow session: %v", slowErr)
	}
	t.Logf("fixed 300ms: %v; fast session meanwhile: %v", slowTook, fastTook)
	if !bytes.Equal(slowBody, recorded["/a"]) || !bytes.Equal(fastResp.Body, recorded["/a"]) {
		t.Errorf("replayed bodies differ from the recording")
	}
	if slowTook < 280*time.Millisecond || slowTook > 5*time.Second {
		t.Errorf("a replay under FixedLatency(300ms) took %v", slowTook)
	}
	if fastTook > 200*time.Millisecond {
		t.Errorf("the other session took %v: it was slowed", fastTook)
	}
	if took, _ := timeGet(t, slow.HTTPClient(), up.URL+"/b"); took < 280*time.Millisecond {
		t.Errorf("second replay under FixedLatency(300ms) took %v", took)
	}
}

func TestAsRecordedLatencyReproducesTheUpstreamsTime(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		_, _ = io.WriteString(w, "slow answer")
	}))
	t.Run("record", func(t *testing.T) {
		s := matgto.UseCassette(t, "latency/recorded", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord),
			matgto.WithLatency(matgto.AsRecorded(1)))
		do(t, s.HTTPClient(), "GET", up.URL+"/slow", nil)
		do(t, s.HTTPClient(), "GET", up.URL+"/slow", nil)
		do(t, s.HTTPClient(), "GET", up.URL+"/slow", nil)
	})
	up.Close()
	cas, err := c.GetCassette(ctxFor(t), "latency/recorded")
	if err != nil {
		t.Fatal(err)
	}
	if l := cas.GetOptions().GetLatency(); l.GetMode().String() != "LATENCY_AS_RECORDED" {
		t.Errorf("stored latency %v, want as-recorded stored with the cassette", l)
	}

	cases := []struct {
		name     string
		opts     []matgto.Option
		min, max time.Duration
	}{
		{"stored as-recorded", nil, 350 * time.Millisecond, 3 * time.Second},
		{"scale 0.5", []matgto.Option{matgto.WithLatency(matgto.AsRecorded(0.5))}, 170 * time.Millisecond, 350 * time.Millisecond},
		{"fast overrides", []matgto.Option{matgto.WithLatency(matgto.Fast())}, 0, 150 * time.Millisecond},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			s := matgto.UseCassette(t, "latency/recorded", append([]matgto.Option{matgto.WithClient(c), matgto.WithMode(matgto.ModeReplay)}, cs.opts...)...)
			took, r := timeGet(t, s.HTTPClient(), up.URL+"/slow")
			t.Logf("%s: %v", cs.name, took)
			if string(r.Body) != "slow answer" {
				t.Errorf("body %q", r.Body)
			}
			if took < cs.min || took > cs.max {
				t.Errorf("%s: replay took %v, want between %v and %v (recorded 400ms)", cs.name, took, cs.min, cs.max)
			}
		})
	}
}
