package dev.matgto.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.matgto.v1.GetStatusResponse;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import javax.net.ssl.SSLContext;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.Test;

class CaCertificateTest extends ServerTestBase {

  @Test
  void caCertificateIsAUsableCaPem() throws Exception {
    String pem = client.caCertificatePem();
    assertTrue(pem.startsWith("-----BEGIN CERTIFICATE-----"), "PEM certificate: " + pem);
    assertTrue(pem.trim().endsWith("-----END CERTIFICATE-----"), "one PEM certificate: " + pem);
    X509Certificate cert =
        (X509Certificate)
            CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
    assertTrue(cert.getBasicConstraints() >= 0, "the certificate is a CA");
    boolean[] usage = cert.getKeyUsage();
    assertTrue(usage != null && usage[5], "the CA may sign certificates (keyCertSign)");
    cert.checkValidity();

    // GetStatus names the file holding the same certificate.
    GetStatusResponse status = client.status();
    String path = status.getTls().getCaCertificatePath();
    assertFalse(path.isEmpty(), "tls.ca_certificate_path");
    assertEquals(pem.trim(), Files.readString(Paths.get(path), StandardCharsets.US_ASCII).trim());

    // The helpers trust it, on top of the JVM's roots.
    X509TrustManager tm = Tls.trustManager(pem);
    assertTrue(Arrays.asList(tm.getAcceptedIssuers()).contains(cert), "trust manager holds the CA");
    SSLContext ctx = client.sslContext();
    assertNotNull(ctx.getSocketFactory());
  }
}
