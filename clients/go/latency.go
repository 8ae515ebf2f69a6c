package matgto

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// LatencyMode says how fast replay answers an HTTP request.
type LatencyMode int32

const (
	// LatencyDefault is the zero LatencyMode: the server takes it as
	// LatencyFast.
	LatencyDefault LatencyMode = LatencyMode(pb.LatencyMode_LATENCY_MODE_UNSPECIFIED)
	// LatencyFast answers at once (the default).
	LatencyFast LatencyMode = LatencyMode(pb.LatencyMode_LATENCY_FAST)
	// LatencyAsRecorded starts each response after its recorded time to
	// first byte and ends it after its recorded total, both times Scale.
	LatencyAsRecorded LatencyMode = LatencyMode(pb.LatencyMode_LATENCY_AS_RECORDED)
	// LatencyFixed starts each response after Fixed ± Jitter.
	LatencyFixed LatencyMode = LatencyMode(pb.LatencyMode_LATENCY_FIXED)
)

func (m LatencyMode) String() string {
	switch m {
	case LatencyDefault:
		return "default"
	case LatencyFast:
		return "fast"
	case LatencyAsRecorded:
		return "as-recorded"
	case LatencyFixed:
		return "fixed"
	}
	return pb.LatencyMode(m).String()
}

// Latency says how fast replay answers: [Fast], [AsRecorded] or
// [FixedLatency]. It is a cassette option ([WithLatency]): stored with the
// cassette when recording, overridable per session on replay. It slows the
// session's own responses only (the server uses timers: other exchanges and
// other sessions go on at full speed).
type Latency struct {
	Mode LatencyMode
	// Scale multiplies the recorded times of LatencyAsRecorded (2 waits
	// twice as long); 0 means 1.
	Scale float64
	// Fixed and Jitter are LatencyFixed's delay and how far it may vary
	// either way (uniformly).
	Fixed  time.Duration
	Jitter time.Duration
}

// Fast answers at once (the server's default). It overrides a latency
// stored with the cassette.
func Fast() Latency { return Latency{Mode: LatencyFast} }

// AsRecorded replays each response with its recorded timing: it starts
// after the recorded time to first byte and ends after the recorded total,
// both multiplied by scale (0 or 1: as recorded; 0.5: twice as fast).
func AsRecorded(scale float64) Latency { return Latency{Mode: LatencyAsRecorded, Scale: scale} }

// FixedLatency starts each replayed response after d ± jitter (uniformly;
// 0 for none).
func FixedLatency(d, jitter time.Duration) Latency {
	return Latency{Mode: LatencyFixed, Fixed: d, Jitter: jitter}
}

// String is the latency as the CLI's --latency spells it: "fast",
// "as-recorded" (with "×SCALE" when scaled), "200ms", "100ms±50ms".
func (l Latency) String() string {
	switch l.Mode {
	case LatencyAsRecorded:
		if l.Scale != 0 && l.Scale != 1 {
			return "as-recorded×" + strconv.FormatFloat(l.Scale, 'g', -1, 64)
		}
		return "as-recorded"
	case LatencyFixed:
		if l.Jitter != 0 {
			return l.Fixed.String() + "±" + l.Jitter.String()
		}
		return l.Fixed.String()
	}
	return l.Mode.String()
}

// ParseLatency reads a latency the way the CLI's --latency takes it:
// "fast", "as-recorded", a duration ("200ms") or a duration with a jitter
// ("100ms±50ms", also "100ms+-50ms").
func ParseLatency(s string) (Latency, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "fast":
		return Fast(), nil
	case "as-recorded", "as_recorded", "asrecorded":
		return AsRecorded(0), nil
	}
	base, jit, hasJitter := strings.Cut(s, "±")
	if !hasJitter {
		base, jit, hasJitter = strings.Cut(s, "+-")
	}
	d, err := time.ParseDuration(strings.TrimSpace(base))
	if err != nil || d < 0 {
		return Latency{}, fmt.Errorf("matgto: latency %q: want fast, as-recorded, a duration (200ms) or a duration±jitter (100ms±50ms)", s)
	}
	var j time.Duration
	if hasJitter {
		j, err = time.ParseDuration(strings.TrimSpace(jit))
		if err != nil || j < 0 {
			return Latency{}, fmt.Errorf("matgto: latency %q: bad jitter %q", s, jit)
		}
	}
	return FixedLatency(d, j), nil
}

// proto is nil for the zero Latency (nothing to set).
func (l Latency) proto() *pb.Latency {
	if l == (Latency{}) {
		return nil
	}
	p := &pb.Latency{Mode: pb.LatencyMode(l.Mode), Scale: l.Scale}
	if l.Fixed != 0 {
		p.Fixed = durationpb.New(l.Fixed)
	}
	if l.Jitter != 0 {
		p.Jitter = durationpb.New(l.Jitter)
	}
	return p
}

func latencyFromProto(p *pb.Latency) Latency {
	return Latency{
		Mode:   LatencyMode(p.GetMode()),
		Scale:  p.GetScale(),
		Fixed:  p.GetFixed().AsDuration(),
		Jitter: p.GetJitter().AsDuration(),
	}
}

// WithLatency sets how fast replay answers (CLI: --latency, --latency-scale):
//
//	matgto.WithLatency(matgto.AsRecorded(1))                                   // the recorded timing
//	matgto.WithLatency(matgto.FixedLatency(200*time.Millisecond, 50*time.Millisecond)) // 200ms ± 50ms
//	matgto.WithLatency(matgto.Fast())                                          // at once
//
// Given to a recording, it is stored with the cassette; on replay it
// overrides the stored latency for this session only. The zero Latency
// leaves the latency as it is.
func WithLatency(l Latency) Option {
	return func(o *options) {
		if l == (Latency{}) && o.cassette == nil {
			return // nothing to set, nor to unset
		}
		o.set(func(c *pb.CassetteOptions) { c.Latency = l.proto() })
	}
}
