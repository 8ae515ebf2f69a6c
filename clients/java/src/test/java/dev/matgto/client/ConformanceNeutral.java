package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.matgto.v1.Candidate;
import dev.matgto.v1.FieldDifference;
import dev.matgto.v1.GetStatusResponse;
import dev.matgto.v1.Header;
import dev.matgto.v1.Miss;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import dev.matgto.v1.TlsStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The neutral forms of the conformance suite (status.json, faults.json; see its README.md): what
 * the Java client exposes about a status, a summary or a fault rule, rendered for comparison with
 * a case's {@code expect}. The client hands out the generated messages, with {@link SessionInfos}
 * and {@link Fault} as its readers.
 */
public final class ConformanceNeutral {
  private ConformanceNeutral() {}

  /** The neutral fault as the Java builder: {@code Fault.status(503).header(..).firstN(2)}. */
  public static Fault fault(JsonObject n) {
    Fault f;
    if (n.has("status")) {
      f = Fault.status(n.get("status").getAsInt());
    } else if (n.has("delay_ms")) {
      f = Fault.delay(Duration.ofMillis(n.get("delay_ms").getAsLong()));
    } else if (n.has("hang")) {
      f = Fault.hang();
    } else if (n.has("reset")) {
      f = Fault.reset(Reset.valueOf(n.get("reset").getAsString().toUpperCase(Locale.ROOT)));
    } else if (n.has("bandwidth")) {
      f = Fault.bandwidth(n.get("bandwidth").getAsLong());
    } else if (n.has("ws_drop_after") || n.has("ws_delay_ms")) {
      f = Fault.webSocket();
    } else {
      throw new AssertionError("conformance: no fault action in " + n);
    }
    for (Map.Entry<String, JsonElement> e : n.entrySet()) {
      JsonElement v = e.getValue();
      switch (e.getKey()) {
        case "headers" -> {
          for (JsonElement pair : v.getAsJsonArray()) {
            f = f.header(pair.getAsJsonArray().get(0).getAsString(),
                pair.getAsJsonArray().get(1).getAsString());
          }
        }
        case "body" -> f = f.body(v.getAsString());
        case "method" -> f = f.method(v.getAsString());
        case "url" -> f = f.url(v.getAsString());
        case "probability" -> f = f.probability(v.getAsDouble());
        case "every_nth" -> f = f.everyNth(v.getAsInt());
        case "first_n" -> f = f.firstN(v.getAsInt());
        case "ws_drop_after" -> f = f.dropAfterMessages(v.getAsInt());
        case "ws_delay_ms" -> f = f.delayMessages(Duration.ofMillis(v.getAsLong()));
        case "status", "delay_ms", "hang", "reset", "bandwidth", "id", "applied" -> { }
        default -> fail("conformance: fault key " + e.getKey() + " is not mapped to the Java Fault");
      }
    }
    return f;
  }

