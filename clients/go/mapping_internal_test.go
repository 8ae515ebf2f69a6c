package matgto

// Every field of the proto messages this package converts must reach the Go
// value: a field added to control.proto fails this test until it is mapped.

import (
	"reflect"
	"testing"
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fillOne sets field fd of m to a value other than its default.
func fillOne(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) {
	if fd.IsList() {
		l := m.Mutable(fd).List()
		if fd.Kind() == protoreflect.MessageKind {
			e := l.NewElement()
			fillFirst(e.Message(), depth+1)
			l.Append(e)
		} else {
			l.Append(scalar(fd))
		}
		return
	}
	if fd.IsMap() {
		return // no maps in the converted messages
	}
	if fd.Kind() == protoreflect.MessageKind {
		sub := m.NewField(fd)
		fillFirst(sub.Message(), depth+1)
		m.Set(fd, sub)
		return
	}
	m.Set(fd, scalar(fd))
}

// fillFirst sets the first field of m, so that m is not empty.
func fillFirst(m protoreflect.Message, depth int) {
	if depth > 4 {
		return
	}
	if fds := m.Descriptor().Fields(); fds.Len() > 0 {
		fillOne(m, fds.Get(0), depth)
	}
}

func scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x")
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("x"))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(7)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(7)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(7)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(7)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(7)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(7)
	}
	panic("unhandled kind " + fd.Kind().String())
}

// checkEveryFieldMapped sets each field of empty alone and checks that
// convert's result changes.
func checkEveryFieldMapped[M proto.Message](t *testing.T, empty M, convert func(M) any) {
	t.Helper()
	base := convert(empty)
	fds := empty.ProtoReflect().Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		m := proto.Clone(empty).(M)
		fillOne(m.ProtoReflect(), fd, 0)
		if reflect.DeepEqual(convert(m), base) {
			t.Errorf("%s.%s is not mapped to the Go value", empty.ProtoReflect().Descriptor().Name(), fd.Name())
		}
	}
}

func TestEveryProtoFieldIsMapped(t *testing.T) {
	checkEveryFieldMapped(t, &pb.SessionInfo{}, func(m *pb.SessionInfo) any { return sessionFromProto(m) })
	checkEveryFieldMapped(t, &pb.SessionSummary{}, func(m *pb.SessionSummary) any { return summaryFromProto(m) })
	checkEveryFieldMapped(t, &pb.GetStatusResponse{}, func(m *pb.GetStatusResponse) any { return statusFromProto(m) })
	checkEveryFieldMapped(t, &pb.Miss{}, func(m *pb.Miss) any {
		return sessionFromProto(&pb.SessionInfo{Misses: []*pb.Miss{m}}).Misses
	})
	checkEveryFieldMapped(t, &pb.Candidate{}, func(m *pb.Candidate) any {
		return sessionFromProto(&pb.SessionInfo{Misses: []*pb.Miss{{Closest: []*pb.Candidate{m}}}}).Misses
	})
	checkEveryFieldMapped(t, &pb.FieldDifference{}, func(m *pb.FieldDifference) any {
		c := &pb.Candidate{Differences: []*pb.FieldDifference{m}}
		return sessionFromProto(&pb.SessionInfo{Misses: []*pb.Miss{{Closest: []*pb.Candidate{c}}}}).Misses
	})
	checkEveryFieldMapped(t, &pb.CassetteInfo{}, func(m *pb.CassetteInfo) any { return cassetteInfoFromProto(m) })
}

