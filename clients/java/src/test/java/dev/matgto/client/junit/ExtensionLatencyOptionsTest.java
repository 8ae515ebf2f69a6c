package dev.matgto.client.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.matgto.client.Latency;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The latency attributes of {@link MatgtoCassette} as cassette options: no server. */
class ExtensionLatencyOptionsTest {
  static class Fixture {
    @MatgtoCassette(latency = "300ms")
    void fixed() {}

    @MatgtoCassette(latency = "100ms±50ms")
    void jittered() {}

    @MatgtoCassette(latency = "as-recorded", latencyScale = 0.5)
    void scaled() {}

    @MatgtoCassette(latencyScale = 2)
    void scaleOnly() {}

    @MatgtoCassette(latency = "fast")
    void fast() {}

    @MatgtoCassette(latency = "300ms", latencyScale = 2)
    void contradiction() {}

    @MatgtoCassette(latency = "soon")
    void bad() {}

    @MatgtoCassette
    void none() {}
  }

  static dev.matgto.v1.CassetteOptions options(String method) throws Exception {
    return CassetteAnnotations.options(
            Fixture.class.getDeclaredMethod(method).getAnnotation(MatgtoCassette.class))
        .toProto();
  }

  @Test
  void latencyAttributesBecomeTheLatencyOption() throws Exception {
    assertEquals(Latency.fixed(Duration.ofMillis(300)).toProto(), options("fixed").getLatency());
    assertEquals(Latency.fixed(Duration.ofMillis(100), Duration.ofMillis(50)).toProto(),
        options("jittered").getLatency());
    assertEquals(Latency.asRecorded(0.5).toProto(), options("scaled").getLatency());
    assertEquals(Latency.asRecorded(2).toProto(), options("scaleOnly").getLatency(),
        "a scale alone means as-recorded");
    assertEquals(Latency.fast().toProto(), options("fast").getLatency());
    assertFalse(options("none").hasLatency(), "unset: the cassette's stored latency applies");
    assertThrows(IllegalArgumentException.class, () -> options("contradiction"));
    assertThrows(IllegalArgumentException.class, () -> options("bad"));
  }
}
