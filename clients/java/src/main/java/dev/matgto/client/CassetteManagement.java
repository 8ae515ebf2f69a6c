package dev.matgto.client;

import com.google.protobuf.ByteString;
import dev.matgto.v1.Cassette;
import dev.matgto.v1.CassetteInfo;
import dev.matgto.v1.DeleteCassetteRequest;
import dev.matgto.v1.GetCassetteRequest;
import dev.matgto.v1.ListCassettesRequest;
import java.util.List;
import java.util.Objects;

/**
 * The stored-cassette calls behind {@link MatgtoClient#listCassettes}, {@link
 * MatgtoClient#getCassette}, {@link MatgtoClient#putCassette} and {@link
 * MatgtoClient#deleteCassette}; {@link CassetteTransfer} does the chunking.
 */
final class CassetteManagement {
  private final ControlChannel control;

  CassetteManagement(ControlChannel control) {
    this.control = control;
  }

  /** The stored cassettes whose names start with {@code prefix} (null: all). */
  List<CassetteInfo> list(String prefix) {
    ListCassettesRequest req =
        ListCassettesRequest.newBuilder().setPrefix(prefix == null ? "" : prefix).build();
    return control.call(stub -> stub.listCassettes(req)).getCassettesList();
  }

  /** Cassette {@code name} as stored, joined from the chunks the server streams. */
  Cassette get(String name) {
    GetCassetteRequest req = GetCassetteRequest.newBuilder().setName(nonNull(name)).build();
    ByteString data = control.call(stub -> CassetteTransfer.join(stub.getCassette(req)));
    return CassetteTransfer.parse(name, data);
  }

  /** Stores {@code cassette} as cassette {@code name} with one chunked {@code PutCassette}. */
  CassetteInfo put(String name, Cassette cassette) {
    nonNull(name);
    Objects.requireNonNull(cassette, "cassette");
    ByteString data = CassetteTransfer.forUpload(cassette);
    control.ensureCompatible();
    return CassetteTransfer.upload(control.asyncStub(), name, data);
  }

  void delete(String name) {
    DeleteCassetteRequest req = DeleteCassetteRequest.newBuilder().setName(nonNull(name)).build();
    control.call(stub -> stub.deleteCassette(req));
  }

  static String nonNull(String name) {
    return Objects.requireNonNull(name, "cassette name");
  }
}
