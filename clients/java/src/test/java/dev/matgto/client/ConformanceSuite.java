package dev.matgto.client;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** Reads the shared conformance suite (clients/conformance/*.json); see its README.md. */
public final class ConformanceSuite {
  public static final String LANG = "java";

  private ConformanceSuite() {}

  /** The suite's folder: ../conformance from the client's folder (Maven's working directory). */
  public static Path dir() {
    Path p = Path.of(System.getProperty("user.dir")).resolve("../conformance").normalize();
    if (!Files.isDirectory(p)) {
      throw new IllegalStateException("conformance suite not found at " + p);
    }
    return p;
  }

  public static JsonObject load(String file) {
    try {
      return JsonParser.parseString(Files.readString(dir().resolve(file), StandardCharsets.UTF_8))
          .getAsJsonObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Skips (with its reason, also printed) a case that lists this client under "skip". */
  public static void skipIfListed(JsonObject c, String what) {
    if (c.has("skip") && c.getAsJsonObject("skip").has(LANG)) {
      skip(what, c.getAsJsonObject("skip").get(LANG).getAsString());
    }
  }

  public static void skip(String what, String reason) {
    System.out.println("conformance: SKIP " + what + ": " + reason);
    Assumptions.abort("conformance: " + reason);
  }

  /** A message of {@code builder}'s type from proto JSON. */
  @SuppressWarnings("unchecked")
  public static <M extends Message> M fromJson(JsonElement json, Message.Builder builder) {
    try {
      JsonFormat.parser().merge(json.toString(), builder);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("bad proto JSON in the suite: " + json, e);
    }
    return (M) builder.build();
  }
}
