package dev.matgto.client.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.matgto.client.ConformanceNeutral;
import dev.matgto.client.ConformanceSuite;
import dev.matgto.v1.SessionSummary;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The conformance cases the JUnit extension answers (clients/conformance/names.json and the
 * summaries of status.json): default cassette names and the misses that fail a test.
 */
class ConformanceNamesTest {
  private static final JsonObject NAMES = ConformanceSuite.load("names.json");

  /** The extension makes each "/"-separated part of a name safe, as for class/method. */
  private static String cassetteName(String testName) {
    return CassetteNames.safeName(List.of(testName.split("/", -1)));
  }

  private static boolean accepted(String name) {
    Pattern segment = Pattern.compile(NAMES.get("segment").getAsString());
    if (name.getBytes(StandardCharsets.UTF_8).length > NAMES.get("max_bytes").getAsInt()) {
      return false;
    }
    for (String s : name.split("/", -1)) {
      if (!segment.matcher(s).matches() || s.replace(".", "").isEmpty()) {
        return false;
      }
    }
    return true;
  }

  @TestFactory
  Stream<DynamicTest> names() {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement v : NAMES.getAsJsonArray("valid")) {
      String n = v.getAsString();
      tests.add(
          DynamicTest.dynamicTest(
              "valid " + n,
              () -> {
                assertTrue(accepted(n), n);
                assertEquals(n, cassetteName(n));
              }));
    }
    Map<String, String> outs = new HashMap<>();
    boolean mayCollide =
        NAMES.has("distinct_skip") && NAMES.getAsJsonObject("distinct_skip").has(ConformanceSuite.LANG);
    for (JsonElement el : NAMES.getAsJsonArray("invalid")) {
      JsonObject c = el.getAsJsonObject();
      String n = c.get("name").getAsString();
      String label = "invalid " + n.substring(0, Math.min(40, n.length()));
      tests.add(
          DynamicTest.dynamicTest(
              label,
              () -> {
                ConformanceSuite.skipIfListed(c, label);
                assertFalse(accepted(n), n);
                String got = cassetteName(n);
                assertTrue(accepted(got), got);
                assertNotEquals(n, got);
                String other = outs.put(got, n);
                if (other != null && !mayCollide) {
                  fail(n + " and " + other + " both give " + got);
                }
              }));
    }
    return tests.stream();
  }

  @TestFactory
  Stream<DynamicTest> summaries() {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement el : ConformanceSuite.load("status.json").getAsJsonArray("summary")) {
      JsonObject c = el.getAsJsonObject();
      tests.add(
          DynamicTest.dynamicTest(
              c.get("name").getAsString(),
              () -> {
                ConformanceSuite.skipIfListed(c, c.get("name").getAsString());
                SessionSummary s = ConformanceSuite.fromJson(c.get("response"), SessionSummary.newBuilder());
                JsonObject got = ConformanceNeutral.summary(s);
                got.addProperty(
                    "failing_misses", MissReport.failingMisses(s.getSession()).size());
                ConformanceNeutral.expectSubset(c.get("expect"), got, "summary");
              }));
    }
    return tests.stream();
  }
}
