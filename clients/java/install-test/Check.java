// A plain program run with only the shaded jar on the class path (java -cp all.jar:. Check),
// with the JVM's proxy properties pointing at a dead proxy.
import com.sun.net.httpserver.HttpServer;
import dev.matgto.client.LocalServer;
import dev.matgto.client.MatgtoClient;
import dev.matgto.client.Mode;
import dev.matgto.client.Session;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

public class Check {
  public static void main(String[] args) throws Exception {
    HttpServer up = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    up.createContext("/", ex -> {
      byte[] b = "hello".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, b.length);
      ex.getResponseBody().write(b);
      ex.close();
    });
    up.start();
    try (LocalServer server = LocalServer.start();
        MatgtoClient client = server.client();
        Session s = client.session("shaded/hello").mode(Mode.RECORD).open()) {
      URI uri = URI.create("http://127.0.0.1:" + up.getAddress().getPort() + "/x");
      String body = s.httpClientBuilder().build()
          .send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString()).body();
      long recorded = s.status().orElseThrow().getRecorded();
      if (!"hello".equals(body) || recorded != 1) {
        throw new AssertionError("body '" + body + "', recorded " + recorded);
      }
    } finally {
      up.stop(0);
    }
    System.out.println("shaded jar: ok");
  }
}
