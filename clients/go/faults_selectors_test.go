package matgto_test

// Fault selectors against the real server: seeded probability, every n-th
// request on the default session, and the rules the server refuses.

import (
	"context"
	"errors"
	"testing"
	"time"

	matgto "github.com/matgto/matgto-serge/clients/go"
)

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
