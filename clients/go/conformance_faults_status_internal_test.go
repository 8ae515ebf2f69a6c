package matgto

// Conformance, server answers: faults.json (Fault built, sent and decoded)
// and status.json (GetStatus and SessionSummary as the client exposes them).

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type confStatusCase struct {
	Name     string            `json:"name"`
	Response json.RawMessage   `json:"response"`
	Expect   map[string]any    `json:"expect"`
	Skip     map[string]string `json:"skip"`
}

type confStatusSuite struct {
	Status  []confStatusCase `json:"status"`
	Summary []confStatusCase `json:"summary"`
}

type confFaultCase struct {
	Name   string            `json:"name"`
	Fault  map[string]any    `json:"fault"`
	Expect json.RawMessage   `json:"expect"`
	Skip   map[string]string `json:"skip"`
}

type confFaultSuite struct {
	Cases []confFaultCase `json:"cases"`
}

var confResetPoints = map[string]ResetPoint{"before_headers": BeforeHeaders, "after_headers": AfterHeaders, "mid_body": MidBody}

// confFault is the neutral fault as the Go call: NewFault(action, options...).
func confFault(t *testing.T, neutral map[string]any) Fault {
	t.Helper()
	var action FaultAction
	var opts []FaultOption
	var statusOpts []StatusOption
	var wsDrop uint32
	var wsDelay time.Duration
	ws := false
	for key, v := range neutral {
		switch key {
		case "status":
			action = Respond(int(v.(float64)))
		case "headers":
			for _, pair := range v.([]any) {
				p := strs(pair)
				statusOpts = append(statusOpts, Header(p[0], p[1]))
			}
		case "body":
			statusOpts = append(statusOpts, Body(v.(string)))
		case "delay_ms":
			action = Delay(ms(v))
		case "hang":
			action = Hang()
		case "reset":
			action = Reset(confResetPoints[v.(string)])
		case "bandwidth":
			action = Bandwidth(uint64(v.(float64)))
		case "ws_drop_after":
			ws, wsDrop = true, uint32(v.(float64))
		case "ws_delay_ms":
			ws, wsDelay = true, ms(v)
		case "method":
			opts = append(opts, Method(v.(string)))
		case "url":
			opts = append(opts, URL(v.(string)))
		case "probability":
			opts = append(opts, Probability(v.(float64)))
		case "every_nth":
			opts = append(opts, EveryNth(uint32(v.(float64))))
		case "first_n":
			opts = append(opts, FirstN(uint32(v.(float64))))
		case "id", "applied": // assigned by the server
		default:
			t.Fatalf("conformance: fault key %q is not mapped to a Go fault call", key)
		}
	}
	if ws {
		action = WebSocketFault(wsDrop, wsDelay)
	}
	if action.Kind == FaultStatus {
		action = Respond(action.Status, statusOpts...)
	}
	return NewFault(action, opts...)
}

func msOf(d time.Duration) float64 { return float64(d / time.Millisecond) }

// confFaultNeutral is what a decoded Fault exposes, in the neutral form
// (defaults left out).
func confFaultNeutral(f Fault) map[string]any {
	out := map[string]any{}
	put := func(key string, v any, zero bool) {
		if !zero {
			out[key] = v
		}
	}
	put("id", f.ID, f.ID == "")
	put("method", f.Method, f.Method == "")
	put("url", f.URLPattern, f.URLPattern == "")
	put("applied", float64(f.Applied), f.Applied == 0)
	switch f.Selector.Kind {
	case SelectProbability:
		out["probability"] = f.Selector.Probability
	case SelectEveryNth:
		out["every_nth"] = float64(f.Selector.N)
	case SelectFirstN:
		out["first_n"] = float64(f.Selector.N)
	}
	a := f.Action
	switch a.Kind {
	case FaultStatus:
		out["status"] = float64(a.Status)
		var headers []any
		for _, name := range sortedKeys(a.Header) {
			for _, v := range a.Header[name] {
				headers = append(headers, []any{name, v})
			}
		}
		put("headers", headers, len(headers) == 0)
		put("body", string(a.Body), len(a.Body) == 0)
	case FaultDelay:
		out["delay_ms"] = msOf(a.Delay)
	case FaultHang:
		out["hang"] = true
	case FaultReset:
		for name, p := range confResetPoints {
			if p == a.Reset {
				out["reset"] = name
			}
		}
	case FaultBandwidth:
		out["bandwidth"] = float64(a.BytesPerSecond)
	case FaultWebSocket:
		put("ws_drop_after", float64(a.DropAfterMessages), a.DropAfterMessages == 0)
		put("ws_delay_ms", msOf(a.MessageDelay), a.MessageDelay == 0)
	}
	return out
}

func TestConformanceFaults(t *testing.T) {
	var suite confFaultSuite
	loadConformance(t, "faults.json", &suite)
	for _, c := range suite.Cases {
		t.Run(c.Name, func(t *testing.T) {
			skipFor(t, c.Skip)
			want := &pb.Fault{}
			if err := protojson.Unmarshal(c.Expect, want); err != nil {
				t.Fatal(err)
			}
			// Decoded as the server returns it (SetFaults, SessionInfo.Faults).
			got, _ := json.Marshal(confFaultNeutral(faultFromProto(want)))
			wantNeutral, _ := json.Marshal(c.Fault)
			if string(got) != string(wantNeutral) {
				t.Errorf("decoded %s\nwant    %s", got, wantNeutral)
			}
			// Built and sent (AddFaults sends Fault.proto()).
			want.Id, want.Applied = "", 0
			if sent := confFault(t, c.Fault).proto(); !proto.Equal(sent, want) {
				t.Errorf("sent %v\nwant %v", sent, want)
			}
		})
	}
}

