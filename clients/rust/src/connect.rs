//! Connection settings: address forms, TLS files and the bearer token, from
//! arguments or the environment (`MATGTO_TOKEN`, `MATGTO_TLS_CA`,
//! `MATGTO_TLS_CERT`, `MATGTO_TLS_KEY`).
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::Error;

pub const ENV_SERVER: &str = "MATGTO_SERVER";
pub const ENV_TOKEN: &str = "MATGTO_TOKEN";
pub const ENV_TLS_CA: &str = "MATGTO_TLS_CA";
pub const ENV_TLS_CERT: &str = "MATGTO_TLS_CERT";
pub const ENV_TLS_KEY: &str = "MATGTO_TLS_KEY";
/// The control address when neither the argument nor `$MATGTO_SERVER` gives one.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8889";

/// How [`Client`](crate::Client) connects. Unset fields come from the
/// environment; see [`Client::builder`](crate::Client::builder).
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    pub(crate) address: String,
    pub(crate) token: Option<String>,
    pub(crate) tls_ca: Option<PathBuf>,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) plaintext: bool,
    pub(crate) timeout: Option<Duration>,
}

/// What the options and the environment resolved to; kept by the client so
/// that a drop handler can dial again on a runtime of its own.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub address: String, // host:port
    pub host: String,    // without brackets
    pub tls: Option<TlsFiles>,
    pub token: Option<MetadataValue<tonic::metadata::Ascii>>,
    pub timeout: Duration,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TlsFiles {
    ca_pem: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn strip_prefix_fold<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

/// The host of "host:port" / "[v6]:port" / "v6" without brackets.
pub(crate) fn host_of(addr: &str) -> String {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    match addr.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h.to_string(),
        Some(_) => addr.to_string(), // a bare IPv6 address
        None => addr.to_string(),
    }
}

/// Whether the host names this machine (localhost, 127/8, ::1).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    h.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

impl ConnectOptions {
    pub(crate) fn resolve(&self) -> Result<Resolved, Error> {
        let mut addr = if self.address.is_empty() { env(ENV_SERVER).unwrap_or_default() } else { self.address.clone() };
        if addr.is_empty() {
            addr = DEFAULT_ADDRESS.to_string();
        }
        let mut https = false;
        if let Some(rest) = strip_prefix_fold(&addr, "https://") {
            if self.plaintext {
                return Err(Error::Config(format!("{addr}: plaintext() contradicts the https:// address")));
            }
            https = true;
            addr = rest.trim_end_matches('/').to_string();
        } else if let Some(rest) = strip_prefix_fold(&addr, "http://") {
            addr = rest.trim_end_matches('/').to_string();
        }
        let host = host_of(&addr);
        if host.is_empty() || !addr.contains(':') {
            return Err(Error::Config(format!("control address {addr:?}: want host:port")));
        }
        let token = match &self.token {
            Some(t) => t.trim().to_string(),
            None => env(ENV_TOKEN).unwrap_or_default(),
        };
        if token.contains(['\r', '\n']) {
            return Err(Error::Config("the token contains a line break".into()));
        }
        let token = if token.is_empty() {
            None
        } else {
            Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| Error::Config("the token holds characters a gRPC header cannot carry".into()))?,
            )
        };
        let timeout = self.timeout.unwrap_or(Duration::from_secs(30));
        if self.plaintext {
            if self.tls_ca.is_some() || self.tls_cert.is_some() || self.tls_key.is_some() {
                return Err(Error::Config("plaintext() cannot be combined with TLS files".into()));
            }
            return Ok(Resolved { address: addr, host, tls: None, token, timeout });
        }
        let (ca, ca_from) = match &self.tls_ca {
            Some(p) => (Some(p.clone()), ""),
            None => (env(ENV_TLS_CA).map(PathBuf::from), " (from $MATGTO_TLS_CA)"),
        };
        let (cert, key, cert_from) = if self.tls_cert.is_none() && self.tls_key.is_none() {
            (
                env(ENV_TLS_CERT).map(PathBuf::from),
                env(ENV_TLS_KEY).map(PathBuf::from),
                " (from $MATGTO_TLS_CERT/$MATGTO_TLS_KEY)",
            )
        } else {
            (self.tls_cert.clone(), self.tls_key.clone(), "")
        };
        if cert.is_some() != key.is_some() {
            return Err(Error::Config(format!(
                "a client certificate needs its key: give both files (client_certificate, or ${ENV_TLS_CERT} and ${ENV_TLS_KEY}), or neither"
            )));
        }
        if ca.is_none() && cert.is_none() && !https {
            if token.is_some() && !is_loopback_host(&host) {
                return Err(Error::Config(format!(
                    "refusing to send the token in plaintext to {addr}: connect with TLS (tls_ca or ${ENV_TLS_CA}, or an https:// address), or choose plaintext explicitly with plaintext() (e.g. behind an encrypting service mesh)"
                )));
            }
            return Ok(Resolved { address: addr, host, tls: None, token, timeout });
        }
        let mut files = TlsFiles::default();
        if let Some(ca) = ca {
            let pem = std::fs::read(&ca)
                .map_err(|e| Error::Config(format!("reading the TLS CA file {}{ca_from}: {e}", ca.display())))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::Config(format!(
                    "the TLS CA file {}{ca_from} holds no PEM certificate",
                    ca.display()
                )));
            }
            files.ca_pem = Some(pem);
        }
        if let (Some(cert), Some(key)) = (cert, key) {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| {
                    Error::Config(format!("loading the TLS client certificate/key {}{cert_from}: {e}", p.display()))
                })
            };
            files.identity = Some((read(&cert)?, read(&key)?));
        }
        Ok(Resolved { address: addr, host, tls: Some(files), token, timeout })
    }
}

