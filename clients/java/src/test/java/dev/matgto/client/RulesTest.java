package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.Cassette;
import dev.matgto.v1.HttpRequest;
import dev.matgto.v1.SessionInfo;
import io.grpc.Status;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Matching, miss and redaction rules against the real server. */
class RulesTest extends ServerTestBase {

  static HttpResponse<byte[]> post(URI uri, String body) throws Exception {
    return http.send(
        java.net.http.HttpRequest.newBuilder(uri)
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  @Test
  void jsonBodyRuleIgnoresAPointer() throws Exception {
    URI uri;
    HttpResponse<byte[]> recorded;
    CassetteOptions rules =
        CassetteOptions.builder()
            .match(MatchRules.builder().ignoreJsonPointers("/meta/ts").build()) // implies JSON
            .build();
    try (Upstream upstream = new Upstream()) {
      uri = upstream.uri("/orders");
      SessionInfo s = client.startRecording("rules/json", rules);
      assertEquals(dev.matgto.v1.BodyMatch.BODY_JSON, s.getOptions().getMatchRules().getBody());
      recorded = post(uri, "{\"item\":\"tea\",\"qty\":2,\"meta\":{\"ts\":\"2024-01-01T00:00:00Z\"}}");
      assertEquals(200, recorded.statusCode());
      client.stopRecording();
    }

    client.replay("rules/json"); // the stored rules apply
    HttpResponse<byte[]> same =
        post(uri, "{ \"meta\": {\"ts\": \"2031-05-05T12:00:00Z\"}, \"qty\": 2.0, \"item\": \"tea\" }");
    assertEquals(200, same.statusCode(), () -> new String(same.body(), StandardCharsets.UTF_8));
    assertArrayEquals(recorded.body(), same.body(), "a body differing only at /meta/ts matches");
    assertEquals(599, post(uri, "{\"item\":\"coffee\",\"qty\":2,\"meta\":{\"ts\":\"x\"}}").statusCode(),
        "a difference elsewhere misses");
    client.stopRecording();

    // Replay options override the stored ones, field by field.
    SessionInfo exact =
        client.replay("rules/json",
            CassetteOptions.builder().match(MatchRules.builder().body(BodyMatch.EXACT).build()).build());
    assertEquals(dev.matgto.v1.BodyMatch.BODY_EXACT, exact.getOptions().getMatchRules().getBody());
    assertEquals(599, post(uri, "{\"item\":\"tea\",\"qty\":2,\"meta\":{\"ts\":\"other\"}}").statusCode());
  }

  @Test
  void onMissRecordAppendsANewEpisode() throws Exception {
    URI first;
    URI second;
    byte[] secondBody;
    try (Upstream upstream = new Upstream()) {
      first = upstream.uri("/text/first");
      second = upstream.uri("/text/second");
      client.startRecording("rules/episodes");
      byte[] firstBody = get(first).body();
      client.stopRecording();

      SessionInfo s =
          client.replay("rules/episodes", CassetteOptions.builder().onMiss(MissPolicy.RECORD).build());
      assertEquals(dev.matgto.v1.MissPolicy.MISS_RECORD, s.getOptions().getOnMiss());
      assertArrayEquals(firstBody, get(first).body(), "the recorded request is replayed");
      HttpResponse<byte[]> live = get(second);
      assertEquals(200, live.statusCode());
      secondBody = live.body();
      assertTrue(new String(secondBody, StandardCharsets.UTF_8).contains("GET /text/second"));
      assertEquals(2, upstream.calls(), "only the miss reached the upstream");
      client.stopRecording();
    }

    Cassette cassette = client.getCassette("rules/episodes");
    assertEquals(2, cassette.getInteractionsCount(), "the miss was appended");
    assertTrue(cassette.getInteractions(1).getHttp().getRequest().getUrl().endsWith("/text/second"));

    client.replay("rules/episodes"); // upstream gone: the new episode replays
    assertArrayEquals(secondBody, get(second).body());
  }

  @Test
  void redactedQueryParamStaysOutOfTheCassette() throws Exception {
    String secret = "s3cr3t-t0ken-value";
    byte[] recorded;
    URI other;
    try (Upstream upstream = new Upstream()) {
      client.startRecording("rules/redacted",
          CassetteOptions.builder().redact(RedactRules.builder().queryParams("token").build()).build());
      recorded = get(upstream.uri("/quiet/search?q=tea&token=" + secret)).body();
      assertEquals(List.of("q=tea&token=" + secret), upstream.queries(),
          "the upstream gets the real token (redaction applies to what is stored)");
      client.stopRecording();
      other = upstream.uri("/quiet/search?q=tea&token=another-one");
    }

    Cassette cassette = client.getCassette("rules/redacted");
    assertFalse(cassette.toByteString().toStringUtf8().contains(secret),
        () -> "the secret is in the cassette: " + cassette);
    HttpRequest stored = cassette.getInteractions(0).getHttp().getRequest();
    assertTrue(stored.getUrl().contains("q=tea") && stored.getUrl().contains("token="), stored.getUrl());

    client.replay("rules/redacted"); // a live request is redacted before matching
    assertArrayEquals(recorded, get(other).body(), "another token matches");
  }

  @Test
  void badRe2RewriteIsInvalidArgument() {
    CassetteOptions bad =
        CassetteOptions.builder()
            .match(MatchRules.builder().urlRewrite("/users/([0-9]+", "/users/N").build())
            .build();
    InvalidArgumentException e =
        assertThrows(InvalidArgumentException.class, () -> client.startRecording("rules/bad", bad));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getCode());
    assertFalse(e.getServerMessage().isBlank(), "the server explains the bad rule");
    assertThrows(InvalidArgumentException.class, () -> client.useCassette("rules/bad", Mode.AUTO, bad));
    assertThrows(InvalidArgumentException.class,
        () -> client.startRecording("rules/bad", CassetteOptions.builder()
            .redact(RedactRules.builder().bodyPatterns("[unclosed").build()).build()));
    assertThrows(InvalidArgumentException.class,
        () -> client.startRecording("rules/bad", CassetteOptions.builder()
            .match(MatchRules.builder().ignoreJsonPointers("no-leading-slash").build()).build()));

    client.startRecording("rules/good");
    client.stopRecording();
    assertThrows(InvalidArgumentException.class, () -> client.replay("rules/good", bad),
        "replay validates its overrides");
    assertFalse(client.status().hasSession(), "rejected calls leave no session");
  }

  @Test
  void urlRewriteAndRepeatReuse() throws Exception {
    byte[] recorded;
    URI base;
    try (Upstream upstream = new Upstream()) {
      base = upstream.uri("/");
      client.startRecording("rules/rewrite");
      recorded = get(base.resolve("/users/17?lang=en&v=1")).body();
      client.stopRecording();
    }
    SessionInfo s =
        client.replay("rules/rewrite",
            CassetteOptions.builder()
                .match(MatchRules.builder()
                    .urlRewrite("/users/[0-9]+", "/users/N")
                    .ignoreQueryParams("v")
                    .queryOrderInsensitive(true)
                    .build())
                .repeat(RepeatPolicy.REUSE)
                .onExhausted(ExhaustedPolicy.ERROR)
                .build());
    assertEquals(dev.matgto.v1.RepeatPolicy.REUSE, s.getOptions().getRepeat());
    for (String path : List.of("/users/42?v=9&lang=en", "/users/7?lang=en", "/users/17?lang=en&v=1")) {
      assertArrayEquals(recorded, get(base.resolve(path)).body(), path);
    }
    assertEquals(599, get(base.resolve("/users/7?lang=fr")).statusCode());
  }

  @Test
  void escapeHatchAndTypedOptionsReachTheServer() {
    dev.matgto.v1.CassetteOptions raw =
        dev.matgto.v1.CassetteOptions.newBuilder()
            .setOnMiss(dev.matgto.v1.MissPolicy.MISS_PASSTHROUGH)
            .setWsSpeed(2)
            .build();
    SessionInfo s =
        client.startRecording("rules/raw",
            CassetteOptions.builder(raw)
                .repeat(RepeatPolicy.REUSE)
                .storeDecoded(true)
                .wsTiming(WsTiming.AS_RECORDED)
                .redact(RedactRules.builder().headers("X-Api-Key").disableDefaults(true).build())
                .build());
    dev.matgto.v1.CassetteOptions o = s.getOptions();
    assertEquals(dev.matgto.v1.MissPolicy.MISS_PASSTHROUGH, o.getOnMiss());
    assertEquals(dev.matgto.v1.RepeatPolicy.REUSE, o.getRepeat());
    assertEquals(dev.matgto.v1.BodyStorage.DECODED, o.getBodyStorage());
    assertEquals(dev.matgto.v1.WsTiming.AS_RECORDED, o.getWsTiming());
    assertEquals(2.0, o.getWsSpeed());
    assertTrue(o.getRedact().getDisableDefaults());
    client.stopRecording();
    assertEquals(dev.matgto.v1.RepeatPolicy.REUSE,
        client.getCassette("rules/raw").getOptions().getRepeat(), "stored with the cassette");

    // The generated message is accepted directly too.
    SessionInfo direct = client.replay("rules/raw", raw);
    assertEquals(dev.matgto.v1.MissPolicy.MISS_PASSTHROUGH, direct.getOptions().getOnMiss());
  }
}