func msAt(ts time.Time) float64 {
	if ts.IsZero() {
		return 0
	}
	return float64(ts.UnixMilli())
}

func confSessionNeutral(t *testing.T, s *SessionInfo) map[string]any {
	if s == nil {
		s = &SessionInfo{}
	}
	opts := map[string]any{}
	if s.Options != nil {
		data, err := protojson.Marshal(s.Options)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &opts); err != nil {
			t.Fatal(err)
		}
	}
	misses := []any{}
	for _, m := range s.Misses {
		closest := []any{}
		for _, c := range m.Closest {
			diffs := []any{}
			for _, d := range c.Differences {
				diffs = append(diffs, map[string]any{"field": d.Field, "recorded": d.Recorded, "live": d.Live})
			}
			closest = append(closest, map[string]any{"interaction_index": float64(c.InteractionIndex), "method": c.Method,
				"url": c.URL, "differences": diffs})
		}
		misses = append(misses, map[string]any{"method": m.Method, "url": m.URL, "reason": m.Reason, "closest": closest})
	}
	faults := []any{}
	for _, f := range s.Faults {
		faults = append(faults, confFaultNeutral(f))
	}
	return map[string]any{
		"cassette": s.Cassette, "mode": pb.Mode(s.Mode).String(), "requested_mode": pb.Mode(s.RequestedMode).String(),
		"recorded": float64(s.Recorded), "replayed": float64(s.Replayed), "missed": float64(s.Missed),
		"passed_through": float64(s.PassedThrough), "interactions": float64(s.Interactions), "options": opts,
		"misses": misses, "id": s.ID, "proxy_address": s.ProxyAddress, "proxy_url": s.ProxyURL, "owner": s.Owner,
		"opened_at": msAt(s.OpenedAt), "age": msOf(s.Age), "lease": msOf(s.Lease), "lease_expires_at": msAt(s.LeaseExpiresAt),
		"faults": faults, "fault_seed": float64(s.FaultSeed),
	}
}

func confSummaryNeutral(t *testing.T, s *Summary) map[string]any {
	unused := []any{}
	for _, i := range s.UnusedInteractions {
		unused = append(unused, float64(i))
	}
	warnings := []any{}
	for _, w := range s.Warnings {
		warnings = append(warnings, w)
	}
	return map[string]any{
		"session": confSessionNeutral(t, s.Session), "saved_path": s.SavedPath, "unused_interactions": unused,
		"end_reason": s.EndReason, "ended_at": msAt(s.EndedAt), "save_error": s.SaveError, "warnings": warnings,
		"failing_misses": float64(len(s.Session.FailedMisses())),
	}
}

func confStatusNeutral(t *testing.T, st *Status) map[string]any {
	tls := st.TLS
	if tls == nil {
		tls = &pb.TlsStatus{}
	}
	noIntercept := []any{}
	for _, h := range tls.GetNoIntercept() {
		noIntercept = append(noIntercept, h)
	}
	sessions, ended := []any{}, []any{}
	for _, s := range st.Sessions {
		sessions = append(sessions, confSessionNeutral(t, s))
	}
	for _, s := range st.EndedSessions {
		ended = append(ended, confSummaryNeutral(t, s))
	}
	return map[string]any{
		"version": st.Version, "proxy_address": st.ProxyAddress, "control_address": st.ControlAddress,
		"cassette_dir": st.CassetteDir, "default_mode": pb.Mode(st.DefaultMode).String(),
		"session": confSessionNeutral(t, st.Session), "uptime": msOf(st.Uptime), "api_version": float64(st.APIVersion),
		"tls": map[string]any{"ca_certificate_path": tls.GetCaCertificatePath(), "no_intercept": noIntercept,
			"insecure_upstream": tls.GetInsecureUpstream(), "upstream_ca_file": tls.GetUpstreamCaFile()},
		"reverse_upstream": st.ReverseUpstream, "sessions": sessions, "ended_sessions": ended,
		"max_sessions": float64(st.MaxSessions),
	}
}

// expectSubset checks every value want names against what the client
// exposes (objects: the keys named; lists: every item).
func expectSubset(t *testing.T, want, got any, path string) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: the client exposes %v, want an object", path, got)
			return
		}
		for key, v := range w {
			gv, ok := g[key]
			if !ok {
				t.Errorf("conformance: %s.%s is not mapped (the client exposes no such value)", path, key)
				continue
			}
			expectSubset(t, v, gv, path+"."+key)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", path, got, want)
			return
		}
		for i := range w {
			expectSubset(t, w[i], g[i], fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", path, got, want)
		}
	}
}

func TestConformanceStatus(t *testing.T) {
	var suite confStatusSuite
	loadConformance(t, "status.json", &suite)
	for _, c := range suite.Status {
		t.Run(c.Name, func(t *testing.T) {
			skipFor(t, c.Skip)
			r := &pb.GetStatusResponse{}
			if err := protojson.Unmarshal(c.Response, r); err != nil {
				t.Fatal(err)
			}
			expectSubset(t, c.Expect, confStatusNeutral(t, statusFromProto(r)), "status")
		})
	}
	for _, c := range suite.Summary {
		t.Run(c.Name, func(t *testing.T) {
			skipFor(t, c.Skip)
			r := &pb.SessionSummary{}
			if err := protojson.Unmarshal(c.Response, r); err != nil {
				t.Fatal(err)
			}
			expectSubset(t, c.Expect, confSummaryNeutral(t, summaryFromProto(r)), "summary")
		})
	}
}