  /** What a decoded rule exposes (its readers; {@link Fault#toProto()} for the rest). */
  public static JsonObject fault(Fault f) {
    dev.matgto.v1.Fault p = f.toProto();
    JsonObject o = new JsonObject();
    if (!f.id().isEmpty()) {
      o.addProperty("id", f.id());
    }
    if (!f.method().isEmpty()) {
      o.addProperty("method", f.method());
    }
    if (!f.url().isEmpty()) {
      o.addProperty("url", f.url());
    }
    if (f.applied() != 0) {
      o.addProperty("applied", f.applied());
    }
    switch (p.getSelectorCase()) {
      case PROBABILITY -> o.addProperty("probability", p.getProbability());
      case EVERY_NTH -> o.addProperty("every_nth", p.getEveryNth());
      case FIRST_N -> o.addProperty("first_n", p.getFirstN());
      default -> { }
    }
    switch (f.kind()) {
      case STATUS -> {
        o.addProperty("status", p.getStatus().getCode());
        if (p.getStatus().getHeadersCount() > 0) {
          JsonArray headers = new JsonArray();
          for (Header h : p.getStatus().getHeadersList()) {
            JsonArray pair = new JsonArray();
            pair.add(h.getName());
            pair.add(h.getValue());
            headers.add(pair);
          }
          o.add("headers", headers);
        }
        if (!p.getStatus().getBody().isEmpty()) {
          o.addProperty("body", p.getStatus().getBody().toString(StandardCharsets.UTF_8));
        }
      }
      case DELAY -> o.addProperty("delay_ms", ProtoTime.toJava(p.getDelay()).toMillis());
      case HANG -> o.addProperty("hang", true);
      case RESET -> o.addProperty("reset",
          Reset.fromProto(p.getReset().getWhen()).name().toLowerCase(Locale.ROOT));
      case BANDWIDTH -> o.addProperty("bandwidth", p.getBandwidthBytesPerSecond());
      case WEBSOCKET -> {
        if (f.dropAfterMessages() != 0) {
          o.addProperty("ws_drop_after", f.dropAfterMessages());
        }
        if (!f.messageDelay().isZero()) {
          o.addProperty("ws_delay_ms", f.messageDelay().toMillis());
        }
      }
      default -> fail("conformance: a fault of kind " + f.kind() + " is not rendered");
    }
    return o;
  }

  private static long ms(Optional<Instant> t) {
    return t.map(Instant::toEpochMilli).orElse(0L);
  }

  private static JsonArray strings(Iterable<String> values) {
    JsonArray a = new JsonArray();
    values.forEach(a::add);
    return a;
  }

  public static JsonObject session(SessionInfo s) {
    JsonObject o = new JsonObject();
    o.addProperty("cassette", s.getCassette());
    o.addProperty("mode", s.getMode().name());
    o.addProperty("requested_mode", s.getRequestedMode().name());
    o.addProperty("recorded", s.getRecorded());
    o.addProperty("replayed", s.getReplayed());
    o.addProperty("missed", s.getMissed());
    o.addProperty("passed_through", s.getPassedThrough());
    o.addProperty("interactions", s.getInteractions());
    try {
      o.add("options", JsonParser.parseString(JsonFormat.printer().print(s.getOptions())));
    } catch (InvalidProtocolBufferException e) {
      throw new AssertionError(e);
    }
    JsonArray misses = new JsonArray();
    for (Miss m : s.getMissesList()) {
      JsonObject mo = new JsonObject();
      mo.addProperty("method", m.getMethod());
      mo.addProperty("url", m.getUrl());
      mo.addProperty("reason", m.getReason());
      JsonArray closest = new JsonArray();
      for (Candidate c : m.getClosestList()) {
        JsonObject co = new JsonObject();
        co.addProperty("interaction_index", c.getInteractionIndex());
        co.addProperty("method", c.getMethod());
        co.addProperty("url", c.getUrl());
        JsonArray diffs = new JsonArray();
        for (FieldDifference d : c.getDifferencesList()) {
          JsonObject d0 = new JsonObject();
          d0.addProperty("field", d.getField());
          d0.addProperty("recorded", d.getRecorded());
          d0.addProperty("live", d.getLive());
          diffs.add(d0);
        }
        co.add("differences", diffs);
        closest.add(co);
      }
      mo.add("closest", closest);
      misses.add(mo);
    }
    o.add("misses", misses);
    o.addProperty("id", s.getId());
    o.addProperty("proxy_address", s.getProxyAddress());
    o.addProperty("proxy_url", s.getProxyUrl());
    o.addProperty("owner", s.getOwner());
    o.addProperty("opened_at", ms(SessionInfos.openedAt(s)));
    o.addProperty("age", SessionInfos.age(s).toMillis());
    o.addProperty("lease", SessionInfos.lease(s).orElse(Duration.ZERO).toMillis());
    o.addProperty("lease_expires_at", ms(SessionInfos.leaseExpiresAt(s)));
    JsonArray faults = new JsonArray();
    SessionInfos.faults(s).forEach(f -> faults.add(fault(f)));
    o.add("faults", faults);
    o.addProperty("fault_seed", SessionInfos.faultSeed(s));
    return o;
  }

