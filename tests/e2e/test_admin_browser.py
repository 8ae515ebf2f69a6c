"""The admin web page in a real browser: Debian's headless Chromium driven by
Selenium through Debian's chromedriver, against a real matgto with real
traffic. Assertions are on what a person sees (rows, highlighted cells,
columns, images, buttons); screenshots go to build/artifacts/browser/.

Chromium missing is a failure (with how to install it), not a skip."""
from __future__ import annotations

import http.server
import json
import shutil
import struct
import threading
import zlib

import pytest
import requests

from conftest import ROOT, curl, wait_for

ARTIFACTS = ROOT / "build/artifacts/browser"
READ = "read-token-0123456789"
WRITE = "write-token-0123456789"
# Flags that work on these machines (no GPU, no sandbox as root, nothing
# fetched from outside).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000"]


def _tools():
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("the admin page's browser tests need Debian's chromium and chromium-driver "
                    "(missing: " + ", ".join(n for n, p in (("chromium", chromium),
                                                           ("chromedriver", driver)) if not p)
                    + "); install them with `scripts/install-deps.sh test` "
                    "(apt-get install chromium chromium-driver)", pytrace=False)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("the browser tests need the Python package selenium: run scripts/venv.sh "
                    "(scripts/requirements-test.txt)", pytrace=False)
    return chromium, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium (fresh profile) for the module's tests."""
    chromium, driver_path = _tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=" + str(tmp_path_factory.mktemp("chromium-profile")))
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    d = webdriver.Chrome(service=Service(executable_path=driver_path, log_output=str(log)),
                         options=options)
    d.set_page_load_timeout(20)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield d
    d.quit()


