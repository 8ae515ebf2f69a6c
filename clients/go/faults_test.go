package matgto_test

// Faults and replay latency against the real server (issue 16). Timings are
// asserted with wide tolerances: they test the mechanism on a shared
// machine, not its precision.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

func TestFaultFirstNThenRetryReachesTheRecordedAnswer(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	recorded := record(t, c, "orders", up, "/orders/1")
	up.Close() // replay from here on

	s := matgto.UseCassette(t, "orders", matgto.WithClient(c), matgto.WithMode(matgto.ModeReplay))
	ctx := ctxFor(t)
	f, err := s.AddFault(ctx, matgto.Respond(503, matgto.Header("Retry-After", "1"), matgto.Body("busy")),
		matgto.FirstN(2), matgto.URL("/orders/.*"))
	if err != nil {
		t.Fatalf("AddFault: %v", err)
	}
	if f.ID == "" || f.Action.Status != 503 || f.Selector != (matgto.Selector{Kind: matgto.SelectFirstN, N: 2}) || f.URLPattern != "/orders/.*" {
		t.Errorf("AddFault returned %+v", f)
	}

	// A client that retries 503s, honouring Retry-After (scaled down).
	hc := s.HTTPClient()
	var got []int
	var body []byte
	for attempt := 0; attempt < 5; attempt++ {
		resp, b, err := get(ctx, hc, up.URL+"/orders/1")
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt+1, err)
		}
		got = append(got, resp.StatusCode)
		if resp.StatusCode != http.StatusServiceUnavailable {
			body = b
			break
		}
		if ra := resp.Header.Get("Retry-After"); ra != "1" || string(b) != "busy" {
			t.Errorf("injected 503: Retry-After %q body %q, want 1 and busy", ra, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 3 || got[0] != 503 || got[1] != 503 || got[2] != 200 {
		t.Fatalf("statuses %v, want 503, 503, then 200", got)
	}
	if !bytes.Equal(body, recorded["/orders/1"]) {
		t.Errorf("after the faults: %q, want the recorded %q", body, recorded["/orders/1"])
	}

	si, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(si.Faults) != 1 || si.Faults[0].ID != f.ID || si.Faults[0].Applied != 2 {
		t.Errorf("status faults %v, want %s applied twice", si.Faults, f.ID)
	}
	if si.Missed != 0 {
		t.Errorf("missed %d", si.Missed)
	}
	// The contract does not say whether an injected answer counts as
	// replayed (this server counts it).
	t.Logf("counters after 2 injected answers and 1 replayed: replayed %d, missed %d", si.Replayed, si.Missed)
}

// An injected answer is given "instead of the recorded response": it must
// not use up the recorded interaction, nor count as a replay miss. With
// ExhaustedError, a used-up interaction would make the retry a 599.
func TestInjectedAnswerDoesNotUseUpTheRecording(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	recorded := record(t, c, "orders", up, "/orders/1")
	up.Close()

	ctx := ctxFor(t)
	s, err := c.OpenSession(ctx, "orders", matgto.WithMode(matgto.ModeReplay), matgto.WithOnExhausted(matgto.ExhaustedError),
		matgto.WithFaults(matgto.NewFault(matgto.Respond(503), matgto.FirstN(2))))
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for i := 0; i < 3; i++ {
		r := do(t, s.HTTPClient(), "GET", up.URL+"/orders/1", nil)
		got = append(got, r.Status)
		if i == 2 && !bytes.Equal(r.Body, recorded["/orders/1"]) {
			t.Errorf("third answer %d %q, want the recorded one", r.Status, r.Body)
		}
	}
	if !equalInts(got, []int{503, 503, 200}) {
		t.Errorf("statuses %v, want 503, 503, 200 (the injected answers used up the one recorded interaction?)", got)
	}
	sum, err := s.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f := sum.Session.FailedMisses(); len(f) != 0 {
		t.Errorf("requests answered by a fault or after it are reported as replay misses:\n%v", f)
	}
}

func TestFaultStatusIsNotRecorded(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	t.Run("record", func(t *testing.T) {
		s := matgto.UseCassette(t, "injected", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord),
			matgto.WithFaults(matgto.NewFault(matgto.Respond(500, matgto.Body("injected")), matgto.FirstN(1))))
		if r := do(t, s.HTTPClient(), "GET", up.URL+"/x", nil); r.Status != 500 || string(r.Body) != "injected" {
			t.Errorf("first request: %d %q, want the injected 500", r.Status, r.Body)
		}
		if r := do(t, s.HTTPClient(), "GET", up.URL+"/x", nil); r.Status != 200 {
			t.Errorf("second request: %d, want the upstream's 200", r.Status)
		}
	})
	if n := up.calls.Load(); n != 1 {
		t.Errorf("the upstream saw %d requests, want 1 (the injected answer forwards nothing)", n)
	}
	cas, err := c.GetCassette(ctxFor(t), "injected")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cas.GetInteractions()); n != 1 {
		t.Fatalf("%d interactions recorded, want 1 (the injected answer is not recorded)", n)
	}
	if st := cas.GetInteractions()[0].GetHttp().GetResponse().GetStatus(); st != 200 {
		t.Errorf("recorded status %d, want the upstream's 200", st)
	}
}