  /** The summary, without the test helper's {@code failing_misses} (the JUnit extension's). */
  public static JsonObject summary(SessionSummary s) {
    JsonObject o = new JsonObject();
    o.add("session", session(s.getSession()));
    o.addProperty("saved_path", s.getSavedPath());
    JsonArray unused = new JsonArray();
    s.getUnusedInteractionsList().forEach(unused::add);
    o.add("unused_interactions", unused);
    o.addProperty("end_reason", s.getEndReason());
    o.addProperty("ended_at", ms(SessionInfos.endedAt(s)));
    o.addProperty("save_error", s.getSaveError());
    o.add("warnings", strings(s.getWarningsList()));
    return o;
  }

  public static JsonObject status(GetStatusResponse st) {
    JsonObject o = new JsonObject();
    o.addProperty("version", st.getVersion());
    o.addProperty("proxy_address", st.getProxyAddress());
    o.addProperty("control_address", st.getControlAddress());
    o.addProperty("cassette_dir", st.getCassetteDir());
    o.addProperty("default_mode", st.getDefaultMode().name());
    o.add("session", session(st.getSession()));
    o.addProperty("uptime", ProtoTime.toJava(st.getUptime()).toMillis());
    o.addProperty("api_version", st.getApiVersion());
    TlsStatus tls = st.getTls();
    JsonObject t = new JsonObject();
    t.addProperty("ca_certificate_path", tls.getCaCertificatePath());
    t.add("no_intercept", strings(tls.getNoInterceptList()));
    t.addProperty("insecure_upstream", tls.getInsecureUpstream());
    t.addProperty("upstream_ca_file", tls.getUpstreamCaFile());
    o.add("tls", t);
    o.addProperty("reverse_upstream", st.getReverseUpstream());
    JsonArray sessions = new JsonArray();
    st.getSessionsList().forEach(s -> sessions.add(session(s)));
    o.add("sessions", sessions);
    JsonArray ended = new JsonArray();
    st.getEndedSessionsList().forEach(s -> ended.add(summary(s)));
    o.add("ended_sessions", ended);
    o.addProperty("max_sessions", st.getMaxSessions());
    return o;
  }

  /** Every value {@code want} names equals the client's (objects: the keys named; lists: every item). */
  public static void expectSubset(JsonElement want, JsonElement got, String path) {
    if (want.isJsonObject()) {
      assertTrue(got.isJsonObject(), path + ": the client exposes " + got + ", want an object");
      for (Map.Entry<String, JsonElement> e : want.getAsJsonObject().entrySet()) {
        JsonElement g = got.getAsJsonObject().get(e.getKey());
        if (g == null) {
          fail("conformance: " + path + "." + e.getKey()
              + " is not mapped (the client exposes no such value)");
        }
        expectSubset(e.getValue(), g, path + "." + e.getKey());
      }
    } else if (want.isJsonArray()) {
      assertTrue(got.isJsonArray() && got.getAsJsonArray().size() == want.getAsJsonArray().size(),
          path + ": got " + got + " want " + want);
      for (int i = 0; i < want.getAsJsonArray().size(); i++) {
        expectSubset(want.getAsJsonArray().get(i), got.getAsJsonArray().get(i), path + "[" + i + "]");
      }
    } else if (want.isJsonPrimitive() && want.getAsJsonPrimitive().isNumber()
        && got.isJsonPrimitive() && got.getAsJsonPrimitive().isNumber()) {
      assertEquals(0, want.getAsBigDecimal().compareTo(got.getAsBigDecimal()),
          path + ": got " + got + " want " + want);
    } else {
      assertEquals(want, got, path);
    }
  }
}
