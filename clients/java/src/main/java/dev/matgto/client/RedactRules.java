package dev.matgto.client;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

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
 * @param jsonKeys JSON member names redacted at any depth of a JSON body
 * @param onUnredactable what a recording does with an exchange whose body a rule cannot be applied
 *     to: {@link UnredactablePolicy#WARN} (store it and warn; the server's default), {@link
 *     UnredactablePolicy#REFUSE} (do not store it); {@link UnredactablePolicy#DEFAULT} leaves it to
 *     the server
 */
public record RedactRules(
    List<String> headers,
    List<String> queryParams,
    List<String> jsonPointers,
    List<String> formFields,
    List<String> bodyPatterns,
    boolean disableDefaults,
    List<String> jsonKeys,
    UnredactablePolicy onUnredactable) {

  public RedactRules {
    headers = List.copyOf(headers);
    queryParams = List.copyOf(queryParams);
    jsonPointers = List.copyOf(jsonPointers);
    formFields = List.copyOf(formFields);
    bodyPatterns = List.copyOf(bodyPatterns);
    jsonKeys = List.copyOf(jsonKeys);
    onUnredactable = Objects.requireNonNull(onUnredactable, "onUnredactable");
  }

  /** The rules without {@code jsonKeys} and {@code onUnredactable} (the server's defaults). */
  public RedactRules(
      List<String> headers,
      List<String> queryParams,
      List<String> jsonPointers,
      List<String> formFields,
      List<String> bodyPatterns,
      boolean disableDefaults) {
    this(
        headers,
        queryParams,
        jsonPointers,
        formFields,
        bodyPatterns,
        disableDefaults,
        List.of(),
        UnredactablePolicy.DEFAULT);
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
        .addAllJsonKeys(jsonKeys)
        .setOnUnredactable(onUnredactable.toProto())
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
    private final List<String> jsonKeys = new ArrayList<>();
    private UnredactablePolicy onUnredactable = UnredactablePolicy.DEFAULT;

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

    /** JSON member names redacted at any depth of a JSON body ({@code --redact-json-key}). */
    public Builder jsonKeys(String... names) {
      jsonKeys.addAll(Arrays.asList(names));
      return this;
    }

    /**
     * What a recording does with an exchange whose body a rule cannot be applied to ({@code
     * --on-unredactable}): warn (the default) or refuse to store it.
     */
    public Builder onUnredactable(UnredactablePolicy policy) {
      onUnredactable = Objects.requireNonNull(policy, "policy");
      return this;
    }

    public RedactRules build() {
      return new RedactRules(
          headers,
          queryParams,
          jsonPointers,
          formFields,
          bodyPatterns,
          disableDefaults,
          jsonKeys,
          onUnredactable);
    }
  }
}