func TestEveryFaultFieldIsMapped(t *testing.T) {
	one := func(f *pb.Fault) any { return sessionFromProto(&pb.SessionInfo{Faults: []*pb.Fault{f}}).Faults }
	checkEveryFieldMapped(t, &pb.Fault{}, one)
	checkEveryFieldMapped(t, &pb.StatusFault{}, func(m *pb.StatusFault) any {
		return one(&pb.Fault{Action: &pb.Fault_Status{Status: m}})
	})
	checkEveryFieldMapped(t, &pb.ResetFault{}, func(m *pb.ResetFault) any {
		return one(&pb.Fault{Action: &pb.Fault_Reset_{Reset_: m}})
	})
	checkEveryFieldMapped(t, &pb.WsFault{}, func(m *pb.WsFault) any {
		return one(&pb.Fault{Action: &pb.Fault_Websocket{Websocket: m}})
	})
	checkEveryFieldMapped(t, &pb.Header{}, func(m *pb.Header) any {
		return one(&pb.Fault{Action: &pb.Fault_Status{Status: &pb.StatusFault{Headers: []*pb.Header{m}}}})
	})
	checkEveryFieldMapped(t, &pb.Latency{}, func(m *pb.Latency) any {
		return sessionFromProto(&pb.SessionInfo{Options: &pb.CassetteOptions{Latency: m}}).Latency
	})
	checkEveryFieldMapped(t, &pb.SetFaultsResponse{}, func(m *pb.SetFaultsResponse) any {
		return FaultRules{Faults: faultsFromProto(m.GetFaults()), Seed: m.GetSeed()}
	})
}

// A rule sent and read back (as the server lists it) is the same rule,
// and every field the client sets reaches the message.
func TestFaultProtoRoundTrip(t *testing.T) {
	faults := []Fault{
		NewFault(Respond(503, Header("Retry-After", "1"), Header("X-A", "1"), Header("X-A", "2"), Body("busy")),
			FirstN(2), URL("/orders/.*"), Method("GET")),
		NewFault(Delay(2*time.Second), EveryNth(3)),
		NewFault(Hang(), Probability(0.1)),
		NewFault(Reset(AfterHeaders)),
		NewFault(Reset(MidBody)),
		NewFault(Bandwidth(100 << 10)),
		{},
		NewFault(WebSocketFault(3, 150*time.Millisecond), URL("/ws")),
		NewFault(DropAfterMessages(1)),
		NewFault(DelayMessages(time.Second), FirstN(1)),
	}
	for _, f := range faults {
		if back := faultFromProto(f.proto()); !reflect.DeepEqual(back, f) {
			t.Errorf("round trip of %v gave %v", f, back)
		}
	}
	p := faults[0].proto()
	if got := p.GetStatus().GetHeaders(); len(got) != 3 || got[1].GetName() != "X-A" || got[1].GetValue() != "1" || got[2].GetValue() != "2" {
		t.Errorf("headers sent = %v, want Retry-After then X-A: 1, X-A: 2", got)
	}
	if p := faults[6].proto(); p.GetAction() != nil || p.GetSelector() != nil {
		t.Errorf("the zero Fault sends %v, want no action and no selector", p)
	}
	if ws := faults[7].proto().GetWebsocket(); ws.GetDropAfterMessages() != 3 || ws.GetMessageDelay().AsDuration() != 150*time.Millisecond {
		t.Errorf("websocket fault sent = %v, want drop after 3, delay 150ms", ws)
	}
	if ws := faults[8].proto().GetWebsocket(); ws == nil || ws.GetMessageDelay() != nil {
		t.Errorf("DropAfterMessages(1) sent %v, want a websocket action without message_delay", ws)
	}
	if got := DelayMessages(time.Second).String(); got != "websocket, delay each message 1s" {
		t.Errorf("DelayMessages(1s).String() = %q", got)
	}
	if statusCode(-1) != 0 || statusCode(1<<40) != 0 || statusCode(503) != 503 {
		t.Errorf("statusCode out of range")
	}
	for _, l := range []Latency{Fast(), AsRecorded(1.5), FixedLatency(time.Second, time.Millisecond)} {
		if back := latencyFromProto(l.proto()); back != l {
			t.Errorf("round trip of latency %v gave %v", l, back)
		}
	}
	if (Latency{}).proto() != nil {
		t.Errorf("the zero Latency is sent")
	}
}
