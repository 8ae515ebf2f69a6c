package dev.matgto.client.junit;

import dev.matgto.client.Mode;
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

  /** Fail the test when replay could not answer a request (the server reports it as a miss). */
  boolean failOnMiss() default true;
}