@pytest.fixture(autouse=True)
def screenshot_on_failure(request, browser):
    """What the page showed when a test failed: build/artifacts/browser/FAILED-<test>.png."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot(browser, "FAILED-" + request.node.name.replace("/", "_"))


def shot(browser, name):
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def admin_url(server) -> str:
    return "http://" + json.loads(server.ready.read_text())["admin"] + "/"


def see(browser, css, text=None, timeout=10):
    """The first element matching `css` that is displayed (and contains
    `text`), waiting for it."""
    from selenium.webdriver.common.by import By

    def find():
        for e in browser.find_elements(By.CSS_SELECTOR, css):
            try:
                if e.is_displayed() and (text is None or text in e.text):
                    return e
            except Exception:  # re-rendered meanwhile
                pass
        return None
    return wait_for(find, timeout=timeout, interval=0.1,
                    what=f"{css!r}{' with ' + repr(text) if text else ''} on the page")


def open_page(browser, server, token=None):
    browser.get(admin_url(server) + (f"#token={token}" if token else ""))
    see(browser, "#status", "live")


def test_live_rows_and_the_miss_diff(browser, matgto, upstream):
    server = matgto("--admin-port", "0")
    open_page(browser, server)
    server.cli("record", "live")
    assert curl(server.proxy_url, upstream.url("/echo?n=1")).returncode == 0
    row = see(browser, "#exchanges tr.recorded", "/echo")
    assert "200" in row.text and "recorded" in row.text
    see(browser, "#sessions td", "live")
    shot(browser, "live-exchanges")

    server.cli("replay", "live")
    assert curl(server.proxy_url, upstream.url("/echo?n=1")).returncode == 0
    see(browser, "#exchanges tr.replayed", "/echo")
    assert curl(server.proxy_url, upstream.url("/counter?n=1")).returncode == 0
    miss = see(browser, "#exchanges tr.miss", "no recorded interaction")
    field = see(browser, "#exchanges tr.miss table.diff td.field", "path")
    cells = field.find_element("xpath", "..").find_elements("css selector", "td")
    assert [c.text for c in cells] == ["path", "/echo", "/counter"]
    live = cells[2]
    # The differing value is highlighted (red background, bold), the recorded one green.
    assert live.value_of_css_property("background-color") == "rgba(255, 235, 233, 1)"
    assert live.value_of_css_property("font-weight") in ("600", "bold")
    assert cells[1].value_of_css_property("background-color") == "rgba(230, 255, 236, 1)"
    # The session's counters follow: one replayed, one missed.
    see(browser, "#sessions tr[data-session=default]", "REPLAY 0 1 1 0")
    shot(browser, "miss-diff")

    # From the miss to the recording it was compared with.
    miss.find_element("link text", "open the recording").click()
    see(browser, "#cassette-title", "Cassette live")
    focused = see(browser, "#cassette-body details.focus")
    assert focused.get_attribute("open") is not None and "/echo?n=1" in focused.text


def png(width: int, height: int) -> bytes:
    """A real RGB PNG (red) made with zlib."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class MediaHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/pixel.png":
            body, ctype = png(3, 2), "image/png"
        elif self.path == "/data.json":
            body, ctype = b'{"name":"matgto","tags":["a","b"],"n":1}', "application/json"
        else:
            body, ctype = bytes(range(256)), "application/octet-stream"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def media():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MediaHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_cassette_shows_bodies_a_waterfall_and_downloads(browser, matgto, media, tmp_path):
    server = matgto("--admin-port", "0")
    server.cli("record", "media")
    for path in ("/data.json", "/pixel.png", "/blob"):
        assert curl(server.proxy_url, media + path).returncode == 0
    server.cli("stop")
    open_page(browser, server)
    see(browser, "#filter").send_keys("med")
    see(browser, "#cassettes a[data-open]", "media").click()
    see(browser, "#cassette-title", "Cassette media")
    details = wait_for(lambda: (lambda d: len(d) == 3 and d)(
        browser.find_elements("css selector", "#cassette-body details.interaction")),
        what="three interactions")
    for d in details:
        d.find_element("tag name", "summary").click()
    # JSON pretty-printed, with the request's and response's headers.
    pretty = see(browser, "#interaction-0 pre.json", '"name": "matgto"')
    assert '\n  "tags": [\n    "a",' in pretty.text
    assert "Content-Type: application/json" in see(browser, "#interaction-0 pre.headers",
                                                   "Content-Type").text
    # The image as an image, decoded by the browser.
    img = see(browser, "#interaction-1 img.body-img")
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    assert browser.execute_script("return [arguments[0].complete, arguments[0].naturalWidth,"
                                  " arguments[0].naturalHeight]", img) == [True, 3, 2]
    # Binary as a hex dump with offsets and an ASCII column.
    hexdump = see(browser, "#interaction-2 pre.hex")
    assert hexdump.text.splitlines()[0].startswith(
        "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f")
    assert "00000040  40 41 42 43" in hexdump.text and "@ABCDEFGHIJKLMNO" in hexdump.text
    # One bar per interaction, placed on the recording's clock.
    bars = browser.find_elements("css selector", "#waterfall .wf-row")
    assert [b.find_element("css selector", ".wf-label").text for b in bars] == [
        "#0 GET /data.json", "#1 GET /pixel.png", "#2 GET /blob"]
    lefts = [browser.execute_script("return arguments[0].getBoundingClientRect().left",
                                    b.find_element("css selector", ".wf-bar")) for b in bars]
    assert lefts == sorted(lefts) and lefts[0] < lefts[2]
    assert all(b.find_element("css selector", ".wf-ms").text.endswith(" ms") for b in bars)
    browser.execute_script("arguments[0].scrollIntoView()", see(browser, "#waterfall"))
    shot(browser, "cassette-view")

    # Downloads: the HAR link saves a HAR 1.2 file with the three entries.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})
    see(browser, "#cassettes a[data-download=har]").click()
    see(browser, "#cassettes a[data-download=json]").click()
    har_file = wait_for(lambda: (downloads / "media.har").exists() and downloads / "media.har",
                        what="media.har downloaded")
    har = json.loads(wait_for(lambda: har_file.read_text() or None, what="media.har written"))
    assert har["log"]["version"] == "1.2"
    assert [e["request"]["url"] for e in har["log"]["entries"]] == [
        media + "/data.json", media + "/pixel.png", media + "/blob"]
    js = wait_for(lambda: (downloads / "media.json").exists() and downloads / "media.json",
                  what="media.json downloaded")
    cassette = json.loads(wait_for(lambda: js.read_text() or None, what="media.json written"))
    assert cassette["name"] == "media" and len(cassette["interactions"]) == 3


