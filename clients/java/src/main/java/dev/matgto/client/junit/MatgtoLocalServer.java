package dev.matgto.client.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Starts a local {@code matgto serve} ({@link dev.matgto.client.LocalServer}) for the annotated
 * test class, before its first test needs it, and stops it after the class's last test. Every
 * {@link MatgtoCassette} test of the class (and of its {@code @Nested} classes) then talks to that
 * server instead of {@code matgto.server}, and test, {@code @BeforeAll} and {@code @BeforeEach}
 * methods may take the {@link dev.matgto.client.LocalServer} and the {@link
 * dev.matgto.client.MatgtoClient} as parameters.
 *
 * <pre>{@code
 * @MatgtoLocalServer
 * @MatgtoCassette
 * class WeatherTest {
 *   @Test
 *   void today(HttpClient http) throws Exception { ... } // through this test's session
 * }
 * }</pre>
 *
 * <p>The binary is {@link #binary()}, else environment variable {@code MATGTO_BIN}, else system
 * property {@code matgto.bin}, else {@code matgto} on {@code PATH}; ports are picked by the server;
 * cassettes live in a temporary folder unless {@link #args()} name one ({@code --cassette-dir}
 * comes last and wins). For one server for the whole test run instead, set the configuration
 * parameter (or system property) {@code matgto.server} to {@value MatgtoExtension#LOCAL_SERVER}.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(MatgtoExtension.class)
public @interface MatgtoLocalServer {
  /** More {@code matgto serve} flags, e.g. {@code {"--mode", "replay"}}. */
  String[] args() default {};

  /** The server binary; empty for {@code MATGTO_BIN}, {@code -Dmatgto.bin}, then {@code PATH}. */
  String binary() default "";
}
