package dev.matgto.client.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.Candidate;
import dev.matgto.v1.FieldDifference;
import dev.matgto.v1.Miss;
import dev.matgto.v1.SessionInfo;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Default names, owners and miss messages: pure functions, no server. */
class ExtensionNamingTest {
  /** control.proto's rule: segments of [A-Za-z0-9._-+=@,[]] separated by "/", no "..". */
  private static final Pattern SERVER_NAME =
      Pattern.compile("[A-Za-z0-9._\\-+=@,\\[\\]]+(/[A-Za-z0-9._\\-+=@,\\[\\]]+)*");

  static void assertServerAccepts(String name) {
    assertTrue(SERVER_NAME.matcher(name).matches(), name);
    assertFalse(name.contains(".."), name);
    assertFalse(name.startsWith("/"), name);
    for (String segment : name.split("/")) {
      assertTrue(segment.getBytes(StandardCharsets.UTF_8).length + ".pb".length() <= 255, name);
    }
  }

  static class Outer {
    static class Inner {}
  }

  @Test
  void defaultNameIsTheFullyQualifiedClassAndTheMethod() {
    assertEquals("dev.matgto.client.junit.ExtensionNamingTest/plain",
        CassetteNames.defaultName(ExtensionNamingTest.class, "plain"));
    assertEquals("dev.matgto.client.junit.ExtensionNamingTest.Outer.Inner/m[3]",
        CassetteNames.defaultName(Outer.Inner.class, "m[3]"));
    Object anonymous = new Object() {};
    String a = CassetteNames.defaultName(anonymous.getClass(), "m");
    assertServerAccepts(a);
    assertTrue(a.startsWith("dev.matgto.client.junit.ExtensionNamingTest_1-"), a);
  }

  @Test
  void unsafeSegmentsAreReplacedAndStayDistinct() {
    assertEquals("plain", CassetteNames.safeSegment("plain"));
    String ae = CassetteNames.safeSegment("testÄ");
    String oe = CassetteNames.safeSegment("testÖ");
    assertServerAccepts(ae);
    assertTrue(ae.startsWith("test_-"), ae);
    assertNotEquals(ae, oe, "a hash of the original keeps them apart");
    assertServerAccepts(CassetteNames.safeSegment("a..b"));
    assertServerAccepts(CassetteNames.safeSegment(".."));
    assertServerAccepts(CassetteNames.safeSegment("."));
    assertServerAccepts(CassetteNames.safeSegment("x/y\u0001z"));
    String longName = "m".repeat(500);
    String l1 = CassetteNames.safeSegment(longName);
    assertServerAccepts(l1);
    assertNotEquals(l1, CassetteNames.safeSegment(longName + "n"));
  }

  @Test
  void ownerNamesTheTestAndThePidWithinTheServerLimit() {
    assertEquals("junit com.x.FooTest#bar[2] pid 4242",
        CassetteNames.owner("com.x.FooTest", "bar[2]", 4242));
    String longClass = "com.example." + "deeply.nested.".repeat(30) + "FooTest";
    String owner = CassetteNames.owner(longClass, "bar", 4242);
    assertTrue(owner.getBytes(StandardCharsets.UTF_8).length <= 256, owner);
    assertTrue(owner.startsWith("junit ...") && owner.endsWith(".FooTest#bar pid 4242"), owner);
    String hugeMethod = CassetteNames.owner("C", "ä".repeat(300), 1);
    assertTrue(hugeMethod.getBytes(StandardCharsets.UTF_8).length <= 256, hugeMethod);
  }

  @Test
  void onlyUnansweredMissesFailAndTheMessageExplainsThem() {
    Miss noMatch = Miss.newBuilder().setMethod("GET").setUrl("http://h/b").setReason("no-match")
        .addClosest(Candidate.newBuilder().setInteractionIndex(0).setMethod("GET")
            .setUrl("http://h/a").addDifferences(FieldDifference.newBuilder().setField("path")
                .setRecorded("/a").setLive("/b")))
        .build();
    Miss exhausted = Miss.newBuilder().setMethod("GET").setUrl("http://h/a")
        .setReason("exhausted").build();
    Miss ws = Miss.newBuilder().setMethod("GET").setUrl("ws://h/s").setReason("ws-mismatch").build();
    Miss passed = Miss.newBuilder().setMethod("GET").setUrl("http://h/c")
        .setReason("no-match, passed through").build();
    Miss recorded = Miss.newBuilder().setMethod("GET").setUrl("http://h/d")
        .setReason("no-match, recorded").build();
    SessionInfo s = SessionInfo.newBuilder().setId("s-0123456789abcdef")
        .setMode(dev.matgto.v1.Mode.REPLAY).setMissed(5)
        .addAllMisses(List.of(noMatch, passed, exhausted, recorded, ws)).build();

    assertEquals(List.of(noMatch, exhausted, ws), MissReport.failingMisses(s));
    String m = MissReport.describeMisses("c/x", s);
    assertTrue(m.startsWith("matgto cassette 'c/x' (session s-0123456789abcdef, replay) could not"
        + " answer 3 request(s):"), m);
    assertTrue(m.contains("GET http://h/b (no-match)"), m);
    assertTrue(m.contains("closest #0: GET http://h/a"), m);
    assertTrue(m.contains("path: recorded '/a', live '/b'"), m);
    assertTrue(m.contains("GET http://h/a (exhausted)"), m);
    assertTrue(m.contains("ws://h/s (ws-mismatch)"), m);
    assertFalse(m.contains("http://h/c"), "forwarded misses are not listed: " + m);

    SessionInfo onlyForwarded = SessionInfo.newBuilder().setMissed(2)
        .addAllMisses(List.of(passed, recorded)).build();
    assertTrue(MissReport.failingMisses(onlyForwarded).isEmpty());
  }
}
