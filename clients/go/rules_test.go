package matgto_test

// Matching, miss and redaction rules against the real server.

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	matgto "github.com/matgto/matgto-serge/clients/go"
	pb "github.com/matgto/matgto-serge/clients/go/matgtov1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func TestMatchJSONBodyIgnoringAPointer(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)
	const name = "rules/json"
	rules := matgto.MatchRules{IgnoreJSONPointers: []string{"/meta/ts"}} // implies BodyJSON

	sess, err := c.StartRecording(ctx, name, matgto.WithMatch(rules))
	if err != nil {
		t.Fatalf("StartRecording(WithMatch): %v", err)
	}
	if mr := sess.Options.GetMatchRules(); mr.GetBody() != pb.BodyMatch_BODY_JSON || len(mr.GetIgnoreJsonPointers()) != 1 {
		t.Errorf("session match rules = %v, want body JSON ignoring /meta/ts", mr)
	}
	rec := do(t, hc, "POST", up.URL+"/orders", []byte(`{"item":"tea","qty":2,"meta":{"ts":"2024-01-01T00:00:00Z"}}`))
	if rec.Status != http.StatusOK {
		t.Fatalf("recording: status %d %q", rec.Status, rec.Body)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	up.Close()

	// The rules are stored with the cassette: a plain Replay uses them.
	if _, err := c.Replay(ctx, name); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	// Other key order, other whitespace, another timestamp: the same request.
	got := do(t, hc, "POST", up.URL+"/orders", []byte(`{ "meta": {"ts": "2031-05-05T12:00:00Z"}, "qty": 2.0, "item": "tea" }`))
	if got.Status != rec.Status || !bytes.Equal(got.Body, rec.Body) {
		t.Errorf("JSON body differing only at /meta/ts: status %d body %q, want the recorded %q", got.Status, got.Body, rec.Body)
	}
	// A difference elsewhere still misses.
	if miss := do(t, hc, "POST", up.URL+"/orders", []byte(`{"item":"coffee","qty":2,"meta":{"ts":"x"}}`)); miss.Status != 599 {
		t.Errorf("JSON body differing at /item: status %d, want 599", miss.Status)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}

	// Replay options override the stored ones: exact bodies now.
	sess, err = c.Replay(ctx, name, matgto.WithMatch(matgto.MatchRules{Body: matgto.BodyExact}))
	if err != nil {
		t.Fatalf("Replay(WithMatch(BodyExact)): %v", err)
	}
	if b := sess.Options.GetMatchRules().GetBody(); b != pb.BodyMatch_BODY_EXACT {
		t.Errorf("overridden session body match = %v, want BODY_EXACT", b)
	}
	if miss := do(t, hc, "POST", up.URL+"/orders", []byte(`{"item":"tea","qty":2,"meta":{"ts":"other"}}`)); miss.Status != 599 {
		t.Errorf("exact body match with another timestamp: status %d, want 599", miss.Status)
	}
}

func TestOnMissRecordAppendsAnEpisode(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)
	const name = "rules/new-episodes"

	if _, err := c.StartRecording(ctx, name); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	first := do(t, hc, "GET", up.URL+"/first", nil)
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}

	sess, err := c.Replay(ctx, name, matgto.WithOnMiss(matgto.MissRecord))
	if err != nil {
		t.Fatalf("Replay(WithOnMiss(MissRecord)): %v", err)
	}
	if sess.OnMiss != matgto.MissRecord {
		t.Errorf("session on-miss = %v, want record", sess.OnMiss)
	}
	if got := do(t, hc, "GET", up.URL+"/first", nil); !bytes.Equal(got.Body, first.Body) {
		t.Errorf("recorded request: %q, want the recorded %q", got.Body, first.Body)
	}
	second := do(t, hc, "GET", up.URL+"/second", nil)
	if second.Status != http.StatusOK || !bytes.Contains(second.Body, []byte("GET /second")) {
		t.Fatalf("unrecorded request with on-miss record: status %d body %q, want the upstream's answer", second.Status, second.Body)
	}
	if n := up.calls.Load(); n != 2 {
		t.Errorf("the upstream saw %d calls, want 2 (the recording and the miss)", n)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}

	cas, err := c.GetCassette(ctx, name)
	if err != nil {
		t.Fatalf("GetCassette: %v", err)
	}
	if n := len(cas.GetInteractions()); n != 2 {
		t.Fatalf("cassette after on-miss record has %d interactions, want 2", n)
	}
	if u := cas.GetInteractions()[1].GetHttp().GetRequest().GetUrl(); !strings.HasSuffix(u, "/second") {
		t.Errorf("appended interaction URL = %q, want .../second", u)
	}

	// The new episode replays without the upstream.
	up.Close()
	if _, err := c.Replay(ctx, name); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if got := do(t, hc, "GET", up.URL+"/second", nil); !bytes.Equal(got.Body, second.Body) {
		t.Errorf("replayed new episode %q, want %q", got.Body, second.Body)
	}
}

