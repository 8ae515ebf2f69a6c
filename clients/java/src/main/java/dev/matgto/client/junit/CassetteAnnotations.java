package dev.matgto.client.junit;

import dev.matgto.client.BodyMatch;
import dev.matgto.client.CassetteOptions;
import dev.matgto.client.ExhaustedPolicy;
import dev.matgto.client.Latency;
import dev.matgto.client.MatchRules;
import dev.matgto.client.MissPolicy;
import dev.matgto.client.RedactRules;
import dev.matgto.client.RepeatPolicy;
import dev.matgto.client.UrlRewrite;
import dev.matgto.client.WsTiming;
import java.lang.reflect.Method;
import java.util.Optional;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * {@link MatgtoCassette} read for {@link MatgtoExtension}: where a test finds it (its method, else
 * its class or an enclosing one), the cassette it names, and the {@link CassetteOptions} its
 * attributes ask for.
 */
final class CassetteAnnotations {
  private CassetteAnnotations() {}

  /** Whether the test method or its class (or an enclosing one) carries {@link MatgtoCassette}. */
  static boolean hasCassette(ExtensionContext context) {
    return context.getTestMethod()
            .flatMap(m -> AnnotationSupport.findAnnotation(m, MatgtoCassette.class))
            .isPresent()
        || context.getTestClass().flatMap(CassetteAnnotations::findOnClass).isPresent();
  }

  /** The cassette for a test method, named as documented on {@link MatgtoCassette}. */
  static TestCassette testCassette(ExtensionContext context) {
    Method method = context.getRequiredTestMethod();
    Class<?> testClass = context.getRequiredTestClass();
    Optional<MatgtoCassette> onMethod = AnnotationSupport.findAnnotation(method, MatgtoCassette.class);
    Optional<MatgtoCassette> onClass = findOnClass(testClass);
    MatgtoCassette effective =
        onMethod.orElseGet(
            () ->
                onClass.orElseThrow(
                    () -> new IllegalStateException("@MatgtoCassette not found for " + method)));

    String methodPart = CassetteNames.methodPart(context);
    String name;
    if (onMethod.isPresent() && !onMethod.get().value().isEmpty()) {
      name = onMethod.get().value();
    } else if (onClass.isPresent() && !onClass.get().value().isEmpty()) {
      name = CassetteNames.underPrefix(onClass.get().value(), methodPart);
    } else {
      name = CassetteNames.defaultName(testClass, methodPart);
    }
    return new TestCassette(name, effective);
  }

  /** The cassette options an annotation asks for; attributes left at their default are unset. */
  static CassetteOptions options(MatgtoCassette a) {
    CassetteOptions.Builder b = CassetteOptions.builder();
    if (a.onExhausted() != ExhaustedPolicy.DEFAULT) {
      b.onExhausted(a.onExhausted());
    }
    if (a.repeat() != RepeatPolicy.DEFAULT) {
      b.repeat(a.repeat());
    }
    if (a.onMiss() != MissPolicy.DEFAULT) {
      b.onMiss(a.onMiss());
    }
    if (a.matchFields().length > 0
        || a.matchHeaders().length > 0
        || a.ignoreQueryParams().length > 0
        || a.queryOrderInsensitive()
        || a.matchBody() != BodyMatch.DEFAULT
        || a.ignoreJsonPointers().length > 0
        || a.ignoreFormFields().length > 0
        || a.urlRewrites().length > 0) {
      MatchRules.Builder m =
          MatchRules.builder()
              .fields(a.matchFields())
              .headers(a.matchHeaders())
              .ignoreQueryParams(a.ignoreQueryParams())
              .queryOrderInsensitive(a.queryOrderInsensitive())
              .body(a.matchBody())
              .ignoreJsonPointers(a.ignoreJsonPointers())
              .ignoreFormFields(a.ignoreFormFields());
      for (String rule : a.urlRewrites()) {
        m.urlRewrites(UrlRewrite.parse(rule));
      }
      b.match(m.build());
    }
    if (a.redactHeaders().length > 0
        || a.redactQueryParams().length > 0
        || a.redactJsonPointers().length > 0
        || a.redactFormFields().length > 0
        || a.redactBodyPatterns().length > 0
        || a.disableDefaultRedaction()) {
      b.redact(
          RedactRules.builder()
              .headers(a.redactHeaders())
              .queryParams(a.redactQueryParams())
              .jsonPointers(a.redactJsonPointers())
              .formFields(a.redactFormFields())
              .bodyPatterns(a.redactBodyPatterns())
              .disableDefaults(a.disableDefaultRedaction())
              .build());
    }
    if (a.storeDecoded()) {
      b.storeDecoded(true);
    }
    if (a.wsTiming() != WsTiming.DEFAULT) {
      b.wsTiming(a.wsTiming());
    }
    if (a.wsSpeed() != 0) {
      b.wsSpeed(a.wsSpeed());
    }
    if (a.streamTiming() != WsTiming.DEFAULT) {
      b.streamTiming(a.streamTiming());
    }
    if (a.streamSpeed() != 0) {
      b.streamSpeed(a.streamSpeed());
    }
    if (!a.latency().isBlank() || a.latencyScale() != 0) {
      b.latency(latency(a.latency(), a.latencyScale()));
    }
    return b.build();
  }

  /** {@link MatgtoCassette#latency()} and {@link MatgtoCassette#latencyScale()} as one setting. */
  static Latency latency(String text, double scale) {
    Latency l = text.isBlank() ? Latency.asRecorded() : Latency.parse(text);
    if (scale == 0) {
      return l;
    }
    if (l.mode() != dev.matgto.v1.LatencyMode.LATENCY_AS_RECORDED) {
      throw new IllegalArgumentException(
          "@MatgtoCassette(latencyScale) goes with latency = \"as-recorded\", not \"" + text + "\"");
    }
    return Latency.asRecorded(scale);
  }

  private static Optional<MatgtoCassette> findOnClass(Class<?> testClass) {
    for (Class<?> c = testClass; c != null; c = c.getEnclosingClass()) {
      Optional<MatgtoCassette> found = AnnotationSupport.findAnnotation(c, MatgtoCassette.class);
      if (found.isPresent()) {
        return found;
      }
    }
    return Optional.empty();
  }
}