func TestFaultDelayIsMarkedInTheRecording(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	var id string
	t.Run("record", func(t *testing.T) {
		s := matgto.UseCassette(t, "delayed", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
		f, err := s.AddFault(ctxFor(t), matgto.Delay(300*time.Millisecond), matgto.Method("GET"))
		if err != nil {
			t.Fatalf("AddFault: %v", err)
		}
		id = f.ID
		start := time.Now()
		do(t, s.HTTPClient(), "GET", up.URL+"/slow", nil)
		if el := time.Since(start); el < 250*time.Millisecond || el > 10*time.Second {
			t.Errorf("a request under Delay(300ms) took %v", el)
		}
		start = time.Now()
		do(t, s.HTTPClient(), "POST", up.URL+"/fast", []byte("x")) // not GET: not delayed
		if el := time.Since(start); el > 250*time.Millisecond {
			t.Errorf("a POST took %v under a GET-only delay", el)
		}
	})
	cas, err := c.GetCassette(ctxFor(t), "delayed")
	if err != nil {
		t.Fatal(err)
	}
	in := cas.GetInteractions()
	if len(in) != 2 {
		t.Fatalf("%d interactions, want 2", len(in))
	}
	if !strings.Contains(in[0].GetFault(), id) || !strings.Contains(in[0].GetFault(), "delay") {
		t.Errorf("delayed interaction's fault = %q, want it to name %s and delay", in[0].GetFault(), id)
	}
	if in[1].GetFault() != "" {
		t.Errorf("undelayed interaction's fault = %q, want none", in[1].GetFault())
	}
}

func TestFaultResetIsAConnectionError(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	s := matgto.UseCassette(t, "", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
	ctx := ctxFor(t)
	for _, when := range []matgto.ResetPoint{matgto.ResetDefault, matgto.BeforeHeaders, matgto.AfterHeaders, matgto.MidBody} {
		// Every request: net/http may retry a GET on a fresh connection.
		f, err := s.AddFault(ctx, matgto.Reset(when))
		if err != nil {
			t.Fatalf("AddFault(Reset(%v)): %v", when, err)
		}
		hc := &http.Client{Transport: s.HTTPTransport(), Timeout: 10 * time.Second}
		start := time.Now()
		resp, body, err := get(ctx, hc, up.URL+"/reset")
		if err == nil {
			t.Errorf("Reset(%v): %d %q, want a connection error", when, resp.StatusCode, body)
		} else {
			t.Logf("Reset(%v): %v", when, err)
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("Reset(%v) took %v: a timeout, not a reset", when, el)
			}
			if when == matgto.AfterHeaders || when == matgto.MidBody {
				if resp == nil {
					t.Logf("Reset(%v): no response at all (the headers were expected first)", when)
				} else if resp.StatusCode != 200 {
					t.Errorf("Reset(%v): status %d before the reset, want the upstream's 200", when, resp.StatusCode)
				}
			}
		}
		if _, err := s.ClearFaults(ctx, f.ID); err != nil {
			t.Fatalf("ClearFaults(%s): %v", f.ID, err)
		}
		if r := do(t, s.HTTPClient(), "GET", up.URL+"/after", nil); r.Status != 200 {
			t.Errorf("after ClearFaults: %d", r.Status)
		}
	}
}

func TestFaultHangIsAClientTimeout(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	ctx := ctxFor(t)
	hung := matgto.UseCassette(t, "hung", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
	other := matgto.UseCassette(t, "other", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
	if _, err := hung.AddFault(ctx, matgto.Hang()); err != nil {
		t.Fatalf("AddFault(Hang): %v", err)
	}

	hc := &http.Client{Transport: hung.HTTPTransport(), Timeout: 700 * time.Millisecond}
	start := time.Now()
	_, _, err := get(ctx, hc, up.URL+"/hang")
	el := time.Since(start)
	var ne interface{ Timeout() bool }
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("under Hang: err %v, want a client timeout", err)
	}
	if el < 600*time.Millisecond {
		t.Errorf("under Hang the request ended after %v, before the client's 700ms timeout", el)
	}
	// Another session on the same server is not affected.
	start = time.Now()
	if r := do(t, other.HTTPClient(), "GET", up.URL+"/other", nil); r.Status != 200 || time.Since(start) > 2*time.Second {
		t.Errorf("another session: %d after %v", r.Status, time.Since(start))
	}
	si, err := hung.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(si.Faults) != 1 || si.Faults[0].Action.Kind != matgto.FaultHang || si.Faults[0].Applied != 1 {
		t.Errorf("status faults %v, want the hang applied once", si.Faults)
	}
	left, err := hung.ClearFaults(ctx)
	if err != nil || len(left) != 0 {
		t.Fatalf("ClearFaults() = %v, %v", left, err)
	}
	if r := do(t, hung.HTTPClient(), "GET", up.URL+"/after", nil); r.Status != 200 {
		t.Errorf("after ClearFaults: %d", r.Status)
	}
	if si, err := hung.Status(ctx); err != nil || len(si.Faults) != 0 {
		t.Errorf("status after ClearFaults: %v, %v", si.Faults, err)
	}
}

// Probabilistic faults follow the session's seed: the same seed gives the
// same sequence, and status reports the seed and the hits.
func TestFaultProbabilityIsSeeded(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	ctx := ctxFor(t)
	const n = 24
	run := func(name string) []bool {
		s, err := c.OpenSession(ctx, name, matgto.WithMode(matgto.ModeRecord))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop(context.Background())
		if _, err := s.AddFault(ctx, matgto.Respond(500), matgto.Probability(0.5), matgto.Seed(7)); err != nil {
			t.Fatalf("AddFault: %v", err)
		}
		var hits []bool
		count := uint64(0)
		for i := 0; i < n; i++ {
			r := do(t, s.HTTPClient(), "GET", up.URL+"/p", nil)
			hits = append(hits, r.Status == 500)
			if r.Status == 500 {
				count++
			}
		}
		si, err := s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if si.FaultSeed != 7 {
			t.Errorf("%s: FaultSeed %d, want 7", name, si.FaultSeed)
		}
		if len(si.Faults) != 1 || si.Faults[0].Applied != count || si.Faults[0].Selector.Probability != 0.5 {
			t.Errorf("%s: status faults %v, want one applied %d times (the 500s seen)", name, si.Faults, count)
		}
		return hits
	}
	a, b := run("seeded/a"), run("seeded/b")
	if !slicesEqual(a, b) {
		t.Errorf("same seed, different sequences:\n%v\n%v", a, b)
	}
	hits := 0
	for _, h := range a {
		if h {
			hits++
		}
	}
	if hits == 0 || hits == n {
		t.Errorf("%d of %d requests hit with probability 0.5", hits, n)
	}
}

func slicesEqual(a, b []bool) bool {
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

func TestFaultEveryNthAndDefaultSession(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	ctx := ctxFor(t)
	if _, err := c.StartRecording(ctx, "default/faults"); err != nil {
		t.Fatal(err)
	}
	defer c.StopRecording(context.Background())
	rules, err := c.AddFaults(ctx, matgto.DefaultSession, 0, matgto.NewFault(matgto.Respond(429), matgto.EveryNth(3)))
	if err != nil {
		t.Fatalf("AddFaults on the default session: %v", err)
	}
	if len(rules.Faults) != 1 || rules.Faults[0].ID == "" || rules.Faults[0].Selector.N != 3 {
		t.Fatalf("AddFaults = %+v, want the one rule with its id", rules)
	}
	hc := proxiedClient(t, c)
	var got []int
	for i := 0; i < 6; i++ {
		got = append(got, do(t, hc, "GET", up.URL+"/n", nil).Status)
	}
	if want := []int{200, 200, 429, 200, 200, 429}; !equalInts(got, want) {
		t.Errorf("statuses %v under EveryNth(3), want %v", got, want)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Session == nil || len(st.Session.Faults) != 1 || st.Session.Faults[0].Applied != 2 {
		t.Errorf("default session faults %v, want one applied twice", st.Session)
	}
	if _, err := c.ClearFaults(ctx, "", rules.Faults[0].ID); err != nil {
		t.Errorf("ClearFaults on the default session: %v", err)
	}
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

func TestFaultBandwidth(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	const size = 300 << 10
	big := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("framing") == "length" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		} // else net/http sends it chunked
		_, _ = w.Write(big)
	}))
	defer up.Close()
	for _, framing := range []string{"length", "chunked"} {
		t.Run(framing, func(t *testing.T) {
			s := matgto.UseCassette(t, "", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
			ctx := ctxFor(t)
			url := up.URL + "/big?framing=" + framing
			hc := &http.Client{Transport: s.HTTPTransport(), Timeout: 15 * time.Second}
			start := time.Now()
			if _, body, err := get(ctx, hc, url); err != nil || len(body) != size {
				t.Fatalf("without a fault: %d bytes, %v", len(body), err)
			}
			unlimited := time.Since(start)
			if _, err := s.AddFault(ctx, matgto.Bandwidth(100<<10)); err != nil {
				t.Fatalf("AddFault(Bandwidth): %v", err)
			}
			start = time.Now()
			resp, body, err := get(ctx, hc, url)
			limited := time.Since(start)
			if err != nil {
				t.Fatalf("at 100 KiB/s: %v after %v, %d of %d bytes", err, limited, len(body), size)
			}
			if !bytes.Equal(body, big) {
				t.Errorf("the limited body differs (%d bytes)", len(body))
			}
			if framing == "length" && resp.ContentLength != size {
				t.Errorf("Content-Length %d", resp.ContentLength)
			}
			// 300 KiB at 100 KiB/s: about 3s (a first burst of up to a
			// second's worth is allowed).
			t.Logf("300 KiB (%s): %v unlimited, %v at 100 KiB/s", framing, unlimited, limited)
			if limited < 1800*time.Millisecond || limited > 12*time.Second {
				t.Errorf("300 KiB at 100 KiB/s took %v, want about 3s", limited)
			}
		})
	}
}

func TestBadFaultsAreInvalidArgument(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	s := matgto.UseCassette(t, "", matgto.WithClient(c), matgto.WithMode(matgto.ModeRecord))
	ctx := ctxFor(t)
	bad := map[string]matgto.Fault{
		"bad RE2 pattern":     matgto.NewFault(matgto.Hang(), matgto.URL("/orders/(")),
		"no action":           matgto.NewFault(matgto.FaultAction{}, matgto.URL("/x")),
		"probability 1.5":     matgto.NewFault(matgto.Hang(), matgto.Probability(1.5)),
		"probability -0.1":    matgto.NewFault(matgto.Hang(), matgto.Probability(-0.1)),
		"status 42":           matgto.NewFault(matgto.Respond(42)),
		"status 1000":         matgto.NewFault(matgto.Respond(1000)),
		"good, then bad rule": matgto.NewFault(matgto.Hang(), matgto.URL("[")),
	}
	for what, f := range bad {
		faults := []matgto.Fault{f}
		if what == "good, then bad rule" {
			faults = []matgto.Fault{matgto.NewFault(matgto.Delay(time.Millisecond)), f}
		}
		_, err := s.AddFaults(ctx, faults...)
		var me *matgto.Error
		if !errors.Is(err, matgto.ErrInvalidArgument) || !errors.As(err, &me) || me.Op != "SetFaults" || me.Message == "" {
			t.Errorf("%s: %v, want ErrInvalidArgument from SetFaults with the server's explanation", what, err)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}
	// Nothing was added by the refused calls.
	si, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(si.Faults) != 0 {
		t.Errorf("refused rules left %v", si.Faults)
	}
	if _, err := s.ClearFaults(ctx, "f999"); !errors.Is(err, matgto.ErrFaultNotFound) {
		t.Errorf("ClearFaults(f999) = %v, want NOT_FOUND", err)
	}
	if _, err := c.AddFaults(ctx, "s-0000000000000000", 0, matgto.NewFault(matgto.Hang())); !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("AddFaults on an unknown session = %v, want NOT_FOUND", err)
	}
	if _, err := c.ClearFaults(ctx, "s-0000000000000000"); !errors.Is(err, matgto.ErrSessionNotFound) {
		t.Errorf("ClearFaults on an unknown session = %v, want NOT_FOUND", err)
	}
}

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
