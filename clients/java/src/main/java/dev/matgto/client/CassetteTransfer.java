package dev.matgto.client;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.matgto.v1.Cassette;
import dev.matgto.v1.CassetteChunk;
import dev.matgto.v1.CassetteInfo;
import dev.matgto.v1.ProxyControlGrpc;
import dev.matgto.v1.PutCassetteResponse;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/** Cassettes over the chunked {@code GetCassette} and {@code PutCassette} streams. */
final class CassetteTransfer {
  private CassetteTransfer() {}

  /** The data of the chunks a {@code GetCassette} stream sends, joined. */
  static ByteString join(Iterator<CassetteChunk> chunks) {
    ByteString all = ByteString.EMPTY;
    while (chunks.hasNext()) {
      all = all.concat(chunks.next().getData());
    }
    return all;
  }

  /**
   * {@code data}, received for cassette {@code name}, as a cassette.
   *
   * @throws CorruptCassetteException when it is not one
   */
  static Cassette parse(String name, ByteString data) {
    try {
      return Cassette.parseFrom(data);
    } catch (InvalidProtocolBufferException e) {
      throw new CorruptCassetteException(
          "the " + data.size() + " bytes received for cassette '" + name + "' are not a cassette: "
              + e.getMessage(),
          e);
    }
  }

  /**
   * What {@code putCassette} sends for {@code cassette}: a copy with {@code complete} set and
   * {@code schema_version} {@value MatgtoClient#CASSETTE_SCHEMA_VERSION} when it is 0.
   */
  static ByteString forUpload(Cassette cassette) {
    Cassette.Builder copy = cassette.toBuilder().setComplete(true);
    if (copy.getSchemaVersion() == 0) {
      copy.setSchemaVersion(MatgtoClient.CASSETTE_SCHEMA_VERSION);
    }
    return copy.build().toByteString();
  }

  /**
   * Stores {@code data} as cassette {@code name} with one {@code PutCassette} call on {@code
   * stub}, in chunks of {@value MatgtoClient#CHUNK_SIZE} bytes (the first one naming it), and
   * waits for the answer.
   */
  static CassetteInfo upload(ProxyControlGrpc.ProxyControlStub stub, String name, ByteString data) {
    CompletableFuture<PutCassetteResponse> result = new CompletableFuture<>();
    StreamObserver<CassetteChunk> requests =
        stub.putCassette(
            new StreamObserver<PutCassetteResponse>() {
              private PutCassetteResponse response;

              @Override
              public void onNext(PutCassetteResponse value) {
                response = value;
              }

              @Override
              public void onError(Throwable t) {
                result.completeExceptionally(t);
              }

              @Override
              public void onCompleted() {
                result.complete(response);
              }
            });
    try {
      int offset = 0;
      do {
        int end = Math.min(offset + MatgtoClient.CHUNK_SIZE, data.size());
        CassetteChunk.Builder chunk = CassetteChunk.newBuilder().setData(data.substring(offset, end));
        if (offset == 0) {
          chunk.setName(name);
        }
        requests.onNext(chunk.build());
        offset = end;
      } while (offset < data.size());
      requests.onCompleted();
    } catch (RuntimeException e) {
      requests.onError(e);
      throw e;
    }
    try {
      PutCassetteResponse response = result.get();
      return response == null ? CassetteInfo.newBuilder().setName(name).build() : response.getCassette();
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof StatusRuntimeException) {
        throw MatgtoException.fromGrpc((StatusRuntimeException) cause);
      }
      if (cause instanceof StatusException) {
        throw MatgtoException.fromGrpc((StatusException) cause);
      }
      throw MatgtoException.fromStatus(Status.fromThrowable(cause), cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw MatgtoException.fromStatus(Status.CANCELLED.withDescription("interrupted"), e);
    }
  }
}
