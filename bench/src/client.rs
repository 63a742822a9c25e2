//! The HTTP client of the measured phases: HTTP/1.1 over keep-alive connections on hyper's
//! connection API, like `wrk` — no pool keyed by URL, no redirect, proxy or cookie layers. On a
//! machine the load generator shares with the server, what the generator spends is taken from
//! the server: reqwest cost ~35 µs of CPU per request here (about two thirds of what a pending
//! poll costs the server), this client about half of that. Requests and answers are real HTTP
//! all the same (status, headers, JSON body).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;

/// Keep-alive connections to one `http://host:port` server, or to several instances of one
/// server (new connections go to each in turn).
pub struct Http {
    /// Each instance's address and `Host`.
    servers: Vec<(SocketAddr, HeaderValue)>,
    /// The base's path (Keycloak's `/realms/<realm>`), put before every request's path.
    prefix: String,
    /// Idle connections, with the instance each goes to.
    idle: Mutex<Vec<(usize, SendRequest<Full<Bytes>>)>>,
    next: AtomicUsize,
}

/// `http://ip:port[/path]` → the address, its authority and the path.
fn parse(base: &str) -> Option<(SocketAddr, HeaderValue, String)> {
    let rest = base.strip_prefix("http://")?.trim_end_matches('/');
    let (authority, prefix) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    Some((
        authority.parse().ok()?,
        HeaderValue::from_str(authority).ok()?,
        prefix.to_owned(),
    ))
}

impl Http {
    /// A client for `base` (`http://ip:port`, optionally with a path); `None` for anything
    /// else (HTTPS, host names), which the phases then reach through reqwest.
    pub fn for_base(base: &str) -> Option<Self> {
        Self::for_instances(base, &[])
    }

    /// A client whose connections are spread over `base` and `others` (instances of one
    /// server, with the same path); `None` if any is not a plain `http://ip:port` URL.
    pub fn for_instances(base: &str, others: &[String]) -> Option<Self> {
        let (addr, host, prefix) = parse(base)?;
        let mut servers = vec![(addr, host)];
        for other in others {
            let (addr, host, path) = parse(other)?;
            if path != prefix {
                return None;
            }
            servers.push((addr, host));
        }
        Some(Self {
            servers,
            prefix,
            idle: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
        })
    }

    fn take_idle(&self) -> Option<(usize, SendRequest<Full<Bytes>>)> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((server, sender)) = idle.pop() {
            if !sender.is_closed() {
                return Some((server, sender));
            }
        }
        None
    }

    async fn connect(&self) -> Result<(usize, SendRequest<Full<Bytes>>), String> {
        let server = self.next.fetch_add(1, Ordering::Relaxed) % self.servers.len();
        let addr = self.servers[server].0;
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok((server, sender))
    }

    /// POSTs a form with an `Authorization` header; returns the status and body.
    pub async fn post_form(
        &self,
        path: &str,
        authorization: &HeaderValue,
        form: String,
    ) -> Result<(u16, Bytes), String> {
        let (server, mut sender) = match self.take_idle() {
            Some(idle) => idle,
            None => self.connect().await?,
        };
        sender.ready().await.map_err(|e| e.to_string())?;
        let request = hyper::Request::post(format!("{}{path}", self.prefix))
            .header(HOST, self.servers[server].1.clone())
            .header(AUTHORIZATION, authorization.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((server, sender));
        Ok((status, body))
    }
}