func TestRedactedQueryParamStaysOutOfTheCassette(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	var (
		mu   sync.Mutex
		seen []string
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Query().Get("token"))
		mu.Unlock()
		_, _ = w.Write([]byte("results for " + r.URL.Query().Get("q")))
	}))
	t.Cleanup(up.Close)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)
	const name = "rules/redacted"
	const secret = "s3cr3t-t0ken-value"

	_, err := c.StartRecording(ctx, name, matgto.WithRedact(matgto.RedactRules{QueryParams: []string{"token"}}))
	if err != nil {
		t.Fatalf("StartRecording(WithRedact): %v", err)
	}
	rec := do(t, hc, "GET", up.URL+"/search?q=tea&token="+secret, nil)
	if rec.Status != http.StatusOK {
		t.Fatalf("recording: status %d %q", rec.Status, rec.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != secret {
		t.Errorf("the upstream saw tokens %q, want the real one (redaction applies to what is stored)", seen)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}

	cas, err := c.GetCassette(ctx, name)
	if err != nil {
		t.Fatalf("GetCassette: %v", err)
	}
	raw, err := proto.Marshal(cas)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Errorf("the secret is in the cassette: %s", protojson.Format(cas))
	}
	if len(cas.GetInteractions()) != 1 {
		t.Fatalf("cassette has %d interactions, want 1", len(cas.GetInteractions()))
	}
	u := cas.GetInteractions()[0].GetHttp().GetRequest().GetUrl()
	if !strings.Contains(u, "q=tea") || !strings.Contains(u, "token=") {
		t.Errorf("stored URL %q, want q=tea and a redacted token", u)
	}

	// A live request is redacted before matching: another token matches.
	up.Close()
	if _, err := c.Replay(ctx, name); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if got := do(t, hc, "GET", up.URL+"/search?q=tea&token=another-one", nil); !bytes.Equal(got.Body, rec.Body) {
		t.Errorf("replay with another token: status %d body %q, want %q", got.Status, got.Body, rec.Body)
	}
}

