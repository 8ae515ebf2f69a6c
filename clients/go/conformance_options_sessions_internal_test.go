package matgto

// Conformance, requests: options.json and sessions.json against the
// CassetteOptions and StartRecording/Replay/UseCassette requests the Go calls
// send, and the check that every proto field and enum value has a case.

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

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
