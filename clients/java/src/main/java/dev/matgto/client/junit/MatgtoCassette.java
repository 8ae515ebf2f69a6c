package dev.matgto.client.junit;

import dev.matgto.client.BodyMatch;
import dev.matgto.client.ExhaustedPolicy;
import dev.matgto.client.MatchField;
import dev.matgto.client.MissPolicy;
import dev.matgto.client.Mode;
import dev.matgto.client.RepeatPolicy;
import dev.matgto.client.WsTiming;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs each test in a matgto session of its own: before the test a <em>new</em> session is opened
 * on the server ({@code UseCassette} with {@code new_session}, its own proxy listener, a lease of
 * {@link #leaseSeconds()} renewed in the background, owner {@code "junit <class>#<method> pid
 * <pid>"}); after it the session is stopped ({@code StopRecording}), which saves a recording and
 * closes the session. Tests therefore run in parallel against one shared server ({@code
 * junit.jupiter.execution.parallel.enabled=true}), each with its own cassette and proxy.
 *
 * <p>Cassette name: on a method, {@link #value()} is the exact name; on a class, it is a folder
 * and each test gets {@code value/methodName}. Without a value the name is {@code
 * fully.qualified.TestClass/methodName} (nested classes as {@code pkg.Outer.Inner}; repeated and
 * parameterized invocations get {@code methodName[N]}); characters the server does not allow in a
 * name become {@code _} and the name then ends with {@code -} and a hash of the original, so two
 * tests never share a default name. A method annotation overrides the class's.
 *
 * <p>A replay miss (a request the cassette could not answer: reason {@code no-match}, {@code
 * exhausted} or {@code ws-mismatch}) fails the test with the explanation (method, URL, the closest
 * recorded requests and the fields that differ), unless {@link #failOnMiss()} is false, which makes
 * it a warning. A session lost during the test (its lease ran out) fails the test too.
 *
 * <p>The server is the one at configuration parameter or system property {@code matgto.server},
 * else environment variable {@code MATGTO_SERVER}, else {@code 127.0.0.1:8889}. Test methods (and
 * {@code @BeforeEach}/{@code @AfterEach} methods) may take:
 *
 * <ul>
 *   <li>{@link java.net.http.HttpClient} — routed through the session's own proxy (HTTP/1.1,
 *       trusting the server's interception CA);
 *   <li>{@link java.net.http.HttpClient.Builder} — the same settings, to add more before {@code
 *       build()};
 *   <li>{@link java.net.ProxySelector} — for {@code HttpClient.Builder.proxy} or any client taking
 *       one;
 *   <li>{@link java.net.InetSocketAddress} — the session's proxy address ({@code http://} + it is
 *       a proxy URL);
 *   <li>{@link dev.matgto.client.Session} — the session itself (id, proxy URL, lease, fault rules
 *       with {@code addFaults}/{@code clearFaults}, ...);
 *   <li>{@link dev.matgto.v1.SessionInfo} — the session as the server described it when opened;
 *   <li>{@link dev.matgto.client.MatgtoClient} — the control client (shared by all tests).
 * </ul>
 *
 * <p>The other attributes are the cassette options of {@link dev.matgto.client.CassetteOptions}
 * (the flags of {@code matgto record --help}); those left at their defaults are not sent, so a
 * replayed cassette keeps its stored options:
 *
 * <pre>{@code
 * @MatgtoCassette(onMiss = MissPolicy.RECORD, ignoreJsonPointers = "/meta/timestamp",
 *     redactQueryParams = "token")
 * }</pre>
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(MatgtoExtension.class)
public @interface MatgtoCassette {
  /** The cassette name (method) or folder (class); empty for the default. */
  String value() default "";

  /** How the cassette is used; {@link Mode#AUTO} replays it when it exists, records it otherwise. */
  Mode mode() default Mode.AUTO;

  /**
   * Fail the test when replay could not answer a request (miss reason {@code no-match}, {@code
   * exhausted} or {@code ws-mismatch}; requests that {@link #onMiss()} passthrough or record
   * forwarded to the upstream do not count). False makes it a warning: the explanation is
   * published as report entry {@value MatgtoExtension#MISSES_REPORT_KEY} and logged.
   */
  boolean failOnMiss() default true;

  /**
   * Open a new session for each test (the default). False puts the cassette in use in the
   * server's default session instead (the one the shared proxy port and the CLI use): tests doing
   * so must not run in parallel with each other.
   */
  boolean newSession() default true;

  /**
   * Point the whole JVM at the test's session for the duration of the test ({@link
   * dev.matgto.client.JvmProxy}: the proxy system properties and the default SSL context trusting
   * the server's CA, restored after the test), for code under test that builds its own HTTP
   * clients. JVM-wide: not for tests running in parallel.
   */
  boolean jvmProxy() default false;

  /**
   * The lease of each test's session, in seconds (1 to 3600): the server ends the session when the
   * test JVM stops renewing it for that long (renewals happen every lease/3).
   */
  long leaseSeconds() default dev.matgto.client.Session.DEFAULT_LEASE_SECONDS;

  /** What replay does once every recorded answer to a request has been used. */
  ExhaustedPolicy onExhausted() default ExhaustedPolicy.DEFAULT;

  /** How recorded interactions are consumed: sequential or reuse. */
  RepeatPolicy repeat() default RepeatPolicy.DEFAULT;

  /** What replay does with a request nothing matches: error, passthrough or record. */
  MissPolicy onMiss() default MissPolicy.DEFAULT;

  // Matching (MatchRules); any of them set sends the whole rule set.

  /** The request parts compared; empty means all but headers. */
  MatchField[] matchFields() default {};

  /** With {@link MatchField#HEADERS}: the header names compared. */
  String[] matchHeaders() default {};

  /** Query parameters left out of matching. */
  String[] ignoreQueryParams() default {};

  /** Query parameters match in any order. */
  boolean queryOrderInsensitive() default false;

  /** How bodies are compared. */
  BodyMatch matchBody() default BodyMatch.DEFAULT;

  /** JSON pointers left out of body matching (imply {@link BodyMatch#JSON}). */
  String[] ignoreJsonPointers() default {};

  /** Form fields left out of body matching (imply {@link BodyMatch#FORM}). */
  String[] ignoreFormFields() default {};

  /** RE2 rewrites applied to both URLs before matching, as {@code "PATTERN=>REPLACEMENT"}. */
  String[] urlRewrites() default {};

  // Redaction (RedactRules); any of them set sends the whole rule set.

  /** Headers to redact, in addition to the default credential headers. */
  String[] redactHeaders() default {};

  /** Query parameters to redact. */
  String[] redactQueryParams() default {};

  /** JSON pointers to redact in bodies. */
  String[] redactJsonPointers() default {};

  /** Form fields to redact. */
  String[] redactFormFields() default {};

  /** RE2 patterns redacted in bodies. */
  String[] redactBodyPatterns() default {};

  /** Do not redact the usual credential headers. */
  boolean disableDefaultRedaction() default false;

  /** Store gzip/deflate/br bodies decoded (readable cassettes). */
  boolean storeDecoded() default false;

  /**
   * Replay latency, in the CLI's syntax ({@code matgto replay --latency}): {@code "fast"}, {@code
   * "as-recorded"}, {@code "300ms"}, {@code "100ms±50ms"}; empty keeps the cassette's stored
   * latency. See {@link dev.matgto.client.Latency#parse(String)}.
   */
  String latency() default "";

  /**
   * With {@code latency = "as-recorded"} (implied when {@link #latency()} is empty): the factor
   * applied to recorded times, 2 waiting twice as long; 0 keeps the default (1).
   */
  double latencyScale() default 0;

  /** WebSocket replay pacing. */
  WsTiming wsTiming() default WsTiming.DEFAULT;

  /** With {@link WsTiming#AS_RECORDED}: 2 replays twice as fast; 0 keeps the default. */
  double wsSpeed() default 0;

  /** Replay pacing of streamed HTTP bodies (Server-Sent Events, chunked bodies). */
  WsTiming streamTiming() default WsTiming.DEFAULT;

  /**
   * With {@code streamTiming = WsTiming.AS_RECORDED}: 2 replays twice as fast; 0 keeps the
   * default.
   */
  double streamSpeed() default 0;
}