func TestBadRulesAreInvalidArgument(t *testing.T) {
	c := dial(t, startServer(t, t.TempDir()))
	ctx := ctxFor(t)
	badRewrite := matgto.WithMatch(matgto.MatchRules{URLRewrites: []matgto.URLRewrite{{Pattern: "/users/([0-9]+", Replacement: "/users/N"}}})
	_, err := c.StartRecording(ctx, "rules/bad", badRewrite)
	if !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Fatalf("StartRecording with an unbalanced RE2 rewrite = %v, want ErrInvalidArgument", err)
	}
	if !strings.Contains(err.Error(), "INVALID_ARGUMENT") {
		t.Errorf("error %q does not name its code", err)
	}
	if _, err := c.UseCassette(ctx, "rules/bad", matgto.ModeAuto, badRewrite); !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Errorf("UseCassette with a bad rewrite = %v, want ErrInvalidArgument", err)
	}
	badRedact := matgto.WithRedact(matgto.RedactRules{BodyPatterns: []string{"[unclosed"}})
	if _, err := c.StartRecording(ctx, "rules/bad", badRedact); !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Errorf("StartRecording with a bad redaction pattern = %v, want ErrInvalidArgument", err)
	}
	badPointer := matgto.WithMatch(matgto.MatchRules{IgnoreJSONPointers: []string{"no-leading-slash"}})
	if _, err := c.StartRecording(ctx, "rules/bad", badPointer); !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Errorf("StartRecording with a bad JSON pointer = %v, want ErrInvalidArgument", err)
	}

	// Replay validates its overrides too.
	if _, err := c.StartRecording(ctx, "rules/good"); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	if _, err := c.Replay(ctx, "rules/good", badRewrite); !errors.Is(err, matgto.ErrInvalidArgument) {
		t.Errorf("Replay with a bad rewrite = %v, want ErrInvalidArgument", err)
	}
	if st, err := c.Status(ctx); err != nil || st.Session != nil {
		t.Errorf("after rejected calls: status %+v, %v; want no session", st, err)
	}
}

// A URL rewrite makes two ids the same request; WithRepeat(RepeatReuse)
// answers it any number of times.
func TestURLRewriteAndRepeatReuse(t *testing.T) {
	srv := startServer(t, t.TempDir())
	c := dial(t, srv)
	up := newUpstream(t)
	hc := proxiedClient(t, c)
	ctx := ctxFor(t)
	const name = "rules/rewrite"

	if _, err := c.StartRecording(ctx, name); err != nil {
		t.Fatalf("StartRecording: %v", err)
	}
	rec := do(t, hc, "GET", up.URL+"/users/17?lang=en&v=1", nil)
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	up.Close()

	sess, err := c.Replay(ctx, name,
		matgto.WithMatch(matgto.MatchRules{
			URLRewrites:           []matgto.URLRewrite{{Pattern: `/users/[0-9]+`, Replacement: "/users/N"}},
			IgnoreQueryParams:     []string{"v"},
			QueryOrderInsensitive: true,
		}),
		matgto.WithRepeat(matgto.RepeatReuse),
		matgto.WithOnExhausted(matgto.ExhaustedError))
	if err != nil {
		t.Fatalf("Replay with rules: %v", err)
	}
	if sess.Repeat != matgto.RepeatReuse || sess.OnExhausted != matgto.ExhaustedError {
		t.Errorf("session policies repeat %v on-exhausted %v, want reuse / error", sess.Repeat, sess.OnExhausted)
	}
	for _, path := range []string{"/users/42?v=9&lang=en", "/users/7?lang=en", "/users/17?lang=en&v=1"} {
		if got := do(t, hc, "GET", up.URL+path, nil); !bytes.Equal(got.Body, rec.Body) {
			t.Errorf("GET %s: status %d body %q, want the recorded answer", path, got.Status, got.Body)
		}
	}
	if miss := do(t, hc, "GET", up.URL+"/users/7?lang=fr", nil); miss.Status != 599 {
		t.Errorf("another lang: status %d, want 599", miss.Status)
	}
}

