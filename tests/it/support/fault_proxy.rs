//! A fault-injecting HTTP proxy of our own (std threads) between `bundle` and a test registry.
//!
//! Every client connection carries one request (the proxy answers with `Connection: close`), so
//! each request can be counted and given a fault: the first K requests answered `503` or `429` with
//! `Retry-After`, a blob upload cut off (connection closed) after N body bytes, a download cut off
//! after N bytes of its body, a stall before forwarding, or every connection dropped after the M-th
//! request (a registry that goes away). With `matching`, the counted faults (`fail_first`,
//! `stall_first`) apply only to the requests whose `METHOD PATH` contains it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What goes wrong, and when.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer the first `fail_first` requests with `fail_status` instead of forwarding them.
    pub fail_first: usize,
    /// The status for those (503, 429…).
    pub fail_status: u16,
    /// `Retry-After` seconds sent with them.
    pub retry_after: Option<u32>,
    /// Cut off this many blob uploads (PATCH/PUT with a body to `/blobs/uploads/`)…
    pub reset_uploads: usize,
    /// …after this many body bytes.
    pub reset_after_bytes: usize,
    /// Drop every connection from the request with this index on (0-based).
    pub drop_from: Option<usize>,
    /// Hold every request this long before forwarding it…
    pub stall: Option<Duration>,
    /// …or only the first `stall_first` (matching) requests, when not 0.
    pub stall_first: usize,
    /// Cut off this many downloads (responses with a body of more than `reset_download_after`
    /// bytes) after that many body bytes.
    pub reset_downloads: usize,
    /// See `reset_downloads`.
    pub reset_download_after: usize,
    /// Apply `fail_first` and `stall_first` only to requests whose `METHOD PATH` contains this.
    pub matching: Option<String>,
    /// Answer `GET`s whose path contains the first string with `200`, this content type and body,
    /// instead of forwarding them: an endpoint the registry behind lacks (the OCI 1.1 referrers API
    /// in front of distribution 2.8).
    pub canned: Vec<(String, String, Vec<u8>)>,
}

struct State {
    upstream: String,
    faults: Mutex<Faults>,
    count: AtomicUsize,
    resets: AtomicUsize,
    matched: AtomicUsize,
    download_resets: AtomicUsize,
    log: Mutex<Vec<(Instant, String)>>,
    stop: AtomicBool,
}

/// A running proxy; stops accepting on drop.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub host: String,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`HOST:PORT`, plain HTTP).
    pub fn start(upstream: &str, faults: Faults) -> FaultProxy {
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            faults: Mutex::new(faults),
            count: AtomicUsize::new(0),
            resets: AtomicUsize::new(0),
            matched: AtomicUsize::new(0),
            download_resets: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let host = super::serve(state.clone(), |s| s.stop.load(Ordering::SeqCst), handle);
        FaultProxy { host, state }
    }

    /// Replaces the faults (and restarts the request count at 0).
    pub fn set_faults(&self, faults: Faults) {
        *self.state.faults.lock().unwrap() = faults;
        self.state.count.store(0, Ordering::SeqCst);
        self.state.resets.store(0, Ordering::SeqCst);
        self.state.matched.store(0, Ordering::SeqCst);
        self.state.download_resets.store(0, Ordering::SeqCst);
    }

    /// Every request seen so far, as `METHOD PATH`.
    pub fn requests(&self) -> Vec<String> {
        self.timed_requests().into_iter().map(|(_, r)| r).collect()
    }

    /// Every request seen so far, with when it arrived.
    pub fn timed_requests(&self) -> Vec<(Instant, String)> {
        self.state.log.lock().unwrap().clone()
    }

    /// Forgets the request log.
    pub fn clear(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// Blob uploads started (`POST …/blobs/uploads/` without `mount=`).
    pub fn uploads_started(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r.starts_with("POST ") && r.contains("/blobs/uploads/") && !r.contains("mount=")
            })
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
    }
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
        if lines.len() > 200 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

fn content_length(head: &[String]) -> usize {
    head.iter()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The head with `Connection: close` in place of any connection header.
fn rewrite(head: &[String]) -> Vec<u8> {
    let mut out = String::new();
    for l in head {
        let name = l.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn handle(state: &State, client: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    // A TLS handshake (a client trying TLS first on an insecure host): this proxy speaks plain HTTP
    // only, so it hangs up, as a plain-HTTP registry's refusal would end the attempt.
    if reader.fill_buf()?.first() == Some(&0x16) {
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let head = read_head(&mut reader)?;
    let request_line = head.first().cloned().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let n = state.count.fetch_add(1, Ordering::SeqCst);
    state
        .log
        .lock()
        .unwrap()
        .push((Instant::now(), format!("{method} {path}")));
    let faults = state.faults.lock().unwrap().clone();
    let length = content_length(&head);
    // The index among matching requests (or among all when nothing is matched on).
    let n = match &faults.matching {
        None => n,
        Some(m) if format!("{method} {path}").contains(m.as_str()) => {
            state.matched.fetch_add(1, Ordering::SeqCst)
        }
        Some(_) => usize::MAX,
    };

    if faults.drop_from.is_some_and(|d| n != usize::MAX && n >= d) {
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    if n < faults.fail_first {
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let mut answer = format!(
            "HTTP/1.1 {} Injected\r\nContent-Length: 0\r\nConnection: close\r\n",
            faults.fail_status
        );
        if let Some(s) = faults.retry_after {
            answer.push_str(&format!("Retry-After: {s}\r\n"));
        }
        answer.push_str("\r\n");
        client.write_all(answer.as_bytes())?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    if let Some((_, media_type, body)) = faults
        .canned
        .iter()
        .find(|(m, _, _)| method == "GET" && path.contains(m.as_str()))
    {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        client.write_all(head.as_bytes())?;
        client.write_all(body)?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    if let Some(d) = faults.stall
        && n != usize::MAX
        && (faults.stall_first == 0 || n < faults.stall_first)
    {
        std::thread::sleep(d);
    }
    let mut upstream = TcpStream::connect(&state.upstream)?;
    upstream.write_all(&rewrite(&head))?;
    let is_upload = (method == "PATCH" || method == "PUT")
        && path.contains("/blobs/uploads/")
        && length > faults.reset_after_bytes;
    let cut = is_upload && state.resets.fetch_add(1, Ordering::SeqCst) < faults.reset_uploads;
    let forward = if cut {
        faults.reset_after_bytes
    } else {
        length
    };
    let copied = std::io::copy(&mut (&mut reader).take(forward as u64), &mut upstream)?;
    if cut || copied < forward as u64 {
        let _ = upstream.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let mut up_reader = BufReader::new(upstream.try_clone()?);
    let response = read_head(&mut up_reader)?;
    client.write_all(&rewrite(&response))?;
    let body = content_length(&response);
    if method == "GET"
        && body > faults.reset_download_after
        && state.download_resets.fetch_add(1, Ordering::SeqCst) < faults.reset_downloads
    {
        std::io::copy(
            &mut (&mut up_reader).take(faults.reset_download_after as u64),
            &mut client,
        )?;
        let _ = upstream.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    std::io::copy(&mut up_reader, &mut client)?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}
