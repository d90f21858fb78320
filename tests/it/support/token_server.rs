//! A token service of our own, shaped like Harbor's `/service/token` (distribution's token auth), for a
//! test registry started with `Variant::Token`: a `std::net::TcpListener` on 127.0.0.1 in a thread.
//!
//! `GET /service/token?service=harbor-registry&scope=repository:NAME:pull,push&…` with the credentials
//! as HTTP Basic answers `{"token": JWT, "expires_in": N, "issued_at": RFC 3339}`. The JWT is signed
//! RS256 by a key and self-signed certificate made with `openssl` (the signature by piping the signing
//! input to `openssl dgst -sha256 -sign`), its header carries the certificate as `x5c`, and its
//! `access` claim grants, per requested repository, the requested actions the account holds:
//!
//! - the right user and password: `pull` and `push` everywhere (minus what the [`Policy`] takes away);
//! - no credentials: a token granting nothing (the registry then answers 401, as Harbor does for a
//!   private project);
//! - wrong credentials: `401` from the token service itself.
//!
//! distribution accepts a token up to 60 s after its `exp` (clock-skew leeway). So that a short
//! lifetime means something in a test, `exp` is set to `issued + lifetime + 1 s - 60 s`: the registry
//! refuses the token between `lifetime` and `lifetime + 1 s` after it was issued.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write as _};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::registry::{Registry, Variant, tools_for};
use super::{TempDir, serve, tempdir};

/// The `service` the registry names in its challenge (Harbor's).
pub const SERVICE: &str = "harbor-registry";
/// The `iss` claim the registry trusts.
pub const ISSUER: &str = "bundle-test";
/// distribution's clock-skew leeway on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;

/// What the token service grants and how long tokens live.
#[derive(Debug, Clone)]
pub struct Policy {
    /// How long the registry accepts a token after it was issued.
    pub lifetime: Duration,
    /// The `expires_in` told to the client, when it should differ from `lifetime` (a client that
    /// believes a token lives longer than the registry accepts it: the registry answers 401).
    pub claimed_expires_in: Option<u64>,
    /// In a token for several repositories, grant `pull` only on those that also get `push`: a
    /// cross-repository mount's source is refused (and the registry answers the mount with 401).
    pub refuse_cross_repo_pull: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            lifetime: Duration::from_secs(300),
            claimed_expires_in: None,
            refuse_cross_repo_pull: false,
        }
    }
}

/// One request the token service answered.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The Basic user name sent, if any.
    pub account: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The `scope` parameters requested.
    pub scopes: Vec<String>,
    /// What was granted, as `NAME:ACTIONS`.
    pub granted: Vec<String>,
}

struct State {
    dir: TempDir,
    user: String,
    password: String,
    x5c: String,
    policy: Mutex<Policy>,
    issued: Mutex<Vec<Issued>>,
    jti: AtomicUsize,
    /// Token requests still to be answered `503 Service Unavailable`.
    unavailable: AtomicUsize,
    stop: AtomicBool,
}

/// A running token service; stops accepting on drop.
pub struct TokenServer {
    /// `http://127.0.0.1:PORT/service/token`.
    pub realm: String,
    /// The signing certificate (PEM): the registry's `rootcertbundle`.
    pub cert: PathBuf,
    host: String,
    state: Arc<State>,
}

