package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.matgto.v1.GetStatusResponse;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The shared conformance suite (clients/conformance/*.json), run without a server: each neutral
 * case becomes the idiomatic Java call and the message the client would send is compared with the
 * case's proto JSON. Cases that list "java" under "skip" are skipped with their reason (printed).
 * Names and the failing-miss rule live in the JUnit extension: see
 * junit/ConformanceNamesTest.
 */
class ConformanceTest {
  private static final JsonObject OPTIONS = ConformanceSuite.load("options.json");

  private static String[] strings(JsonElement e) {
    List<String> out = new ArrayList<>();
    e.getAsJsonArray().forEach(x -> out.add(x.getAsString()));
    return out.toArray(new String[0]);
  }

  private static <E extends Enum<E>> E constant(Class<E> type, JsonElement neutral) {
    return Enum.valueOf(type, neutral.getAsString().toUpperCase(Locale.ROOT));
  }

  private static Duration ms(JsonElement e) {
    return Duration.ofNanos(Math.round(e.getAsDouble() * 1_000_000));
  }

  /** The neutral option set as the CassetteOptions builder. */
  static CassetteOptions idiomatic(JsonObject neutral) {
    CassetteOptions.Builder b = CassetteOptions.builder();
    for (Map.Entry<String, JsonElement> e : neutral.entrySet()) {
      JsonElement v = e.getValue();
      switch (e.getKey()) {
        case "on_exhausted" -> b.onExhausted(constant(ExhaustedPolicy.class, v));
        case "repeat" -> b.repeat(constant(RepeatPolicy.class, v));
        case "on_miss" -> b.onMiss(constant(MissPolicy.class, v));
        case "store_decoded" -> b.storeDecoded(v.getAsBoolean());
        case "ws_timing" -> b.wsTiming(constant(WsTiming.class, v));
        case "ws_speed" -> b.wsSpeed(v.getAsDouble());
        case "stream_timing" -> b.streamTiming(constant(WsTiming.class, v));
        case "stream_speed" -> b.streamSpeed(v.getAsDouble());
        case "match" -> b.match(matchRules(v.getAsJsonObject()));
        case "redact" -> b.redact(redactRules(v.getAsJsonObject()));
        case "latency" -> b.latency(latency(v.getAsJsonObject()));
        default -> fail("conformance: option " + e.getKey() + " is not mapped to CassetteOptions.Builder");
      }
    }
    return b.build();
  }

  private static MatchRules matchRules(JsonObject o) {
    MatchRules.Builder r = MatchRules.builder();
    for (Map.Entry<String, JsonElement> e : o.entrySet()) {
      JsonElement v = e.getValue();
      switch (e.getKey()) {
        case "fields" -> {
          List<MatchField> fields = new ArrayList<>();
          v.getAsJsonArray().forEach(f -> fields.add(constant(MatchField.class, f)));
          r.fields(fields.toArray(new MatchField[0]));
        }
        case "headers" -> r.headers(strings(v));
        case "ignore_query_params" -> r.ignoreQueryParams(strings(v));
        case "query_order_insensitive" -> r.queryOrderInsensitive(v.getAsBoolean());
        case "body" -> r.body(constant(BodyMatch.class, v));
        case "ignore_json_pointers" -> r.ignoreJsonPointers(strings(v));
        case "ignore_form_fields" -> r.ignoreFormFields(strings(v));
        case "url_rewrites" ->
            v.getAsJsonArray()
                .forEach(
                    x ->
                        r.urlRewrite(
                            x.getAsJsonObject().get("pattern").getAsString(),
                            x.getAsJsonObject().get("replacement").getAsString()));
        default -> fail("conformance: match." + e.getKey() + " is not mapped to MatchRules.Builder");
      }
    }
    return r.build();
  }

  private static RedactRules redactRules(JsonObject o) {
    RedactRules.Builder r = RedactRules.builder();
    for (Map.Entry<String, JsonElement> e : o.entrySet()) {
      JsonElement v = e.getValue();
      switch (e.getKey()) {
        case "headers" -> r.headers(strings(v));
        case "query_params" -> r.queryParams(strings(v));
        case "json_pointers" -> r.jsonPointers(strings(v));
        case "form_fields" -> r.formFields(strings(v));
        case "body_patterns" -> r.bodyPatterns(strings(v));
        case "disable_defaults" -> r.disableDefaults(v.getAsBoolean());
        case "json_keys" -> r.jsonKeys(strings(v));
        case "on_unredactable" -> r.onUnredactable(
            switch (v.getAsString()) {
              case "warn" -> UnredactablePolicy.WARN;
              case "refuse" -> UnredactablePolicy.REFUSE;
              default -> throw new AssertionError("on_unredactable " + v + " is not mapped");
            });
        default -> fail("conformance: redact." + e.getKey() + " is not mapped to RedactRules.Builder");
      }
    }
    return r.build();
  }

  private static Latency latency(JsonObject o) {
    Map.Entry<String, JsonElement> e = o.entrySet().iterator().next();
    JsonObject a = e.getValue().getAsJsonObject();
    return switch (e.getKey()) {
      case "fast" -> Latency.fast();
      case "as_recorded" ->
          a.has("scale") ? Latency.asRecorded(a.get("scale").getAsDouble()) : Latency.asRecorded();
      case "fixed" ->
          a.has("jitter_ms")
              ? Latency.fixed(ms(a.get("delay_ms")), ms(a.get("jitter_ms")))
              : Latency.fixed(ms(a.get("delay_ms")));
      default -> throw new AssertionError("conformance: latency form " + e.getKey() + " is not mapped");
    };
  }

  @TestFactory
  Stream<DynamicTest> options() {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement el : OPTIONS.getAsJsonArray("cases")) {
      JsonObject c = el.getAsJsonObject();
      String name = c.get("name").getAsString();
      tests.add(
          DynamicTest.dynamicTest(
              name,
              () -> {
                ConformanceSuite.skipIfListed(c, name);
                // What startRecording / replay / useCassette put in the request.
                dev.matgto.v1.CassetteOptions sent = idiomatic(c.getAsJsonObject("options")).toProto();
                dev.matgto.v1.CassetteOptions want =
                    ConformanceSuite.fromJson(c.get("expect"), dev.matgto.v1.CassetteOptions.newBuilder());
                assertEquals(want, sent, name);
              }));
    }
    for (JsonElement el : OPTIONS.getAsJsonArray("modes")) {
      JsonObject c = el.getAsJsonObject();
      tests.add(
          DynamicTest.dynamicTest(
              "mode " + c.get("mode").getAsString(),
              () ->
                  assertEquals(
                      dev.matgto.v1.Mode.valueOf(c.get("expect").getAsString()),
                      constant(Mode.class, c.get("mode")).toProto())));
    }
    return tests.stream();
  }

  private static void covered(Message m, Set<String> fields, Set<String> values) {
    for (Map.Entry<FieldDescriptor, Object> e : m.getAllFields().entrySet()) {
      FieldDescriptor fd = e.getKey();
      fields.add(fd.getFullName());
      List<?> items = fd.isRepeated() ? (List<?>) e.getValue() : List.of(e.getValue());
      for (Object item : items) {
        if (item instanceof EnumValueDescriptor ev) {
          values.add(ev.getType().getFullName() + "." + ev.getName());
        } else if (item instanceof Message sub) {
          covered(sub, fields, values);
        }
      }
    }
  }

  private static void walk(
      Descriptor d, List<String> fields, Map<String, EnumDescriptor> enums, Set<String> seen) {
    if (!seen.add(d.getFullName()) || d.getFullName().startsWith("google.protobuf.")) {
      return;
    }
    for (FieldDescriptor fd : d.getFields()) {
      fields.add(fd.getFullName());
      if (fd.getType() == FieldDescriptor.Type.ENUM) {
        enums.put(fd.getEnumType().getFullName(), fd.getEnumType());
      } else if (fd.getType() == FieldDescriptor.Type.MESSAGE) {
        walk(fd.getMessageType(), fields, enums, seen);
      }
    }
  }

  /** A field or enum value added to the protos fails here until a case (or unmapped.json) covers it. */
  @Test
  void everyProtoFieldAndEnumValueHasACase() {
    JsonObject unmapped = ConformanceSuite.load("unmapped.json");
    var file = dev.matgto.v1.GetStatusResponse.getDescriptor().getFile();
    List<String> fields = new ArrayList<>();
    Map<String, EnumDescriptor> enums = new TreeMap<>();
    Set<String> seen = new TreeSet<>();
    for (JsonElement name : unmapped.getAsJsonObject("roots").getAsJsonArray("messages")) {
      Descriptor d = find(file, name.getAsString()) instanceof Descriptor x ? x : null;
      assertNotNull(d, name.getAsString());
      walk(d, fields, enums, seen);
    }
    for (JsonElement name : unmapped.getAsJsonObject("roots").getAsJsonArray("enums")) {
      EnumDescriptor e = find(file, name.getAsString()) instanceof EnumDescriptor x ? x : null;
      assertNotNull(e, name.getAsString());
      enums.put(e.getFullName(), e);
    }
    Set<String> gotFields = new TreeSet<>();
    Set<String> gotValues = new TreeSet<>();
    for (JsonElement el : OPTIONS.getAsJsonArray("cases")) {
      covered(
          ConformanceSuite.fromJson(
              el.getAsJsonObject().get("expect"), dev.matgto.v1.CassetteOptions.newBuilder()),
          gotFields,
          gotValues);
    }
    for (JsonElement el : OPTIONS.getAsJsonArray("modes")) {
      gotValues.add("matgto.v1.Mode." + el.getAsJsonObject().get("expect").getAsString());
    }
    JsonObject status = ConformanceSuite.load("status.json");
    for (JsonElement el : status.getAsJsonArray("status")) {
      covered(
          ConformanceSuite.fromJson(
              el.getAsJsonObject().get("response"), GetStatusResponse.newBuilder()),
          gotFields,
          gotValues);
    }
    for (JsonElement el : status.getAsJsonArray("summary")) {
      covered(
          ConformanceSuite.fromJson(
              el.getAsJsonObject().get("response"), dev.matgto.v1.SessionSummary.newBuilder()),
          gotFields,
          gotValues);
    }
    for (JsonElement el : ConformanceSuite.load("faults.json").getAsJsonArray("cases")) {
      covered(
          ConformanceSuite.fromJson(
              el.getAsJsonObject().get("expect"), dev.matgto.v1.Fault.newBuilder()),
          gotFields,
          gotValues);
    }
    for (JsonElement el : ConformanceSuite.load("sessions.json").getAsJsonArray("cases")) {
      JsonObject c = el.getAsJsonObject();
      covered(
          ConformanceSuite.fromJson(c.get("expect"), requestBuilder(c.get("rpc").getAsString())),
          gotFields,
          gotValues);
    }
    List<String> missing = new ArrayList<>();
    for (String f : fields) {
      if (!gotFields.contains(f) && !unmapped.getAsJsonObject("fields").has(f)) {
        missing.add(f);
      }
    }
    for (EnumDescriptor e : enums.values()) {
      for (EnumValueDescriptor v : e.getValues()) {
        String full = e.getFullName() + "." + v.getName();
        if (v.getNumber() != 0
            && !gotValues.contains(full)
            && !unmapped.getAsJsonObject("enum_values").has(full)) {
          missing.add(full);
        }
      }
    }
    assertTrue(
        missing.isEmpty(),
        "no conformance case in clients/conformance/ (options, sessions, status, faults) covers "
            + String.join(", ", missing)
            + " (add a case, map it in every client, or list it in unmapped.json with a reason)");
  }

  /** A message or enum of the protos by full name (control.proto imports cassette.proto). */
  private static Object find(com.google.protobuf.Descriptors.FileDescriptor file, String fullName) {
    List<com.google.protobuf.Descriptors.FileDescriptor> files = new ArrayList<>(file.getDependencies());
    files.add(0, file);
    for (var f : files) {
      String pkg = f.getPackage() + ".";
      if (!fullName.startsWith(pkg)) {
        continue;
      }
      String simple = fullName.substring(pkg.length());
      if (f.findMessageTypeByName(simple) != null) {
        return f.findMessageTypeByName(simple);
      }
      if (f.findEnumTypeByName(simple) != null) {
        return f.findEnumTypeByName(simple);
      }
    }
    return null;
  }

  @TestFactory
  Stream<DynamicTest> errors() {
    JsonObject suite = ConformanceSuite.load("errors.json");
    String message = suite.get("message").getAsString();
    JsonObject kinds = suite.getAsJsonObject("kinds").getAsJsonObject(ConformanceSuite.LANG);
    List<DynamicTest> tests = new ArrayList<>();
    Set<String> codes = new TreeSet<>();
    for (JsonElement el : suite.getAsJsonArray("cases")) {
      JsonObject c = el.getAsJsonObject();
      String code = c.get("code").getAsString();
      String kind = c.get("kind").getAsString();
      codes.add(code);
      String label = code + (c.has("about") ? " " + c.get("about").getAsString() : "");
      tests.add(
          DynamicTest.dynamicTest(
              label,
              () -> {
                JsonElement type = kinds.get(kind);
                assertNotNull(type, "errors.json kinds.java does not name the exception of kind " + kind);
                if (type.isJsonObject()) {
                  ConformanceSuite.skip(label, type.getAsJsonObject().get("skip").getAsString());
                }
                Status.Code grpc = Status.Code.valueOf(code);
                // What the call named decides a NOT_FOUND's type, as MatgtoClient passes it.
                MatgtoException.NotFound about =
                    switch (c.has("about") ? c.get("about").getAsString() : "cassette") {
                      case "session" -> MatgtoException.NotFound.SESSION;
                      case "fault" -> MatgtoException.NotFound.FAULT;
                      default -> MatgtoException.NotFound.CASSETTE;
                    };
                MatgtoException e =
                    MatgtoException.fromStatus(
                        grpc.toStatus().withDescription(message), null, about, "s-1", List.of("f1"));
                assertEquals(type.getAsString(), e.getClass().getSimpleName());
                assertSame(grpc, e.getCode());
                assertTrue(e.getMessage().contains(message), e.getMessage());
              }));
    }
    tests.add(
        DynamicTest.dynamicTest(
            "every gRPC code has a case",
            () -> {
              List<String> missing = new ArrayList<>();
              for (Status.Code c : Status.Code.values()) {
                if (c != Status.Code.OK && !codes.contains(c.name())) {
                  missing.add(c.name());
                }
              }
              assertEquals(List.of(), missing);
            }));
    return tests.stream();
  }

  @TestFactory
  Stream<DynamicTest> proxyAddresses() {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement el : ConformanceSuite.load("proxy_addresses.json").getAsJsonArray("cases")) {
      JsonObject c = el.getAsJsonObject();
      String proxy = c.get("proxy").getAsString();
      String control = c.get("control").getAsString();
      String label = proxy + " via " + control;
      tests.add(
          DynamicTest.dynamicTest(
              label,
              () -> {
                ConformanceSuite.skipIfListed(c, label);
                // What Session.proxyUri() hands to HTTP clients (proxySelector() uses the same host).
                String url = HostPort.httpUrl(proxy, HostPort.hostOf(control));
                assertEquals(c.get("url").getAsString(), url);
              }));
    }
    return tests.stream();
  }

  private static Message.Builder requestBuilder(String rpc) {
    return switch (rpc) {
      case "StartRecording" -> dev.matgto.v1.StartRecordingRequest.newBuilder();
      case "Replay" -> dev.matgto.v1.ReplayRequest.newBuilder();
      case "UseCassette" -> dev.matgto.v1.UseCassetteRequest.newBuilder();
      default -> throw new AssertionError("conformance: rpc " + rpc + " is not mapped");
    };
  }

  /** The neutral session options as {@link SessionOptions}. */
  private static SessionOptions sessionOptions(JsonObject neutral) {
    SessionOptions.Builder b = SessionOptions.builder();
    for (Map.Entry<String, JsonElement> e : neutral.entrySet()) {
      JsonElement v = e.getValue();
      switch (e.getKey()) {
        case "new_session" -> b.newSession(v.getAsBoolean());
        case "lease_ms" -> b.lease(ms(v));
        case "owner" -> b.owner(v.getAsString());
        case "id" -> b.session(v.getAsString());
        default -> fail("conformance: session key " + e.getKey() + " is not mapped to SessionOptions");
      }
    }
    return b.build();
  }

  @TestFactory
  Stream<DynamicTest> sessions() {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement el : ConformanceSuite.load("sessions.json").getAsJsonArray("cases")) {
      JsonObject c = el.getAsJsonObject();
      String name = c.get("name").getAsString();
      tests.add(
          DynamicTest.dynamicTest(
              name,
              () -> {
                ConformanceSuite.skipIfListed(c, name);
                // What startRecording / replay / useCassette send.
                dev.matgto.v1.CassetteOptions options =
                    CassetteRequests.proto(
                        idiomatic(
                            c.has("options") ? c.getAsJsonObject("options") : new JsonObject()));
                SessionOptions so = sessionOptions(c.getAsJsonObject("session"));
                String cassette = c.get("cassette").getAsString();
                Message sent =
                    switch (c.get("rpc").getAsString()) {
                      case "StartRecording" ->
                          CassetteRequests.startRecordingRequest(cassette, options, so);
                      case "Replay" -> CassetteRequests.replayRequest(cassette, options, so);
                      default ->
                          CassetteRequests.useCassetteRequest(
                              cassette, constant(Mode.class, c.get("mode")), options, so);
                    };
                assertEquals(
                    ConformanceSuite.fromJson(
                        c.get("expect"), requestBuilder(c.get("rpc").getAsString())),
                    sent);
              }));
    }
    return tests.stream();
  }

  @TestFactory
  Stream<DynamicTest> faults() {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement el : ConformanceSuite.load("faults.json").getAsJsonArray("cases")) {
      JsonObject c = el.getAsJsonObject();
      tests.add(
          DynamicTest.dynamicTest(
              c.get("name").getAsString(),
              () -> {
                ConformanceSuite.skipIfListed(c, c.get("name").getAsString());
                dev.matgto.v1.Fault want =
                    ConformanceSuite.fromJson(c.get("expect"), dev.matgto.v1.Fault.newBuilder());
                // Decoded as the server returns it (setFaults, SessionInfos.faults).
                assertEquals(
                    c.get("fault"), ConformanceNeutral.fault(Fault.fromProtos(List.of(want)).get(0)));
                // Built and sent (setFaults sends Fault.toProtos).
                assertEquals(
                    want.toBuilder().clearId().clearApplied().build(),
                    Fault.toProtos(List.of(ConformanceNeutral.fault(c.getAsJsonObject("fault"))))
                        .get(0));
              }));
    }
    return tests.stream();
  }

  @TestFactory
  Stream<DynamicTest> status() {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement el : ConformanceSuite.load("status.json").getAsJsonArray("status")) {
      JsonObject c = el.getAsJsonObject();
      tests.add(
          DynamicTest.dynamicTest(
              c.get("name").getAsString(),
              () -> {
                ConformanceSuite.skipIfListed(c, c.get("name").getAsString());
                // The Java client hands out the generated GetStatusResponse.
                GetStatusResponse st =
                    ConformanceSuite.fromJson(c.get("response"), GetStatusResponse.newBuilder());
                ConformanceNeutral.expectSubset(
                    c.get("expect"), ConformanceNeutral.status(st), "status");
              }));
    }
    return tests.stream();
  }
}
