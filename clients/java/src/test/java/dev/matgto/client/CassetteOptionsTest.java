package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The option builders and their wire form (no server needed). */
class CassetteOptionsTest {

  @Test
  void builderFillsTheProtoMessage() {
    dev.matgto.v1.CassetteOptions p =
        CassetteOptions.builder()
            .onExhausted(ExhaustedPolicy.ERROR)
            .repeat(RepeatPolicy.REUSE)
            .onMiss(MissPolicy.RECORD)
            .match(MatchRules.builder()
                .fields(MatchField.METHOD, MatchField.PATH, MatchField.HEADERS)
                .headers("Accept")
                .ignoreQueryParams("cb")
                .queryOrderInsensitive(true)
                .body(BodyMatch.FORM)
                .ignoreFormFields("nonce")
                .urlRewrite("/u/[0-9]+", "/u/N")
                .build())
            .redact(RedactRules.builder()
                .headers("X-Key").queryParams("token").jsonPointers("/pw").formFields("secret")
                .bodyPatterns("sk-[a-z]+").disableDefaults(true).build())
            .storeDecoded(true)
            .wsTiming(WsTiming.AS_RECORDED)
            .wsSpeed(3)
            .streamTiming(WsTiming.FAST)
            .streamSpeed(4)
            .build()
            .toProto();
    assertEquals(dev.matgto.v1.ExhaustedPolicy.EXHAUSTED_ERROR, p.getOnExhausted());
    assertEquals(dev.matgto.v1.RepeatPolicy.REUSE, p.getRepeat());
    assertEquals(dev.matgto.v1.MissPolicy.MISS_RECORD, p.getOnMiss());
    assertEquals(List.of(dev.matgto.v1.MatchField.METHOD, dev.matgto.v1.MatchField.PATH,
        dev.matgto.v1.MatchField.HEADERS), p.getMatchRules().getFieldsList());
    assertEquals(List.of("Accept"), p.getMatchRules().getHeadersList());
    assertEquals(List.of("cb"), p.getMatchRules().getIgnoreQueryParamsList());
    assertTrue(p.getMatchRules().getQueryOrderInsensitive());
    assertEquals(dev.matgto.v1.BodyMatch.BODY_FORM, p.getMatchRules().getBody());
    assertEquals(List.of("nonce"), p.getMatchRules().getIgnoreFormFieldsList());
    assertEquals("/u/[0-9]+", p.getMatchRules().getUrlRewrites(0).getPattern());
    assertEquals("/u/N", p.getMatchRules().getUrlRewrites(0).getReplacement());
    assertEquals(List.of("X-Key"), p.getRedact().getHeadersList());
    assertEquals(List.of("token"), p.getRedact().getQueryParamsList());
    assertEquals(List.of("/pw"), p.getRedact().getJsonPointersList());
    assertEquals(List.of("secret"), p.getRedact().getFormFieldsList());
    assertEquals(List.of("sk-[a-z]+"), p.getRedact().getBodyPatternsList());
    assertTrue(p.getRedact().getDisableDefaults());
    assertEquals(dev.matgto.v1.BodyStorage.DECODED, p.getBodyStorage());
    assertEquals(dev.matgto.v1.WsTiming.AS_RECORDED, p.getWsTiming());
    assertEquals(3.0, p.getWsSpeed());
    assertEquals(dev.matgto.v1.WsTiming.AS_FAST_AS_POSSIBLE, p.getStreamTiming());
    assertEquals(4.0, p.getStreamSpeed());
  }

  @Test
  void ignoredPointersOrFieldsImplyTheBodyMatch() {
    assertEquals(BodyMatch.JSON, MatchRules.builder().ignoreJsonPointers("/a").build().effectiveBody());
    assertEquals(dev.matgto.v1.BodyMatch.BODY_JSON,
        MatchRules.builder().ignoreJsonPointers("/a").build().toProto().getBody());
    assertEquals(BodyMatch.FORM, MatchRules.builder().ignoreFormFields("f").build().effectiveBody());
    assertEquals(BodyMatch.EXACT,
        MatchRules.builder().body(BodyMatch.EXACT).ignoreJsonPointers("/a").build().effectiveBody());
    assertEquals(dev.matgto.v1.BodyMatch.BODY_MATCH_UNSPECIFIED,
        MatchRules.builder().build().toProto().getBody());
  }

  @Test
  void escapeHatchStartsFromTheGeneratedMessage() {
    dev.matgto.v1.CassetteOptions raw =
        dev.matgto.v1.CassetteOptions.newBuilder().setOnMiss(dev.matgto.v1.MissPolicy.MISS_PASSTHROUGH).build();
    CassetteOptions o = CassetteOptions.builder(raw).repeat(RepeatPolicy.REUSE).build();
    assertEquals(dev.matgto.v1.MissPolicy.MISS_PASSTHROUGH, o.toProto().getOnMiss());
    assertEquals(dev.matgto.v1.RepeatPolicy.REUSE, o.toProto().getRepeat());
    assertEquals(dev.matgto.v1.RepeatPolicy.REPEAT_POLICY_UNSPECIFIED, raw.getRepeat(), "raw untouched");
    assertEquals(raw, CassetteOptions.of(raw).toProto());
    assertEquals(o, o.toBuilder().build());
    assertEquals(dev.matgto.v1.CassetteOptions.getDefaultInstance(), CassetteOptions.none().toProto());
  }

  @Test
  void urlRewriteParsesTheCliForm() {
    assertEquals(new UrlRewrite("/users/([0-9]+)", "/users/N=>x"),
        UrlRewrite.parse("/users/([0-9]+)=>/users/N=>x"));
    assertThrows(IllegalArgumentException.class, () -> UrlRewrite.parse("no arrow"));
    assertThrows(IllegalArgumentException.class, () -> CassetteOptions.builder().wsSpeed(-1));
    assertThrows(IllegalArgumentException.class, () -> CassetteOptions.builder().streamSpeed(-1));
  }

  @Test
  void rulesAreImmutable() {
    MatchRules r = MatchRules.builder().headers("A").build();
    assertThrows(UnsupportedOperationException.class, () -> r.headers().add("B"));
  }
}
