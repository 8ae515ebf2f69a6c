package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class CaCertificateTest extends ServerTestBase {

  @Test
  void caCertificateIsAUsableCaPem() throws Exception {
    String pem;
    try {
      pem = client.caCertificatePem();
    } catch (UnimplementedException e) {
      Assumptions.abort("server has no HTTPS interception yet");
      return;
    }
    assertTrue(pem.contains("-----BEGIN CERTIFICATE-----"), "PEM certificate: " + pem);
    X509Certificate cert =
        (X509Certificate)
            CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
    assertTrue(cert.getBasicConstraints() >= 0, "the certificate is a CA");
    SSLContext ctx = client.sslContext();
    assertNotNull(ctx.getSocketFactory());
  }
}
