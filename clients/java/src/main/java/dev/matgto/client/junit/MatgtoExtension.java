package dev.matgto.client.junit;

import dev.matgto.client.BodyMatch;
import dev.matgto.client.CassetteOptions;
import dev.matgto.client.ExhaustedPolicy;
import dev.matgto.client.FailedPreconditionException;
import dev.matgto.client.MatchRules;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.MissPolicy;
import dev.matgto.client.RedactRules;
import dev.matgto.client.RepeatPolicy;
import dev.matgto.client.UrlRewrite;
import dev.matgto.client.WsTiming;
import dev.matgto.v1.Candidate;
import dev.matgto.v1.FieldDifference;
import dev.matgto.v1.Miss;
import dev.matgto.v1.SessionInfo;
import dev.matgto.v1.SessionSummary;
import java.lang.reflect.Method;
import java.net.http.HttpClient;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/** The JUnit 5 extension behind {@link MatgtoCassette}. */
public class MatgtoExtension implements BeforeEachCallback, AfterEachCallback, ParameterResolver {
  /** Configuration parameter (or system property) naming the server's control address. */
  public static final String SERVER_PARAMETER = MatgtoClient.ADDRESS_PROPERTY;

  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(MatgtoExtension.class);
  private static final Pattern INVOCATION =
      Pattern.compile("\\[test-template-invocation:#(\\d+)]$");
  private static final Pattern NOT_ALLOWED = Pattern.compile("[^A-Za-z0-9._\\-+=@,\\[\\]/]");

  @Override
  public void beforeEach(ExtensionContext context) {
    Settings settings = settings(context);
    MatgtoClient client = client(context);
    SessionInfo session =
        client.useCassette(settings.name, settings.annotation.mode(), options(settings.annotation));
    context.getStore(NAMESPACE).put(Settings.class, settings);
    context.getStore(NAMESPACE).put(SessionInfo.class, session);
  }

  @Override
  public void afterEach(ExtensionContext context) {
    Settings settings = context.getStore(NAMESPACE).remove(Settings.class, Settings.class);
    if (settings == null) {
      return; // beforeEach failed before a cassette was in use
    }
    SessionSummary summary;
    try {
      summary = client(context).stopRecording();
    } catch (FailedPreconditionException e) {
      return; // the test ended the cassette itself
    }
    if (settings.annotation.failOnMiss() && unanswered(summary.getSession()) > 0) {
      throw new AssertionError(describeMisses(settings.name, summary.getSession()));
    }
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    return type == MatgtoClient.class || type == HttpClient.class || type == SessionInfo.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    if (type == MatgtoClient.class) {
      return client(context);
    }
    if (type == HttpClient.class) {
      return rootStore(context)
          .getOrComputeIfAbsent(
              "http-client:" + serverAddress(context),
              k -> client(context).httpClientBuilder().build(),
              HttpClient.class);
    }
    if (type == SessionInfo.class) {
      SessionInfo session = context.getStore(NAMESPACE).get(SessionInfo.class, SessionInfo.class);
      if (session == null) {
        throw new ParameterResolutionException(
            "no matgto cassette is in use here (SessionInfo is only for test methods)");
      }
      return session;
    }
    throw new ParameterResolutionException("unsupported parameter type " + type);
  }