// WithOptions is the escape hatch; later options modify it.
func TestWithOptionsEscapeHatch(t *testing.T) {
	c := dial(t, startServer(t, t.TempDir()))
	ctx := ctxFor(t)
	raw := &pb.CassetteOptions{
		OnMiss:      pb.MissPolicy_MISS_PASSTHROUGH,
		BodyStorage: pb.BodyStorage_DECODED,
		WsTiming:    pb.WsTiming_AS_RECORDED,
		WsSpeed:     2,
	}
	sess, err := c.StartRecording(ctx, "rules/raw", matgto.WithOptions(raw), matgto.WithRepeat(matgto.RepeatReuse))
	if err != nil {
		t.Fatalf("StartRecording(WithOptions): %v", err)
	}
	o := sess.Options
	if o.GetOnMiss() != pb.MissPolicy_MISS_PASSTHROUGH || o.GetBodyStorage() != pb.BodyStorage_DECODED ||
		o.GetWsTiming() != pb.WsTiming_AS_RECORDED || o.GetWsSpeed() != 2 || o.GetRepeat() != pb.RepeatPolicy_REUSE {
		t.Errorf("session options = %v, want the raw ones plus repeat reuse", o)
	}
	if raw.GetRepeat() != pb.RepeatPolicy_REPEAT_POLICY_UNSPECIFIED {
		t.Errorf("WithRepeat modified the caller's message")
	}
	if _, err := c.StopRecording(ctx); err != nil {
		t.Fatalf("StopRecording: %v", err)
	}
	cas, err := c.GetCassette(ctx, "rules/raw")
	if err != nil {
		t.Fatalf("GetCassette: %v", err)
	}
	if got := cas.GetOptions(); got.GetOnMiss() != pb.MissPolicy_MISS_PASSTHROUGH || got.GetRepeat() != pb.RepeatPolicy_REUSE {
		t.Errorf("stored options = %v, want on-miss passthrough, repeat reuse", got)
	}

	// The typed equivalents reach the server the same way.
	sess, err = c.StartRecording(ctx, "rules/typed", matgto.WithStoreDecoded(),
		matgto.WithWSTiming(matgto.WSTimingAsRecorded), matgto.WithWSSpeed(4),
		matgto.WithStreamTiming(matgto.WSTimingAsRecorded), matgto.WithStreamSpeed(3),
		matgto.WithRedact(matgto.RedactRules{Headers: []string{"X-Api-Key"}, JSONPointers: []string{"/password"},
			FormFields: []string{"secret"}, BodyPatterns: []string{`sk-[a-z0-9]+`}, DisableDefaults: true}),
		matgto.WithMatch(matgto.MatchRules{Fields: []matgto.MatchField{matgto.FieldMethod, matgto.FieldPath, matgto.FieldHeaders},
			Headers: []string{"Accept"}, IgnoreFormFields: []string{"nonce"}}))
	if err != nil {
		t.Fatalf("StartRecording(typed options): %v", err)
	}
	o = sess.Options
	if o.GetBodyStorage() != pb.BodyStorage_DECODED || o.GetWsTiming() != pb.WsTiming_AS_RECORDED || o.GetWsSpeed() != 4 ||
		o.GetStreamTiming() != pb.WsTiming_AS_RECORDED || o.GetStreamSpeed() != 3 ||
		!o.GetRedact().GetDisableDefaults() || len(o.GetRedact().GetBodyPatterns()) != 1 ||
		len(o.GetMatchRules().GetFields()) != 3 || o.GetMatchRules().GetBody() != pb.BodyMatch_BODY_FORM {
		t.Errorf("session options = %v", o)
	}
}

// The test helper passes its cassette options on.
func TestUseCassetteHelperOptions(t *testing.T) {
	c := dial(t, startServer(t, t.TempDir()))
	var sess *matgto.Session
	f := runFake(func(tb testing.TB) {
		sess = matgto.UseCassette(tb, "helper/options", matgto.WithClient(c),
			matgto.WithOnMiss(matgto.MissPassthrough), matgto.WithRepeat(matgto.RepeatReuse),
			matgto.WithMatch(matgto.MatchRules{Body: matgto.BodyIgnore}))
	})
	if len(f.fatals) != 0 {
		t.Fatalf("helper fatals: %q", f.fatals)
	}
	st, err := c.Status(ctxFor(t))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if s := st.FindSession(sess.ID()); s == nil || s.OnMiss != matgto.MissPassthrough || s.Repeat != matgto.RepeatReuse ||
		s.Options.GetMatchRules().GetBody() != pb.BodyMatch_BODY_IGNORE {
		t.Errorf("session %s = %+v, want the helper's options", sess.ID(), s)
	}
	f.runCleanups()
	if len(f.errors) != 0 {
		t.Errorf("helper errors: %q", f.errors)
	}
}