fn openssl(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl TokenServer {
    /// Makes the signing key and certificate and starts serving; `None` (after a skip message) when
    /// `openssl` is missing.
    pub fn start(user: &str, password: &str, policy: Policy, test: &str) -> Option<TokenServer> {
        let needs = Variant::Token {
            realm: String::new(),
            cert: PathBuf::new(),
            user: String::new(),
            password: String::new(),
        };
        if !tools_for(&needs, test) {
            return None;
        }
        let dir = tempdir();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-subj",
                "/CN=bundle-test token signer",
            ],
        );
        let der = openssl(&dir, &["x509", "-in", "cert.pem", "-outform", "DER"]);
        let cert = dir.join("cert.pem");
        let state = Arc::new(State {
            dir,
            user: user.to_string(),
            password: password.to_string(),
            x5c: STANDARD.encode(der),
            policy: Mutex::new(policy),
            issued: Mutex::new(Vec::new()),
            jti: AtomicUsize::new(0),
            unavailable: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let host = serve(state.clone(), |s| s.stop.load(Ordering::SeqCst), handle);
        Some(TokenServer {
            realm: format!("http://{host}/service/token"),
            cert,
            host,
            state,
        })
    }

    /// The registry variant that trusts this service (with its user and password as credentials).
    pub fn variant(&self) -> Variant {
        Variant::Token {
            realm: self.realm.clone(),
            cert: self.cert.clone(),
            user: self.state.user.clone(),
            password: self.state.password.clone(),
        }
    }

    /// Starts the token service and a registry that trusts it.
    pub fn with_registry(
        user: &str,
        password: &str,
        policy: Policy,
        test: &str,
    ) -> Option<(TokenServer, Registry)> {
        let tokens = TokenServer::start(user, password, policy, test)?;
        let registry = Registry::start(tokens.variant(), test)?;
        Some((tokens, registry))
    }

    /// Replaces the policy (for tokens issued from now on).
    pub fn set_policy(&self, policy: Policy) {
        *self.state.policy.lock().unwrap() = policy;
    }

    /// Every request answered so far.
    pub fn issued(&self) -> Vec<Issued> {
        self.state.issued.lock().unwrap().clone()
    }

    /// Answers the next `n` token requests `503 Service Unavailable` (a token service that is down
    /// for a moment).
    pub fn unavailable_for(&self, n: usize) {
        self.state.unavailable.store(n, Ordering::SeqCst);
    }

    /// Forgets the requests answered so far.
    pub fn clear(&self) {
        self.state.issued.lock().unwrap().clear();
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (civil-from-days, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn answer(client: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes())?;
    client.write_all(body.as_bytes())?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// Signs `input` with the service's key: the raw RSASSA-PKCS1-v1_5 SHA-256 signature.
fn sign(state: &State, input: &str) -> Option<Vec<u8>> {
    let mut child = Command::new("openssl")
        .current_dir(&state.dir)
        .args(["dgst", "-sha256", "-sign", "key.pem"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out.stdout)
}

fn handle(state: &State, client: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
        if head.len() > 100 {
            return answer(&mut client, "400 Bad Request", "{}");
        }
    }
    let target = head
        .first()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path != "/service/token" {
        return answer(&mut client, "404 Not Found", "{}");
    }
    let mut scopes = Vec::new();
    let mut service = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "scope" => scopes.push(percent_decode(v)),
            "service" => service = Some(percent_decode(v)),
            _ => {}
        }
    }
    let basic = head
        .iter()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.trim().strip_prefix("Basic ").map(str::to_string))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let account = basic
        .as_deref()
        .map(|b| b.split_once(':').map_or(b, |(u, _)| u).to_string());
    let record = |status: u16, granted: Vec<String>| {
        state.issued.lock().unwrap().push(Issued {
            account: account.clone(),
            status,
            scopes: scopes.clone(),
            granted,
        });
    };
    let down = state
        .unavailable
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if down {
        record(503, Vec::new());
        return answer(
            &mut client,
            "503 Service Unavailable",
            r#"{"errors":[{"code":"UNAVAILABLE","message":"down for a moment"}]}"#,
        );
    }
    let authenticated = match &basic {
        None => false,
        Some(b) if *b == format!("{}:{}", state.user, state.password) => true,
        Some(_) => {
            record(401, Vec::new());
            return answer(
                &mut client,
                "401 Unauthorized",
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
        }
    };
    if service.as_deref() != Some(SERVICE) {
        record(400, Vec::new());
        return answer(
            &mut client,
            "400 Bad Request",
            r#"{"errors":[{"code":"UNSUPPORTED","message":"unknown service"}]}"#,
        );
    }
    let policy = state.policy.lock().unwrap().clone();
    // repository:NAME:ACTIONS (NAME may not hold ':'; the actions are the last field).
    let requested: Vec<(String, Vec<String>)> = scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter_map(|s| {
            let rest = s.strip_prefix("repository:")?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some((
                name.to_string(),
                actions.split(',').map(str::to_string).collect(),
            ))
        })
        .collect();
    let several = requested.len() > 1;
    let mut access = Vec::new();
    let mut granted = Vec::new();
    for (name, actions) in &requested {
        let wants_push = actions.iter().any(|a| a == "push");
        let allowed: Vec<String> = actions
            .iter()
            .filter(|a| authenticated && (*a == "pull" || *a == "push"))
            .filter(|a| !(policy.refuse_cross_repo_pull && several && !wants_push && *a == "pull"))
            .cloned()
            .collect();
        granted.push(format!("{name}:{}", allowed.join(",")));
        access.push(serde_json::json!({"type": "repository", "name": name, "actions": allowed}));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let lifetime = policy.lifetime.as_secs().max(1);
    let jti = state.jti.fetch_add(1, Ordering::SeqCst);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [state.x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": account.clone().unwrap_or_default(),
        "aud": SERVICE,
        // `exp` is in whole seconds: one more so that the registry accepts the token for at least
        // `lifetime` (and less than `lifetime` + 1 s).
        "exp": (now + lifetime + 1).saturating_sub(LEEWAY_SECS),
        "nbf": now,
        "iat": now,
        "jti": format!("bundle-test-{jti}"),
        "access": access,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let Some(signature) = sign(state, &input) else {
        record(500, Vec::new());
        return answer(&mut client, "500 Internal Server Error", "{}");
    };
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    record(200, granted);
    let body = serde_json::json!({
        "token": token,
        "expires_in": policy.claimed_expires_in.unwrap_or(lifetime),
        "issued_at": rfc3339(now),
    });
    answer(&mut client, "200 OK", &body.to_string())
}

#[test]
fn tokenserver_dates_and_decoding() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(
        percent_decode("repository%3Ap%2Fa%3Apull%2Cpush"),
        "repository:p/a:pull,push"
    );
    assert_eq!(percent_decode("a%2"), "a%2");
}

#[test]
fn tokenserver_grants_what_the_credentials_allow() {
    let Some(ts) = TokenServer::start("robot$ci", "pw", Policy::default(), "tokenserver") else {
        return;
    };
    let get = |auth: Option<&str>, query: &str| -> (u16, serde_json::Value) {
        let mut s = TcpStream::connect(
            ts.realm
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap(),
        )
        .unwrap();
        let mut req = format!("GET /service/token?{query} HTTP/1.1\r\nHost: x\r\n");
        if let Some(a) = auth {
            req.push_str(&format!("Authorization: Basic {}\r\n", STANDARD.encode(a)));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut s, &mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("{}");
        (
            status,
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    };
    let claims = |token: &str| -> serde_json::Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let q =
        "service=harbor-registry&scope=repository%3Ap%2Fa%3Apull%2Cpush&scope=repository:p/b:pull";
    let (status, body) = get(Some("robot$ci:pw"), q);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 300);
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    let c = claims(token);
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["aud"], SERVICE);
    assert_eq!(c["sub"], "robot$ci");
    assert_eq!(c["access"][0]["name"], "p/a");
    assert_eq!(
        c["access"][0]["actions"],
        serde_json::json!(["pull", "push"])
    );
    assert_eq!(c["access"][1]["actions"], serde_json::json!(["pull"]));
    // The signature verifies against the certificate.
    let dir = tempdir();
    let (input, sig) = token.rsplit_once('.').unwrap();
    std::fs::write(dir.join("in"), input).unwrap();
    std::fs::write(dir.join("sig"), URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-in",
            ts.cert.to_str().unwrap(),
            "-pubkey",
            "-noout",
            "-out",
            "pub.pem",
        ],
    );
    openssl(
        &dir,
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig",
            "in",
        ],
    );

    ts.set_policy(Policy {
        refuse_cross_repo_pull: true,
        ..Policy::default()
    });
    let (_, body) = get(Some("robot$ci:pw"), q);
    let c = claims(body["token"].as_str().unwrap());
    assert_eq!(c["access"][1]["actions"], serde_json::json!([]));

    let (status, body) = get(None, q);
    assert_eq!(status, 200);
    assert_eq!(
        claims(body["token"].as_str().unwrap())["access"][0]["actions"],
        serde_json::json!([])
    );
    let (status, _) = get(Some("robot$ci:wrong"), q);
    assert_eq!(status, 401);
    assert_eq!(ts.issued().len(), 4);
}
