package dev.matgto.client;

import java.util.Objects;

/**
 * An RE2 rewrite applied to the URL of both the live and the recorded request before they are
 * compared: every match of {@code pattern} becomes {@code replacement} ({@code \1} refers to
 * groups), e.g. {@code "/users/[0-9]+"} → {@code "/users/N"}.
 */
public record UrlRewrite(String pattern, String replacement) {
  public UrlRewrite {
    Objects.requireNonNull(pattern, "pattern");
    Objects.requireNonNull(replacement, "replacement");
  }

  /** Parses the CLI form {@code PATTERN=>REPLACEMENT} (split at the first {@code =>}). */
  public static UrlRewrite parse(String rule) {
    int arrow = rule.indexOf("=>");
    if (arrow < 0) {
      throw new IllegalArgumentException(
          "URL rewrite '" + rule + "' is not of the form PATTERN=>REPLACEMENT");
    }
    return new UrlRewrite(rule.substring(0, arrow), rule.substring(arrow + 2));
  }

  dev.matgto.v1.UrlRewrite toProto() {
    return dev.matgto.v1.UrlRewrite.newBuilder()
        .setPattern(pattern)
        .setReplacement(replacement)
        .build();
  }
}
