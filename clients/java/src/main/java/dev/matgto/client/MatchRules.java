package dev.matgto.client;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Which requests are "the same" (CLI: {@code --match-fields}, {@code --match-body}, {@code
 * --ignore-json}...). Everything unset compares method, scheme, host, port, path, query and body
 * exactly. Build with {@link #builder()}:
 *
 * <pre>{@code
 * MatchRules.builder().body(BodyMatch.JSON).ignoreJsonPointers("/meta/timestamp").build()
 * }</pre>
 *
 * @param fields the parts compared; empty means all but {@link MatchField#HEADERS}
 * @param headers with {@link MatchField#HEADERS}: the header names compared (case-insensitive)
 * @param ignoreQueryParams query parameters left out of the comparison
 * @param queryOrderInsensitive {@code a=1&b=2} equals {@code b=2&a=1}
 * @param body how bodies are compared
 * @param ignoreJsonPointers RFC 6901 pointers left out of a JSON comparison; they imply {@link
 *     BodyMatch#JSON} when {@code body} is {@link BodyMatch#DEFAULT}
 * @param ignoreFormFields form fields left out of a form comparison; they imply {@link
 *     BodyMatch#FORM} when {@code body} is {@link BodyMatch#DEFAULT}
 * @param urlRewrites applied, in order, to both URLs before comparing
 */
public record MatchRules(
    List<MatchField> fields,
    List<String> headers,
    List<String> ignoreQueryParams,
    boolean queryOrderInsensitive,
    BodyMatch body,
    List<String> ignoreJsonPointers,
    List<String> ignoreFormFields,
    List<UrlRewrite> urlRewrites) {

  public MatchRules {
    fields = List.copyOf(fields);
    headers = List.copyOf(headers);
    ignoreQueryParams = List.copyOf(ignoreQueryParams);
    body = Objects.requireNonNull(body, "body");
    ignoreJsonPointers = List.copyOf(ignoreJsonPointers);
    ignoreFormFields = List.copyOf(ignoreFormFields);
    urlRewrites = List.copyOf(urlRewrites);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The wire message. */
  public dev.matgto.v1.MatchRules toProto() {
    dev.matgto.v1.MatchRules.Builder m =
        dev.matgto.v1.MatchRules.newBuilder()
            .addAllHeaders(headers)
            .addAllIgnoreQueryParams(ignoreQueryParams)
            .setQueryOrderInsensitive(queryOrderInsensitive)
            .setBody(effectiveBody().toProto())
            .addAllIgnoreJsonPointers(ignoreJsonPointers)
            .addAllIgnoreFormFields(ignoreFormFields);
    for (MatchField f : fields) {
      m.addFields(f.toProto());
    }
    for (UrlRewrite r : urlRewrites) {
      m.addUrlRewrites(r.toProto());
    }
    return m.build();
  }

  /** {@link #body()}, or what the ignored pointers or fields imply (as the CLI does). */
  public BodyMatch effectiveBody() {
    if (body != BodyMatch.DEFAULT) {
      return body;
    }
    if (!ignoreJsonPointers.isEmpty()) {
      return BodyMatch.JSON;
    }
    if (!ignoreFormFields.isEmpty()) {
      return BodyMatch.FORM;
    }
    return BodyMatch.DEFAULT;
  }

  /** Builds {@link MatchRules}; list setters add to what was given before. */
  public static final class Builder {
    private final List<MatchField> fields = new ArrayList<>();
    private final List<String> headers = new ArrayList<>();
    private final List<String> ignoreQueryParams = new ArrayList<>();
    private boolean queryOrderInsensitive;
    private BodyMatch body = BodyMatch.DEFAULT;
    private final List<String> ignoreJsonPointers = new ArrayList<>();
    private final List<String> ignoreFormFields = new ArrayList<>();
    private final List<UrlRewrite> urlRewrites = new ArrayList<>();

    private Builder() {}

    public Builder fields(MatchField... fields) {
      this.fields.addAll(Arrays.asList(fields));
      return this;
    }

    public Builder headers(String... names) {
      headers.addAll(Arrays.asList(names));
      return this;
    }

    public Builder ignoreQueryParams(String... names) {
      ignoreQueryParams.addAll(Arrays.asList(names));
      return this;
    }

    public Builder queryOrderInsensitive(boolean insensitive) {
      queryOrderInsensitive = insensitive;
      return this;
    }

    public Builder body(BodyMatch body) {
      this.body = Objects.requireNonNull(body, "body");
      return this;
    }

    public Builder ignoreJsonPointers(String... pointers) {
      ignoreJsonPointers.addAll(Arrays.asList(pointers));
      return this;
    }

    public Builder ignoreFormFields(String... names) {
      ignoreFormFields.addAll(Arrays.asList(names));
      return this;
    }

    /** Adds a rewrite of every match of the RE2 {@code pattern} into {@code replacement}. */
    public Builder urlRewrite(String pattern, String replacement) {
      urlRewrites.add(new UrlRewrite(pattern, replacement));
      return this;
    }

    public Builder urlRewrites(UrlRewrite... rewrites) {
      urlRewrites.addAll(Arrays.asList(rewrites));
      return this;
    }

    public MatchRules build() {
      return new MatchRules(
          fields,
          headers,
          ignoreQueryParams,
          queryOrderInsensitive,
          body,
          ignoreJsonPointers,
          ignoreFormFields,
          urlRewrites);
    }
  }
}
