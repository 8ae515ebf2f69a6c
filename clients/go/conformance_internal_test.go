package matgto

// The shared conformance suite (clients/conformance/*.json), run without a
// server: each neutral case becomes the idiomatic Go call, and the request
// message the client would send is compared with the case's proto JSON. A
// case that lists "go" under "skip" is skipped with its reason. See
// clients/conformance/README.md.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
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

type confOptionCase struct {
	Name    string            `json:"name"`
	Options map[string]any    `json:"options"`
	Expect  json.RawMessage   `json:"expect"`
	Skip    map[string]string `json:"skip"`
}

type confOptions struct {
	Cases []confOptionCase `json:"cases"`
	Modes []struct {
		Mode   string            `json:"mode"`
		Expect string            `json:"expect"`
		Skip   map[string]string `json:"skip"`
	} `json:"modes"`
}

func strs(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

func ms(v any) time.Duration { return time.Duration(v.(float64) * float64(time.Millisecond)) }

// confOption is the Go option for one neutral option.
func confOption(t *testing.T, key string, value any) Option {
	t.Helper()
	switch key {
	case "on_exhausted":
		return WithOnExhausted(map[string]ExhaustedPolicy{"error": ExhaustedError, "repeat_last": ExhaustedRepeatLast}[value.(string)])
	case "repeat":
		return WithRepeat(map[string]RepeatPolicy{"sequential": RepeatSequential, "reuse": RepeatReuse}[value.(string)])
	case "on_miss":
		return WithOnMiss(map[string]MissPolicy{"error": MissError, "passthrough": MissPassthrough, "record": MissRecord}[value.(string)])
	case "store_decoded":
		if !value.(bool) {
			return WithStoreAsSent()
		}
		return WithStoreDecoded()
	case "ws_timing":
		return WithWSTiming(map[string]WSTiming{"fast": WSTimingFast, "as_recorded": WSTimingAsRecorded}[value.(string)])
	case "ws_speed":
		return WithWSSpeed(value.(float64))
	case "stream_timing":
		return WithStreamTiming(map[string]WSTiming{"fast": WSTimingFast, "as_recorded": WSTimingAsRecorded}[value.(string)])
	case "stream_speed":
		return WithStreamSpeed(value.(float64))
	case "match":
		var r MatchRules
		for k, v := range value.(map[string]any) {
			switch k {
			case "fields":
				fields := map[string]MatchField{"method": FieldMethod, "scheme": FieldScheme, "host": FieldHost, "port": FieldPort,
					"path": FieldPath, "query": FieldQuery, "headers": FieldHeaders, "body": FieldBody}
				for _, f := range strs(v) {
					r.Fields = append(r.Fields, fields[f])
				}
			case "headers":
				r.Headers = strs(v)
			case "ignore_query_params":
				r.IgnoreQueryParams = strs(v)
			case "query_order_insensitive":
				r.QueryOrderInsensitive = v.(bool)
			case "body":
				r.Body = map[string]BodyMatch{"exact": BodyExact, "json": BodyJSON, "form": BodyForm, "ignore": BodyIgnore}[v.(string)]
			case "ignore_json_pointers":
				r.IgnoreJSONPointers = strs(v)
			case "ignore_form_fields":
				r.IgnoreFormFields = strs(v)
			case "url_rewrites":
				for _, rw := range v.([]any) {
					m := rw.(map[string]any)
					r.URLRewrites = append(r.URLRewrites, URLRewrite{Pattern: m["pattern"].(string), Replacement: m["replacement"].(string)})
				}
			default:
				t.Fatalf("conformance: match.%s is not mapped to a Go MatchRules field", k)
			}
		}
		return WithMatch(r)
	case "redact":
		var r RedactRules
		for k, v := range value.(map[string]any) {
			switch k {
			case "headers":
				r.Headers = strs(v)
			case "query_params":
				r.QueryParams = strs(v)
			case "json_pointers":
				r.JSONPointers = strs(v)
			case "form_fields":
				r.FormFields = strs(v)
			case "body_patterns":
				r.BodyPatterns = strs(v)
			case "disable_defaults":
				r.DisableDefaults = v.(bool)
			case "json_keys":
				r.JSONKeys = strs(v)
			case "on_unredactable":
				r.OnUnredactable = map[string]UnredactablePolicy{"warn": UnredactableWarn, "refuse": UnredactableRefuse}[v.(string)]
			default:
				t.Fatalf("conformance: redact.%s is not mapped to a Go RedactRules field", k)
			}
		}
		return WithRedact(r)
	case "latency":
		for kind, a := range value.(map[string]any) {
			args := a.(map[string]any)
			switch kind {
			case "fast":
				return WithLatency(Fast())
			case "as_recorded":
				scale, _ := args["scale"].(float64)
				return WithLatency(AsRecorded(scale))
			case "fixed":
				var jitter time.Duration
				if j, ok := args["jitter_ms"]; ok {
					jitter = ms(j)
				}
				return WithLatency(FixedLatency(ms(args["delay_ms"]), jitter))
			}
			t.Fatalf("conformance: latency form %q is not mapped", kind)
		}
	}
	t.Fatalf("conformance: option %q is not mapped to a Go Option", key)
	return nil
}

func TestConformanceOptions(t *testing.T) {
	var suite confOptions
	loadConformance(t, "options.json", &suite)
	for _, c := range suite.Cases {
		t.Run(c.Name, func(t *testing.T) {
			skipFor(t, c.Skip)
			keys := make([]string, 0, len(c.Options))
			for k := range c.Options {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var opts []Option
			for _, k := range keys {
				opts = append(opts, confOption(t, k, c.Options[k]))
			}
			// What StartRecording, Replay and UseCassette put in the request.
			sent := collectOptions(opts).cassetteOptions()
			if sent == nil {
				sent = &pb.CassetteOptions{}
			}
			want := &pb.CassetteOptions{}
			if err := protojson.Unmarshal(c.Expect, want); err != nil {
				t.Fatalf("expect: %v", err)
			}
			if !proto.Equal(sent, want) {
				t.Errorf("sent %v\nwant %v", protojson.Format(sent), protojson.Format(want))
			}
		})
	}
	for _, c := range suite.Modes {
		t.Run("mode "+c.Mode, func(t *testing.T) {
			skipFor(t, c.Skip)
			for _, m := range []Mode{ModeAuto, ModeRecord, ModeReplay, ModePassthrough} {
				if m.String() == c.Mode {
					if int32(m) != pb.Mode_value[c.Expect] {
						t.Errorf("%s is %d, want %s", c.Mode, m, c.Expect)
					}
					return
				}
			}
			t.Errorf("no Mode constant spells %q", c.Mode)
		})
	}
}

// covered records the fields set in m and the enum values they hold.
func covered(m protoreflect.Message, fields, values map[string]bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fields[string(fd.FullName())] = true
		one := func(v protoreflect.Value) {
			switch fd.Kind() {
			case protoreflect.EnumKind:
				ev := fd.Enum().Values().ByNumber(v.Enum())
				values[string(ev.FullName())] = true
			case protoreflect.MessageKind:
				covered(v.Message(), fields, values)
			}
		}
		if fd.IsList() {
			for i := 0; i < v.List().Len(); i++ {
				one(v.List().Get(i))
			}
		} else {
			one(v)
		}
		return true
	})
}

