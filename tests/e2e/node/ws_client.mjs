// Node `ws` client through matgto with an HTTP proxy agent (CONNECT tunnel):
// reads the greeting, sends text and binary, asks the server to close.
// Usage: node ws_client.mjs WS_URL PROXY_URL
import WebSocket from "ws";
import { HttpsProxyAgent } from "https-proxy-agent";

const [url, proxy] = process.argv.slice(2);
const ws = new WebSocket(url, { agent: new HttpsProxyAgent(proxy) });
const lines = [];
const steps = [
  () => ws.send("one"),
  () => ws.send(Buffer.from([1, 2, 3])),
  () => ws.send("bye"),
];
ws.on("message", (data, isBinary) => {
  lines.push(isBinary ? `binary ${Buffer.from(data).toString("hex")}` : `text ${data}`);
  const next = steps.shift();
  if (next) next();
});
ws.on("close", (code, reason) => {
  lines.push(`close ${code} ${reason}`);
  console.log(lines.join("\n"));
  process.exit(0);
});
ws.on("error", (e) => {
  console.error(String(e));
  process.exit(1);
});
setTimeout(() => { console.error("timeout"); process.exit(2); }, 15000);