def test_websocket_session_is_a_two_column_conversation(browser, matgto):
    from test_websocket import WsUpstream, conversation, run

    ws_upstream = WsUpstream()
    try:
        server = matgto("--admin-port", "0")
        server.cli("record", "chat")
        run(conversation(f"ws://127.0.0.1:{ws_upstream.port}/chat", server.proxy_url))
        server.cli("stop")
    finally:
        ws_upstream.close()
    open_page(browser, server)
    see(browser, "#cassettes a[data-open]", "chat").click()
    see(browser, "#cassette-body details.ws-session summary", "WebSocket").click()
    see(browser, ".ws .head", "client")
    client = [e for e in browser.find_elements("css selector", ".ws .msg.client") if e.text]
    server_side = [e for e in browser.find_elements("css selector", ".ws .msg.server") if e.text]
    assert any("one" in e.text and "text" in e.text for e in client), [e.text for e in client]
    assert any("hex" in (e.find_elements("css selector", "pre")[0].get_attribute("class") or "")
               for e in client), "the binary message as a hex dump"
    assert [e.text.splitlines()[-1] for e in server_side][:2] == ["hello 1 /chat", "echo:one"]
    # Client on the left, server on the right, in the order they were sent.
    assert max(e.rect["x"] + e.rect["width"] for e in client) <= min(e.rect["x"] for e in server_side)
    ys = [e.rect["y"] for e in browser.find_elements("css selector", ".ws .msg")]
    assert ys == sorted(ys)
    see(browser, ".ws .close", "closed by the client: 1000")
    browser.execute_script("arguments[0].scrollIntoView()", see(browser, ".ws"))
    shot(browser, "websocket-conversation")


@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "tokens"
    p.write_text(f"{READ} read\n{WRITE} write\n")
    return p


def test_delete_needs_a_write_token(browser, matgto, upstream, token_file):
    server = matgto("--admin-port", "0", "--auth-tokens", str(token_file))
    for name in ("keep", "doomed"):
        server.cli("--token", WRITE, "record", name)
        assert curl(server.proxy_url, upstream.url("/echo")).returncode == 0
        server.cli("--token", WRITE, "stop")

    # No token: the page loads and asks for one.
    browser.get(admin_url(server))
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    see(browser, "#auth", "wants a token")

    # A read token sees the cassettes, but cannot delete.
    open_page(browser, server, READ)
    button = see(browser, "#cassettes tr[data-name=doomed] button.delete")
    assert not button.is_enabled()
    assert "scope write" in button.get_attribute("title")
    status = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch('api/cassettes/doomed', {method: 'DELETE', headers: {Authorization: 'Bearer "
        + READ + "'}}).then(async (r) => done([r.status, await r.text()]));")
    assert status[0] == 403 and "scope 'write'" in status[1]
    shot(browser, "delete-read-token")
    assert server.cassette_path("doomed").exists()

    # A write token deletes, after the confirmation.
    open_page(browser, server, WRITE)
    wait_for(lambda: see(browser, "#cassettes tr[data-name=doomed] button.delete").is_enabled(),
             what="the delete button enabled for a write token")
    see(browser, "#cassettes tr[data-name=doomed] button.delete").click()
    alert = wait_for(lambda: _alert(browser), what="the confirmation dialog")
    assert "Delete cassette 'doomed'" in alert.text
    alert.accept()
    see(browser, "#notice", "deleted cassette 'doomed'")
    wait_for(lambda: not browser.find_elements("css selector", "#cassettes tr[data-name=doomed]"),
             what="the deleted cassette's row to go")
    assert see(browser, "#cassettes tr[data-name=keep]")
    assert not server.cassette_path("doomed").exists()
    assert server.cassette_path("keep").exists()
    shot(browser, "delete-write-token")
    admin = admin_url(server)
    assert requests.get(admin + "api/cassettes", timeout=5).status_code == 401


def _alert(browser):
    from selenium.common.exceptions import NoAlertPresentException
    try:
        a = browser.switch_to.alert
        a.text  # noqa: B018 (raises when there is none)
        return a
    except NoAlertPresentException:
        return None
