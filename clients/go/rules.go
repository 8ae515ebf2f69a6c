package matgto

import (
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
)

// RepeatPolicy says how recorded interactions are consumed in replay.
type RepeatPolicy int32

const (
	// RepeatDefault keeps the cassette's stored policy (server default:
	// sequential).
	RepeatDefault RepeatPolicy = RepeatPolicy(pb.RepeatPolicy_REPEAT_POLICY_UNSPECIFIED)
	// RepeatSequential: each recorded interaction answers once, in recorded
	// order among equal requests; then the on-exhausted policy decides.
	RepeatSequential RepeatPolicy = RepeatPolicy(pb.RepeatPolicy_SEQUENTIAL)
	// RepeatReuse: any matching interaction answers, any number of times.
	RepeatReuse RepeatPolicy = RepeatPolicy(pb.RepeatPolicy_REUSE)
)

func (p RepeatPolicy) String() string {
	switch p {
	case RepeatDefault:
		return "default"
	case RepeatSequential:
		return "sequential"
	case RepeatReuse:
		return "reuse"
	}
	return pb.RepeatPolicy(p).String()
}

// MissPolicy says what replay does with a request that nothing matches.
type MissPolicy int32

const (
	// MissDefault keeps the cassette's stored policy (server default: error).
	MissDefault MissPolicy = MissPolicy(pb.MissPolicy_MISS_POLICY_UNSPECIFIED)
	// MissError answers 599 with the explanation (a [ProxyError] body).
	MissError MissPolicy = MissPolicy(pb.MissPolicy_MISS_ERROR)
	// MissPassthrough forwards the request to the real upstream and records
	// nothing.
	MissPassthrough MissPolicy = MissPolicy(pb.MissPolicy_MISS_PASSTHROUGH)
	// MissRecord forwards the request and appends the new exchange to the
	// cassette ("new episodes").
	MissRecord MissPolicy = MissPolicy(pb.MissPolicy_MISS_RECORD)
)

func (p MissPolicy) String() string {
	switch p {
	case MissDefault:
		return "default"
	case MissError:
		return "error"
	case MissPassthrough:
		return "passthrough"
	case MissRecord:
		return "record"
	}
	return pb.MissPolicy(p).String()
}

// WSTiming says how replay paces the server messages of a WebSocket session
// ([WithWSTiming]) or the pieces of a streamed HTTP body ([WithStreamTiming]).
type WSTiming int32

const (
	// WSTimingDefault keeps the cassette's stored pacing (server default:
	// fast).
	WSTimingDefault WSTiming = WSTiming(pb.WsTiming_WS_TIMING_UNSPECIFIED)
	// WSTimingFast sends each server message as soon as the script reaches it.
	WSTimingFast WSTiming = WSTiming(pb.WsTiming_AS_FAST_AS_POSSIBLE)
	// WSTimingAsRecorded keeps the recorded gaps between messages (divided by
	// the speed given with [WithWSSpeed]).
	WSTimingAsRecorded WSTiming = WSTiming(pb.WsTiming_AS_RECORDED)
)

func (t WSTiming) String() string {
	switch t {
	case WSTimingDefault:
		return "default"
	case WSTimingFast:
		return "fast"
	case WSTimingAsRecorded:
		return "as-recorded"
	}
	return pb.WsTiming(t).String()
}

// MatchField is a part of a request that matching compares.
type MatchField int32

// The parts of a request, for MatchRules.Fields.
const (
	FieldMethod MatchField = MatchField(pb.MatchField_METHOD)
	FieldScheme MatchField = MatchField(pb.MatchField_SCHEME)
	FieldHost   MatchField = MatchField(pb.MatchField_HOST)
	FieldPort   MatchField = MatchField(pb.MatchField_PORT)
	FieldPath   MatchField = MatchField(pb.MatchField_PATH)
	FieldQuery  MatchField = MatchField(pb.MatchField_QUERY)
	// FieldHeaders compares the headers named in MatchRules.Headers.
	FieldHeaders MatchField = MatchField(pb.MatchField_HEADERS)
	FieldBody    MatchField = MatchField(pb.MatchField_BODY)
)

func (f MatchField) String() string {
	switch f {
	case FieldMethod:
		return "method"
	case FieldScheme:
		return "scheme"
	case FieldHost:
		return "host"
	case FieldPort:
		return "port"
	case FieldPath:
		return "path"
	case FieldQuery:
		return "query"
	case FieldHeaders:
		return "headers"
	case FieldBody:
		return "body"
	}
	return pb.MatchField(f).String()
}

// BodyMatch says how request bodies are compared.
type BodyMatch int32

const (
	// BodyDefault is exact comparison, unless IgnoreJSONPointers (then
	// [BodyJSON]) or IgnoreFormFields (then [BodyForm]) are given.
	BodyDefault BodyMatch = BodyMatch(pb.BodyMatch_BODY_MATCH_UNSPECIFIED)
	// BodyExact compares byte for byte (after content decoding).
	BodyExact BodyMatch = BodyMatch(pb.BodyMatch_BODY_EXACT)
	// BodyJSON compares semantically equal JSON: key order and whitespace
	// ignored, numbers compared as numbers, IgnoreJSONPointers left out.
	BodyJSON BodyMatch = BodyMatch(pb.BodyMatch_BODY_JSON)
	// BodyForm compares application/x-www-form-urlencoded fields in any
	// order, IgnoreFormFields left out.
	BodyForm BodyMatch = BodyMatch(pb.BodyMatch_BODY_FORM)
	// BodyIgnore does not compare bodies.
	BodyIgnore BodyMatch = BodyMatch(pb.BodyMatch_BODY_IGNORE)
)