func walk(md protoreflect.MessageDescriptor, fields *[]string, enums map[protoreflect.FullName]protoreflect.EnumDescriptor, seen map[protoreflect.FullName]bool) {
	if seen[md.FullName()] || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return
	}
	seen[md.FullName()] = true
	for i := 0; i < md.Fields().Len(); i++ {
		fd := md.Fields().Get(i)
		*fields = append(*fields, string(fd.FullName()))
		switch fd.Kind() {
		case protoreflect.EnumKind:
			enums[fd.Enum().FullName()] = fd.Enum()
		case protoreflect.MessageKind:
			walk(fd.Message(), fields, enums, seen)
		}
	}
}

// A field or enum value added to the protos fails here until a case (or
// unmapped.json) covers it.
func TestConformanceEveryProtoFieldAndEnumValueHasACase(t *testing.T) {
	var suite confOptions
	loadConformance(t, "options.json", &suite)
	var unmapped struct {
		Roots struct {
			Messages []string `json:"messages"`
			Enums    []string `json:"enums"`
		} `json:"roots"`
		Fields     map[string]string `json:"fields"`
		EnumValues map[string]string `json:"enum_values"`
	}
	loadConformance(t, "unmapped.json", &unmapped)
	var fields []string
	enums := map[protoreflect.FullName]protoreflect.EnumDescriptor{}
	seen := map[protoreflect.FullName]bool{} // shared: a message reachable from two roots is listed once
	for _, name := range unmapped.Roots.Messages {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		walk(d.(protoreflect.MessageDescriptor), &fields, enums, seen)
	}
	for _, name := range unmapped.Roots.Enums {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enums[d.FullName()] = d.(protoreflect.EnumDescriptor)
	}
	gotFields, gotValues := map[string]bool{}, map[string]bool{}
	cover := func(m proto.Message, name string, data json.RawMessage) {
		if err := protojson.Unmarshal(data, m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		covered(m.ProtoReflect(), gotFields, gotValues)
	}
	for _, c := range suite.Cases {
		cover(&pb.CassetteOptions{}, c.Name, c.Expect)
	}
	var status confStatusSuite
	loadConformance(t, "status.json", &status)
	for _, c := range status.Status {
		cover(&pb.GetStatusResponse{}, c.Name, c.Response)
	}
	for _, c := range status.Summary {
		cover(&pb.SessionSummary{}, c.Name, c.Response)
	}
	var faults confFaultSuite
	loadConformance(t, "faults.json", &faults)
	for _, c := range faults.Cases {
		cover(&pb.Fault{}, c.Name, c.Expect)
	}
	var sessions confSessionSuite
	loadConformance(t, "sessions.json", &sessions)
	for _, c := range sessions.Cases {
		cover(confSessionRequests[c.RPC](), c.Name, c.Expect)
	}
	for _, c := range suite.Modes {
		gotValues["matgto.v1."+c.Expect] = true // enum values are scoped to the package
	}
	var missing []string
	for _, f := range fields {
		if !gotFields[f] && unmapped.Fields[f] == "" {
			missing = append(missing, f)
		}
	}
	for _, e := range enums {
		for i := 0; i < e.Values().Len(); i++ {
			v := e.Values().Get(i)
			name := string(e.FullName()) + "." + string(v.Name())
			if v.Number() != 0 && !gotValues[string(v.FullName())] && unmapped.EnumValues[name] == "" {
				missing = append(missing, name)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no conformance case in clients/conformance/ (options, sessions, status, faults) covers %s (add a case, map it in every client, or list it in unmapped.json with a reason)",
			strings.Join(missing, ", "))
	}
}

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

type confSessionCase struct {
	Name     string            `json:"name"`
	RPC      string            `json:"rpc"`
	Cassette string            `json:"cassette"`
	Mode     string            `json:"mode"`
	Session  map[string]any    `json:"session"`
	Options  map[string]any    `json:"options"`
	Expect   json.RawMessage   `json:"expect"`
	Skip     map[string]string `json:"skip"`
}

type confSessionSuite struct {
	Cases []confSessionCase `json:"cases"`
}

var confSessionRequests = map[string]func() proto.Message{
	"StartRecording": func() proto.Message { return &pb.StartRecordingRequest{} },
	"Replay":         func() proto.Message { return &pb.ReplayRequest{} },
	"UseCassette":    func() proto.Message { return &pb.UseCassetteRequest{} },
}

func TestConformanceSessions(t *testing.T) {
	var suite confSessionSuite
	loadConformance(t, "sessions.json", &suite)
	for _, c := range suite.Cases {
		t.Run(c.Name, func(t *testing.T) {
			skipFor(t, c.Skip)
			var opts []Option
			for k, v := range c.Options {
				opts = append(opts, confOption(t, k, v))
			}
			for k, v := range c.Session {
				switch k {
				case "new_session":
					opts = append(opts, WithNewSession())
				case "lease_ms":
					opts = append(opts, WithLease(ms(v)))
				case "owner":
					opts = append(opts, WithOwner(v.(string)))
				case "id":
					opts = append(opts, WithSession(v.(string)))
				default:
					t.Fatalf("conformance: session key %q is not mapped to a Go option", k)
				}
			}
			o := collectOptions(opts)
			var sent proto.Message
			switch c.RPC {
			case "StartRecording":
				sent = startRecordingRequest(c.Cassette, o)
			case "Replay":
				sent = replayRequest(c.Cassette, o)
			case "UseCassette":
				mode := Mode(-1)
				for _, m := range []Mode{ModeAuto, ModeRecord, ModeReplay, ModePassthrough} {
					if m.String() == c.Mode {
						mode = m
					}
				}
				sent = useCassetteRequest(c.Cassette, mode, o)
			}
			want := confSessionRequests[c.RPC]()
			if err := protojson.Unmarshal(c.Expect, want); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(sent, want) {
				t.Errorf("sent %v\nwant %v", protojson.Format(sent), protojson.Format(want))
			}
		})
	}
}

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
