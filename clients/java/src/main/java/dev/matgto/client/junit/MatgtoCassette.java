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
 * Runs each test with a matgto cassette in use: {@code UseCassette} before the test, {@code
 * StopRecording} after it.
 *
 * <p>Cassette name: on a method, {@link #value()} is the exact name; on a class, it is a folder
 * and each test gets {@code value/methodName}. Without a value the name is {@code
 * TestClass/methodName} (nested classes as {@code Outer.Inner}; repeated and parameterized
 * invocations get {@code methodName[N]}). A method annotation overrides the class's mode.
 *
 * <p>The server is the one at configuration parameter or system property {@code matgto.server},
 * else environment variable {@code MATGTO_SERVER}, else {@code 127.0.0.1:8889}. Test methods may
 * take a {@link dev.matgto.client.MatgtoClient}, a {@link java.net.http.HttpClient} already
 * routed through the proxy, or the {@link dev.matgto.v1.SessionInfo} of the cassette in use.
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
   * Fail the test when replay answered a request with a miss error (requests that {@link
   * #onMiss()} passthrough or record forwarded to the upstream do not count).
   */
  boolean failOnMiss() default true;

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

  /** WebSocket replay pacing. */
  WsTiming wsTiming() default WsTiming.DEFAULT;

  /** With {@link WsTiming#AS_RECORDED}: 2 replays twice as fast; 0 keeps the default. */
  double wsSpeed() default 0;
}