impl Resolved {
    /// The tonic endpoint (not connected yet).
    pub(crate) fn endpoint(&self) -> Result<Endpoint, Error> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let hostport = if self.host.contains(':') && !self.address.starts_with('[') {
            format!("[{}]", self.host) // a bare IPv6 address without port is refused earlier
        } else {
            self.address.clone()
        };
        let uri = format!("{scheme}://{hostport}");
        let mut ep = Endpoint::from_shared(uri.clone())
            .map_err(|e| Error::Config(format!("control address {}: {e}", self.address)))?
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(10));
        if let Some(files) = &self.tls {
            let mut cfg = ClientTlsConfig::new().domain_name(self.host.clone());
            match &files.ca_pem {
                Some(pem) => cfg = cfg.ca_certificate(Certificate::from_pem(pem)),
                None => cfg = cfg.with_native_roots(),
            }
            if let Some((cert, key)) = &files.identity {
                cfg = cfg.identity(Identity::from_pem(cert, key));
            }
            ep = ep.tls_config(cfg).map_err(|e| Error::Config(format!("TLS settings for {}: {e}", self.address)))?;
        }
        Ok(ep)
    }
}

/// The interceptor that adds `authorization: Bearer TOKEN` to every call
/// (nothing without a token).
#[derive(Clone, Debug)]
pub struct Bearer(pub(crate) Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_loopback() {
        assert_eq!(host_of("127.0.0.1:8889"), "127.0.0.1");
        assert_eq!(host_of("[::1]:8889"), "::1");
        assert_eq!(host_of("example.com:1"), "example.com");
        for h in ["localhost", "a.localhost", "127.0.0.1", "127.1.2.3", "::1"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["10.0.0.1", "example.com", "::", "0.0.0.0"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn address_forms() {
        let r =
            |a: &str| ConnectOptions { address: a.into(), token: Some(String::new()), ..Default::default() }.resolve();
        assert_eq!(r("http://127.0.0.1:5/").unwrap().address, "127.0.0.1:5");
        let https = r("HTTPS://localhost:5").unwrap();
        assert_eq!((https.address.as_str(), https.tls.is_some()), ("localhost:5", true));
        assert!(r("127.0.0.1").is_err());
        assert_eq!(r("[::1]:7").unwrap().host, "::1");
    }
}
