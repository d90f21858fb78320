//! A static HTTP server of our own on 127.0.0.1 (std threads): what a classic Helm repository
//! (`index.yaml` and `.tgz` files) and a release download site look like to `bundle`. Files live in
//! memory and can be replaced while it runs (upstream re-publishing); every request is logged, so that
//! a test can say what was fetched, and how often. Optionally it wants HTTP Basic credentials, or
//! answers the first requests with a status (`503`) to exercise retries.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

#[derive(Default)]
struct State {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    log: Mutex<Vec<String>>,
    /// `user:password` wanted, if any.
    basic: Mutex<Option<String>>,
    /// Answer this many requests with this status before serving.
    fail: Mutex<(usize, u16)>,
    stop: AtomicBool,
}

/// A running server; stops accepting on drop.
pub struct HttpServer {
    /// `127.0.0.1:PORT`.
    pub host: String,
    state: Arc<State>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
    }
}

impl HttpServer {
    /// Starts an empty server.
    pub fn start() -> HttpServer {
        let state = Arc::new(State::default());
        let host = super::serve(state.clone(), |s| s.stop.load(Ordering::SeqCst), handle);
        HttpServer { host, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Serves `bytes` at `path` (`/a/b.yaml`), replacing what was there.
    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.state
            .files
            .lock()
            .unwrap()
            .insert(path.to_string(), bytes.into());
    }

    /// Stops serving `path`.
    pub fn remove(&self, path: &str) {
        self.state.files.lock().unwrap().remove(path);
    }

    /// Wants `user:password` (HTTP Basic) from now on (`None`: nothing).
    pub fn require_basic(&self, credentials: Option<&str>) {
        *self.state.basic.lock().unwrap() = credentials.map(str::to_string);
    }

    /// Answers the next `n` requests with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        *self.state.fail.lock().unwrap() = (n, status);
    }

    /// Every request so far, as `METHOD PATH STATUS`.
    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many `GET`s of `path` were answered `200`.
    pub fn served(&self, path: &str) -> usize {
        let line = format!("GET {path} 200");
        self.requests().iter().filter(|l| **l == line).count()
    }

    /// Forgets the request log.
    pub fn clear(&self) {
        self.state.log.lock().unwrap().clear();
    }
}

fn handle(state: &State, conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("/").to_string(),
    );
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("authorization")
        {
            authorization = Some(v.trim().to_string());
        }
    }
    let path = target.split('?').next().unwrap_or("/").to_string();
    let failing = {
        let mut f = state.fail.lock().unwrap();
        if f.0 > 0 {
            f.0 -= 1;
            Some(f.1)
        } else {
            None
        }
    };
    let wanted = state.basic.lock().unwrap().clone();
    let authorized = match &wanted {
        None => true,
        Some(c) => {
            authorization.as_deref()
                == Some(&format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(c)
                ))
        }
    };
    let body = state.files.lock().unwrap().get(&path).cloned();
    let (status, reason, body, extra) = match (failing, authorized, body) {
        (Some(s), _, _) => (s, "Failing", Vec::new(), "Retry-After: 0\r\n"),
        (None, false, _) => (
            401,
            "Unauthorized",
            Vec::new(),
            "WWW-Authenticate: Basic realm=\"test\"\r\n",
        ),
        (None, true, Some(b)) if method == "GET" || method == "HEAD" => (200, "OK", b, ""),
        (None, true, _) => (404, "Not Found", b"not found\n".to_vec(), ""),
    };
    state
        .log
        .lock()
        .unwrap()
        .push(format!("{method} {path} {status}"));
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(&body)?;
    }
    out.flush()
}
