package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.matgto.v1.Cassette;
import dev.matgto.v1.CassetteInfo;
import dev.matgto.v1.Header;
import dev.matgto.v1.HttpExchange;
import dev.matgto.v1.HttpRequest;
import dev.matgto.v1.HttpResponse;
import dev.matgto.v1.Interaction;
import io.grpc.Status;
import java.net.URI;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** listCassettes / getCassette / putCassette / deleteCassette against the real server. */
class CassetteManagementTest extends ServerTestBase {

  private static List<String> names(List<CassetteInfo> infos) {
    return infos.stream().map(CassetteInfo::getName).sorted().collect(Collectors.toList());
  }

  @Test
  void listGetPutReplayDelete() throws Exception {
    URI a;
    URI b;
    byte[] aBody;
    byte[] bBody;
    try (Upstream upstream = new Upstream()) {
      a = upstream.uri("/text/a");
      b = upstream.uri("/binary/b");
      client.startRecording("mgmt/original");
      aBody = get(a).body();
      bBody = get(b).body();
      client.stopRecording();
    }
    client.startRecording("elsewhere/one");
    client.stopRecording();

    List<CassetteInfo> list = client.listCassettes("mgmt/");
    assertEquals(1, list.size(), list::toString);
    CassetteInfo info = list.get(0);
    assertEquals("mgmt/original", info.getName());
    assertEquals(2, info.getInteractions());
    assertTrue(info.getSizeBytes() > 0, "size");
    assertEquals("binary", info.getFormat());
    assertTrue(info.hasUpdatedAt(), "updated_at");
    assertTrue(names(client.listCassettes()).containsAll(List.of("mgmt/original", "elsewhere/one")));

    Cassette original = client.getCassette("mgmt/original");
    assertEquals("mgmt/original", original.getName());
    assertEquals(1, original.getSchemaVersion());
    assertTrue(original.getComplete());
    assertEquals(2, original.getInteractionsCount());
    assertArrayEquals(bBody, original.getInteractions(1).getHttp().getResponse().getBody().toByteArray());

    CassetteInfo put = client.putCassette("mgmt/copy", original);
    assertEquals("mgmt/copy", put.getName());
    assertEquals(2, put.getInteractions());
    assertEquals(List.of("mgmt/copy", "mgmt/original"), names(client.listCassettes("mgmt/")));
    Cassette copy = client.getCassette("mgmt/copy");
    assertEquals("mgmt/copy", copy.getName());
    assertEquals(original.getInteractionsList(), copy.getInteractionsList());

    // The upstream is gone: the copy answers.
    client.replay("mgmt/copy");
    assertArrayEquals(aBody, get(a).body());
    assertArrayEquals(bBody, get(b).body());

    FailedPreconditionException inUse =
        assertThrows(FailedPreconditionException.class, () -> client.deleteCassette("mgmt/copy"));
    assertEquals(Status.Code.FAILED_PRECONDITION, inUse.getCode());
    assertTrue(inUse.getServerMessage().contains("in use"), inUse.getServerMessage());
    assertThrows(FailedPreconditionException.class, () -> client.putCassette("mgmt/copy", original));
    client.stopRecording();

    client.deleteCassette("mgmt/copy");
    assertEquals(List.of("mgmt/original"), names(client.listCassettes("mgmt/")));
    CassetteNotFoundException gone =
        assertThrows(CassetteNotFoundException.class, () -> client.deleteCassette("mgmt/copy"));
    assertEquals(Status.Code.NOT_FOUND, gone.getCode());
    assertThrows(CassetteNotFoundException.class, () -> client.getCassette("mgmt/copy"));
    assertThrows(CassetteNotFoundException.class, () -> client.replay("mgmt/copy"));
  }

  @Test
  void badNamesAreInvalid() {
    assertThrows(InvalidArgumentException.class, () -> client.getCassette("../x"));
    assertThrows(InvalidArgumentException.class, () -> client.deleteCassette("../x"));
    assertThrows(InvalidArgumentException.class,
        () -> client.putCassette("../x", Cassette.getDefaultInstance()));
  }

  /** Larger than a chunk, built by hand (no schema_version, no complete: the client fills them). */
  @Test
  void bigCassetteGoesInChunks() throws Exception {
    byte[] big = new byte[MatgtoClient.CHUNK_SIZE * 5 / 2];
    for (int i = 0; i < big.length; i++) {
      big[i] = (byte) (i * 31 + 7);
    }
    String url = "http://big.example.test/blob";
    Cassette cassette =
        Cassette.newBuilder()
            .addInteractions(
                Interaction.newBuilder()
                    .setHttp(
                        HttpExchange.newBuilder()
                            .setRequest(HttpRequest.newBuilder()
                                .setMethod("GET").setUrl(url).setHttpVersion("HTTP/1.1"))
                            .setResponse(HttpResponse.newBuilder()
                                .setStatus(200).setReason("OK").setHttpVersion("HTTP/1.1")
                                .addHeaders(Header.newBuilder()
                                    .setName("Content-Type").setValue("application/octet-stream"))
                                .addHeaders(Header.newBuilder()
                                    .setName("Content-Length").setValue(Integer.toString(big.length)))
                                .setBody(ByteString.copyFrom(big)))))
            .build();
    CassetteInfo info = client.putCassette("big/blob", cassette);
    assertEquals(1, info.getInteractions());
    assertTrue(info.getSizeBytes() >= big.length, "size " + info.getSizeBytes());
    assertFalse(cassette.getComplete(), "the caller's message is left alone");

    Cassette back = client.getCassette("big/blob");
    assertTrue(Arrays.equals(big, back.getInteractions(0).getHttp().getResponse().getBody().toByteArray()),
        "the body survives the chunked round trip");

    client.replay("big/blob");
    java.net.http.HttpResponse<byte[]> r = get(URI.create(url));
    assertEquals(200, r.statusCode());
    assertArrayEquals(big, r.body());
  }
}