func (b BodyMatch) String() string {
	switch b {
	case BodyDefault:
		return "default"
	case BodyExact:
		return "exact"
	case BodyJSON:
		return "json"
	case BodyForm:
		return "form"
	case BodyIgnore:
		return "ignore"
	}
	return pb.BodyMatch(b).String()
}

// URLRewrite is an RE2 rewrite applied to the URL of both the live and the
// recorded request before they are compared: every match of Pattern becomes
// Replacement (\1 refers to groups), e.g. "/users/[0-9]+" → "/users/N".
type URLRewrite struct {
	Pattern     string
	Replacement string
}

// MatchRules say which requests are "the same" (see [WithMatch]). The zero
// value compares method, scheme, host, port, path, query and body exactly.
type MatchRules struct {
	// Fields are the parts compared; empty means all but FieldHeaders.
	Fields []MatchField
	// Headers are the header names compared with FieldHeaders
	// (case-insensitive).
	Headers []string
	// IgnoreQueryParams are query parameters left out of the comparison.
	IgnoreQueryParams []string
	// QueryOrderInsensitive makes "a=1&b=2" equal "b=2&a=1".
	QueryOrderInsensitive bool
	// Body says how bodies are compared.
	Body BodyMatch
	// IgnoreJSONPointers are RFC 6901 pointers ("/meta/timestamp") left out
	// of a JSON comparison; they imply [BodyJSON] when Body is unset.
	IgnoreJSONPointers []string
	// IgnoreFormFields are form fields left out of a form comparison; they
	// imply [BodyForm] when Body is unset.
	IgnoreFormFields []string
	// URLRewrites are applied, in order, to both URLs before comparing.
	URLRewrites []URLRewrite
}

func (r MatchRules) proto() *pb.MatchRules {
	m := &pb.MatchRules{
		Headers:               clone(r.Headers),
		IgnoreQueryParams:     clone(r.IgnoreQueryParams),
		QueryOrderInsensitive: r.QueryOrderInsensitive,
		Body:                  pb.BodyMatch(r.Body),
		IgnoreJsonPointers:    clone(r.IgnoreJSONPointers),
		IgnoreFormFields:      clone(r.IgnoreFormFields),
	}
	if r.Body == BodyDefault {
		// As the CLI: --ignore-json implies --match-body json, --ignore-form form.
		switch {
		case len(r.IgnoreJSONPointers) > 0:
			m.Body = pb.BodyMatch_BODY_JSON
		case len(r.IgnoreFormFields) > 0:
			m.Body = pb.BodyMatch_BODY_FORM
		}
	}
	for _, f := range r.Fields {
		m.Fields = append(m.Fields, pb.MatchField(f))
	}
	for _, rw := range r.URLRewrites {
		m.UrlRewrites = append(m.UrlRewrites, &pb.UrlRewrite{Pattern: rw.Pattern, Replacement: rw.Replacement})
	}
	return m
}

// RedactRules say what is removed before anything is written (see
// [WithRedact]). Every redacted value becomes "[REDACTED]"; the same rules
// are applied to a live request before it is matched, so redacted cassettes
// still match.
type RedactRules struct {
	// Headers are header names redacted in addition to the default
	// credential headers (case-insensitive).
	Headers []string
	// QueryParams are query parameter names.
	QueryParams []string
	// JSONPointers are RFC 6901 pointers into JSON bodies (requests and
	// responses).
	JSONPointers []string
	// FormFields are application/x-www-form-urlencoded field names.
	FormFields []string
	// BodyPatterns are RE2 patterns; every match in a (decoded) body is
	// replaced.
	BodyPatterns []string
	// DisableDefaults turns the default credential-header redaction off.
	DisableDefaults bool
	// JSONKeys are JSON member names redacted at any depth of a JSON body.
	JSONKeys []string
	// OnUnredactable says what happens to an exchange whose body a rule
	// cannot be applied to (e.g. an unknown Content-Encoding).
	OnUnredactable UnredactablePolicy
}

// UnredactablePolicy says what a recording does with an exchange whose body
// a redaction rule cannot be applied to. CLI: --on-unredactable.
type UnredactablePolicy int32

const (
	// UnredactableDefault leaves the choice to the server (it warns).
	UnredactableDefault UnredactablePolicy = UnredactablePolicy(pb.UnredactablePolicy_UNREDACTABLE_POLICY_UNSPECIFIED)
	// UnredactableWarn stores the exchange and adds a warning to the
	// session summary.
	UnredactableWarn UnredactablePolicy = UnredactablePolicy(pb.UnredactablePolicy_UNREDACTABLE_WARN)
	// UnredactableRefuse does not store the exchange (and warns).
	UnredactableRefuse UnredactablePolicy = UnredactablePolicy(pb.UnredactablePolicy_UNREDACTABLE_REFUSE)
)

func (r RedactRules) proto() *pb.RedactRules {
	return &pb.RedactRules{
		Headers:         clone(r.Headers),
		QueryParams:     clone(r.QueryParams),
		JsonPointers:    clone(r.JSONPointers),
		FormFields:      clone(r.FormFields),
		BodyPatterns:    clone(r.BodyPatterns),
		DisableDefaults: r.DisableDefaults,
		JsonKeys:        clone(r.JSONKeys),
		OnUnredactable:  pb.UnredactablePolicy(r.OnUnredactable),
	}
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
