package dev.matgto.client;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What is removed before anything is written (CLI: {@code --redact-header}, {@code
 * --redact-query}...). Every redacted value becomes {@code [REDACTED]}; the same rules are applied
 * to a live request before it is matched, so redacted cassettes still match. The default rules
 * (credential headers) stay on unless {@code disableDefaults} is set.
 *
 * <pre>{@code
 * RedactRules.builder().queryParams("token").jsonPointers("/password").build()
 * }</pre>
 *
 * @param headers header names, in addition to the defaults (case-insensitive)
 * @param queryParams query parameter names
 * @param jsonPointers RFC 6901 pointers into JSON bodies (requests and responses)
 * @param formFields {@code application/x-www-form-urlencoded} field names
 * @param bodyPatterns RE2 patterns; every match in a (decoded) body is replaced
 * @param disableDefaults turn the default credential-header redaction off
 */
public record RedactRules(
    List<String> headers,
    List<String> queryParams,
    List<String> jsonPointers,
    List<String> formFields,
    List<String> bodyPatterns,
    boolean disableDefaults) {

  public RedactRules {
    headers = List.copyOf(headers);
    queryParams = List.copyOf(queryParams);
    jsonPointers = List.copyOf(jsonPointers);
    formFields = List.copyOf(formFields);
    bodyPatterns = List.copyOf(bodyPatterns);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The wire message. */
  public dev.matgto.v1.RedactRules toProto() {
    return dev.matgto.v1.RedactRules.newBuilder()
        .addAllHeaders(headers)
        .addAllQueryParams(queryParams)
        .addAllJsonPointers(jsonPointers)
        .addAllFormFields(formFields)
        .addAllBodyPatterns(bodyPatterns)
        .setDisableDefaults(disableDefaults)
        .build();
  }

  /** Builds {@link RedactRules}; list setters add to what was given before. */
  public static final class Builder {
    private final List<String> headers = new ArrayList<>();
    private final List<String> queryParams = new ArrayList<>();
    private final List<String> jsonPointers = new ArrayList<>();
    private final List<String> formFields = new ArrayList<>();
    private final List<String> bodyPatterns = new ArrayList<>();
    private boolean disableDefaults;

    private Builder() {}

    public Builder headers(String... names) {
      headers.addAll(Arrays.asList(names));
      return this;
    }

    public Builder queryParams(String... names) {
      queryParams.addAll(Arrays.asList(names));
      return this;
    }

    public Builder jsonPointers(String... pointers) {
      jsonPointers.addAll(Arrays.asList(pointers));
      return this;
    }

    public Builder formFields(String... names) {
      formFields.addAll(Arrays.asList(names));
      return this;
    }

    public Builder bodyPatterns(String... patterns) {
      bodyPatterns.addAll(Arrays.asList(patterns));
      return this;
    }

    public Builder disableDefaults(boolean disable) {
      disableDefaults = disable;
      return this;
    }

    public RedactRules build() {
      return new RedactRules(headers, queryParams, jsonPointers, formFields, bodyPatterns, disableDefaults);
    }
  }
}