  // ---------------------------------------------------------------- options

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
    return b.build();
  }

  // ---------------------------------------------------------------- naming

  /** The cassette name for a test method, as documented on {@link MatgtoCassette}. */
  static Settings settings(ExtensionContext context) {
    Method method = context.getRequiredTestMethod();
    Class<?> testClass = context.getRequiredTestClass();
    Optional<MatgtoCassette> onMethod = AnnotationSupport.findAnnotation(method, MatgtoCassette.class);
    Optional<MatgtoCassette> onClass = findOnClass(testClass);
    MatgtoCassette effective =
        onMethod.orElseGet(
            () ->
                onClass.orElseThrow(
                    () -> new IllegalStateException("@MatgtoCassette not found for " + method)));

    String methodPart = method.getName() + invocationSuffix(context.getUniqueId());
    String name;
    if (onMethod.isPresent() && !onMethod.get().value().isEmpty()) {
      name = onMethod.get().value();
    } else if (onClass.isPresent() && !onClass.get().value().isEmpty()) {
      name = trimSlashes(onClass.get().value()) + "/" + sanitize(methodPart);
    } else {
      name = sanitize(classPart(testClass)) + "/" + sanitize(methodPart);
    }
    return new Settings(name, effective);
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

  private static String classPart(Class<?> testClass) {
    List<String> names = new ArrayList<>();
    for (Class<?> c = testClass; c != null; c = c.getEnclosingClass()) {
      names.add(0, c.getSimpleName());
    }
    return String.join(".", names);
  }

  private static String invocationSuffix(String uniqueId) {
    Matcher m = INVOCATION.matcher(uniqueId);
    return m.find() ? "[" + m.group(1) + "]" : "";
  }

  private static String sanitize(String s) {
    return NOT_ALLOWED.matcher(s).replaceAll("_");
  }

  private static String trimSlashes(String s) {
    String t = s;
    while (t.endsWith("/")) {
      t = t.substring(0, t.length() - 1);
    }
    return t;
  }

  // ---------------------------------------------------------------- client

  static String serverAddress(ExtensionContext context) {
    Optional<String> param =
        context.getConfigurationParameter(SERVER_PARAMETER).filter(s -> !s.isBlank());
    if (param.isPresent()) {
      return param.get().trim();
    }
    return MatgtoClient.defaultAddress();
  }

  private static ExtensionContext.Store rootStore(ExtensionContext context) {
    return context.getRoot().getStore(NAMESPACE);
  }

  private static MatgtoClient client(ExtensionContext context) {
    String address = serverAddress(context);
    return rootStore(context)
        .getOrComputeIfAbsent(
            "client:" + address, k -> new ClientResource(MatgtoClient.connect(address)),
            ClientResource.class)
        .client;
  }

  /** Closed with the root context: AutoCloseable for JUnit 5.13+, CloseableResource before. */
  @SuppressWarnings("deprecation")
  private static final class ClientResource
      implements ExtensionContext.Store.CloseableResource, AutoCloseable {
    final MatgtoClient client;

    ClientResource(MatgtoClient client) {
      this.client = client;
    }

    @Override
    public void close() {
      client.close();
    }
  }

  static final class Settings {
    final String name;
    final MatgtoCassette annotation;

    Settings(String name, MatgtoCassette annotation) {
      this.name = name;
      this.annotation = annotation;
    }
  }

  // ---------------------------------------------------------------- misses

  /**
   * Misses that got an error answer. With on-miss passthrough or record, a replay miss is
   * forwarded to the real upstream (counted in both missed and passed_through): not a failure.
   */
  static long unanswered(SessionInfo session) {
    if (session.getMode() != dev.matgto.v1.Mode.REPLAY) {
      return session.getMissed();
    }
    return Math.max(0, session.getMissed() - session.getPassedThrough());
  }

  /** A miss that was forwarded live (reason "no-match, recorded" or "..., passed through"). */
  static boolean answeredLive(Miss miss) {
    return miss.getReason().endsWith(", recorded") || miss.getReason().endsWith(", passed through");
  }

  static String describeMisses(String cassette, SessionInfo session) {
    StringBuilder sb = new StringBuilder();
    sb.append("matgto cassette '")
        .append(cassette)
        .append("' could not answer ")
        .append(unanswered(session))
        .append(" request(s):");
    for (Miss miss : session.getMissesList()) {
      if (answeredLive(miss)) {
        continue;
      }
      sb.append("\n  ").append(miss.getMethod()).append(' ').append(miss.getUrl());
      sb.append(" (").append(miss.getReason()).append(')');
      for (Candidate c : miss.getClosestList()) {
        sb.append("\n    closest #")
            .append(c.getInteractionIndex())
            .append(": ")
            .append(c.getMethod())
            .append(' ')
            .append(c.getUrl());
        for (FieldDifference d : c.getDifferencesList()) {
          sb.append("\n      ")
              .append(d.getField())
              .append(": recorded '")
              .append(d.getRecorded())
              .append("', live '")
              .append(d.getLive())
              .append('\'');
        }
      }
    }
    return sb.toString();
  }
}
