package matgto_test

// Fault actions against the real server (issue 16): injected status, delay,
// reset, hang and bandwidth. Timings are asserted with wide tolerances: they
// test the mechanism on a shared machine, not its precision.

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

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
