package matgto

import (
	"fmt"
	"strings"
)

// Miss reasons, as the server reports them in [Miss.Reason].
const (
	// MissNoMatch: nothing recorded matched the request (answered 599).
	MissNoMatch = "no-match"
	// MissExhausted: every recorded answer was used and the cassette's
	// on_exhausted policy is [ExhaustedError] (answered 599).
	MissExhausted = "exhausted"
	// MissWSMismatch: a WebSocket client message differed from the recorded
	// one (the connection was closed with 1008).
	MissWSMismatch = "ws-mismatch"
)

// Failed reports whether the miss left the code under test without its
// recorded answer: reasons "no-match", "exhausted" and "ws-mismatch". Misses
// that the miss policy forwarded live ("no-match, passed through",
// "no-match, recorded") are not failures.
func (m Miss) Failed() bool {
	switch m.Reason {
	case MissNoMatch, MissExhausted, MissWSMismatch:
		return true
	}
	return false
}

// FailedMisses are the session's misses that fail a test ([Miss.Failed]).
func (s *SessionInfo) FailedMisses() []Miss {
	if s == nil {
		return nil
	}
	var out []Miss
	for _, m := range s.Misses {
		if m.Failed() {
			out = append(out, m)
		}
	}
	return out
}

// String is the miss explained on one or more lines: the request, the
// reason, and the closest recorded request with the fields that differ.
//
//	GET http://api.example.com/users?page=2 (no-match)
//	  closest recorded #3: GET http://api.example.com/users?page=1
//	    query: recorded "page=1", live "page=2"
func (m Miss) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%s)", m.Method, m.URL, m.Reason)
	if len(m.Closest) == 0 {
		if m.Reason == MissNoMatch {
			b.WriteString("\n  nothing recorded is close to it")
		}
		return b.String()
	}
	c := m.Closest[0]
	fmt.Fprintf(&b, "\n  closest recorded #%d: %s %s", c.InteractionIndex, c.Method, c.URL)
	for _, d := range c.Differences {
		fmt.Fprintf(&b, "\n    %s: recorded %s, live %s", d.Field, clip(d.Recorded), clip(d.Live))
	}
	if len(c.Differences) == 0 && m.Reason == MissExhausted {
		b.WriteString("\n    identical, but every recorded answer to it was already used")
	}
	if more := len(m.Closest) - 1; more > 0 {
		fmt.Fprintf(&b, "\n  (%d more candidate(s))", more)
	}
	return b.String()
}

// clip quotes a field value, shortened to keep a failure message readable.
func clip(v string) string {
	const max = 200
	if len(v) > max {
		return fmt.Sprintf("%q… (%d bytes)", truncateUTF8(v, max), len(v))
	}
	return fmt.Sprintf("%q", v)
}

// explainMisses is the failure (or warning) message of the test helper for
// session s's failed misses.
func explainMisses(s *SessionInfo, failed []Miss) string {
	var b strings.Builder
	fmt.Fprintf(&b, "matgto: cassette %q (session %s, mode %s): %d request(s) found no recorded answer:",
		s.Cassette, s.ID, s.Mode, len(failed))
	for i, m := range failed {
		fmt.Fprintf(&b, "\n%d. %s", i+1, strings.ReplaceAll(m.String(), "\n", "\n   "))
	}
	if len(s.Misses) >= 100 && s.Missed > uint64(len(s.Misses)) {
		fmt.Fprintf(&b, "\n(the server lists the first %d of %d misses)", len(s.Misses), s.Missed)
	}
	return b.String()
}
