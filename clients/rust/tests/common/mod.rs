//! Shared by the integration tests: a real upstream HTTP server on
//! 127.0.0.1 (tokio TcpListener; hand-written HTTP/1.1 answers, enough for
//! GET without a body), a local matgto server, reqwest through a proxy.
#![allow(dead_code)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use matgto_client::LocalServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An upstream answering `GET /path` with `hello <path> #<n>` (n counts the
/// requests it served, so a replayed answer is recognizable).
pub struct Upstream {
    pub addr: String,
    pub hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = l.accept().await else { return };
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let n = h.fetch_add(1, Ordering::SeqCst) + 1;
                    let body = format!("hello {path} #{n}");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Upstream { addr, hits, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops listening: later connections are refused (offline replay).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn server() -> LocalServer {
    match LocalServer::start().await {
        Ok(s) => s,
        Err(e) => panic!("starting the matgto server (set MATGTO_BIN): {e}"),
    }
}

/// A reqwest client whose every request goes through `proxy`.
pub fn http(proxy: &str) -> reqwest::Client {
    reqwest::Client::builder().proxy(reqwest::Proxy::all(proxy).unwrap()).build().unwrap()
}

/// GET → (status, X-Matgto-Error, body).
pub async fn get(c: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = c.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let err = r.headers().get("x-matgto-error").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, err, r.text().await.unwrap())
}
