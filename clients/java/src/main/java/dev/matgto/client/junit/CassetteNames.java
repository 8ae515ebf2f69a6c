package dev.matgto.client.junit;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The names {@link MatgtoExtension} gives on a test's behalf: default cassette names, as
 * documented on {@link MatgtoCassette}, made safe for the server's name rules, and the session
 * {@code owner} that names the test.
 */
final class CassetteNames {
  /** The server's limit on {@code owner}. */
  static final int MAX_OWNER_BYTES = 256;

  private static final Pattern INVOCATION =
      Pattern.compile("\\[test-template-invocation:#(\\d+)]$");
  private static final Pattern NOT_ALLOWED = Pattern.compile("[^A-Za-z0-9._\\-+=@,\\[\\]]");
  /** Longest default name segment kept whole (file systems allow 255 bytes, with ".pb"). */
  private static final int MAX_SEGMENT = 200;
  /** The longest cassette name the server accepts (bytes). */
  private static final int MAX_NAME = 200;

  private CassetteNames() {}

  /** The test method's name, with {@code [N]} for the Nth invocation of a test template. */
  static String methodPart(ExtensionContext context) {
    return context.getRequiredTestMethod().getName() + invocationSuffix(context.getUniqueId());
  }

  /** A class-level {@link MatgtoCassette#value()} prefix, then the method part made safe. */
  static String underPrefix(String prefix, String methodPart) {
    return trimSlashes(prefix) + "/" + safeSegment(methodPart);
  }

  /** {@code pkg.Outer.Inner/method[N]}, each part made safe for the server's name rules. */
  static String defaultName(Class<?> testClass, String methodPart) {
    return safeName(List.of(classPart(testClass), methodPart));
  }

  /**
   * {@code parts} joined by {@code /}, each made a {@linkplain #safeSegment safe segment}, and the
   * whole cut to the server's {@value #MAX_NAME} bytes: a longer name keeps its first bytes and ends
   * with {@code -} and 8 hex digits of a hash of the original parts.
   */
  static String safeName(List<String> parts) {
    List<String> segments = new ArrayList<>();
    for (String p : parts) {
      segments.add(safeSegment(p));
    }
    String name = String.join("/", segments); // ASCII: characters are bytes
    if (name.length() <= MAX_NAME) {
      return name;
    }
    String suffix = "-" + hash8(String.join("/", parts));
    String cut = name.substring(0, MAX_NAME - suffix.length());
    while (cut.endsWith("/")) {
      cut = cut.substring(0, cut.length() - 1);
    }
    return cut + suffix;
  }

  /** The canonical name ({@code pkg.Outer.Inner}); the binary name for local/anonymous classes. */
  static String classPart(Class<?> testClass) {
    String canonical = testClass.getCanonicalName();
    return canonical != null ? canonical : testClass.getName();
  }

  /**
   * One name segment the server accepts: allowed characters kept, others replaced by {@code _}, no
   * {@code ..}, at most {@value #MAX_SEGMENT} characters. A segment that had to change ends with
   * {@code -} and 8 hex digits of a hash of the original, so distinct originals stay distinct.
   */
  static String safeSegment(String s) {
    String safe = NOT_ALLOWED.matcher(s).replaceAll("_");
    while (safe.contains("..")) {
      safe = safe.replace("..", "._");
    }
    if (safe.equals(".")) {
      safe = "_";
    }
    if (safe.equals(s) && !s.isEmpty() && s.length() <= MAX_SEGMENT) {
      return s;
    }
    if (safe.length() > MAX_SEGMENT - 9) {
      safe = safe.substring(0, MAX_SEGMENT - 9);
    }
    return safe + "-" + hash8(s);
  }

  /** {@code "junit <class>#<method> pid <pid>"}, the class shortened to fit 256 bytes. */
  static String owner(ExtensionContext context) {
    String testClass = context.getRequiredTestClass().getName();
    return owner(testClass, methodPart(context), ProcessHandle.current().pid());
  }

  static String owner(String testClass, String method, long pid) {
    String cls = testClass;
    String tail = "#" + method + " pid " + pid;
    String owner = "junit " + cls + tail;
    while (owner.getBytes(StandardCharsets.UTF_8).length > MAX_OWNER_BYTES && !cls.isEmpty()) {
      cls = cls.substring(1); // keep the end: the simple name is what people look for
      owner = "junit ..." + cls + tail;
    }
    byte[] bytes = owner.getBytes(StandardCharsets.UTF_8);
    if (bytes.length > MAX_OWNER_BYTES) { // an absurdly long method name: cut it
      owner = new String(bytes, 0, MAX_OWNER_BYTES, StandardCharsets.UTF_8);
      while (owner.getBytes(StandardCharsets.UTF_8).length > MAX_OWNER_BYTES
          || owner.endsWith("\uFFFD")) {
        owner = owner.substring(0, owner.length() - 1);
      }
    }
    return owner;
  }

  private static String invocationSuffix(String uniqueId) {
    Matcher m = INVOCATION.matcher(uniqueId);
    return m.find() ? "[" + m.group(1) + "]" : "";
  }

  private static String hash8(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return String.format("%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  private static String trimSlashes(String s) {
    String t = s;
    while (t.endsWith("/")) {
      t = t.substring(0, t.length() - 1);
    }
    return t;
  }
}
