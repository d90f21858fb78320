//! Test harness: a real registry process (Debian's `docker-registry`, CNCF distribution 2.8) on 127.0.0.1,
//! with its own config and storage under a temp dir, stopped on drop; and synthetic images built in code
//! (real tar+gzip layers, configs with diff_ids, exact sizes and digests) pushed through the registry API.
//!
//! Needs the Debian packages `docker-registry`, `apache2-utils` (htpasswd) and `openssl`; without them a
//! test prints a skip message and returns, unless `CI` is set, when it fails.

#![allow(dead_code)]

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::Digest as _;

use crate::common::{Run, tempdir};

/// The images of `tests/fixtures/registry-catalog` (under [`SOURCE`]) and the kind of image each one
/// is: the pin, export and mirror tests push these and solve that catalog.
pub const IMAGES: [(&str, Kind); 5] = [
    ("kube/apiserver:v1.30.0", Kind::OciImage),
    ("team/app:v1", Kind::OciImage),
    ("team/multi:v2", Kind::OciIndex),
    ("legacy/tool:1.0", Kind::DockerImage),
    ("legacy/multi:1.0", Kind::DockerList),
];

/// The source registry the fixture catalog's image references name.
pub const SOURCE: &str = "registry.example.test";

/// How the registry is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variant {
    /// Plain HTTP, no auth.
    Plain,
    /// Plain HTTP with htpasswd (bcrypt) Basic auth for this user and password.
    Basic { user: String, password: String },
    /// HTTPS with a server certificate (SAN 127.0.0.1) signed by a CA made for this registry.
    Tls,
    /// Plain HTTP with token auth (as Harbor runs it): Bearer challenges to `realm` (service
    /// `harbor-registry`, issuer `bundle-test`), tokens signed by the key of `cert` (see
    /// `tokenserver.rs`); `user`/`password` are what the token service accepts.
    Token {
        realm: String,
        cert: PathBuf,
        user: String,
        password: String,
    },
}

/// A running registry; killed (and its storage removed) on drop.
pub struct Registry {
    child: Child,
    /// Its directory: config, storage, certificates, log.
    pub dir: PathBuf,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The variant it runs as.
    pub variant: Variant,
    /// The CA certificate (PEM), for [`Variant::Tls`].
    pub ca_file: Option<PathBuf>,
}

/// Whether the tools a variant needs are installed; prints a skip message (or fails under CI) when not.
pub fn tools_for(variant: &Variant, test: &str) -> bool {
    let mut needed = vec![("docker-registry", "docker-registry")];
    match variant {
        Variant::Plain => {}
        Variant::Basic { .. } => needed.push(("htpasswd", "apache2-utils")),
        Variant::Tls | Variant::Token { .. } => needed.push(("openssl", "openssl")),
    }
    for (program, package) in needed {
        let found = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()));
        if !found {
            let msg = format!("{test}: `{program}` is not installed (Debian package `{package}`)");
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("skipped: {msg}");
            return false;
        }
    }
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn run_tool(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Makes a CA and a server certificate for 127.0.0.1 with `openssl`; returns (ca.crt, server.crt, server.key).
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    run_tool(Command::new("openssl").current_dir(dir).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=bundle test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]));
    run_tool(Command::new("openssl").current_dir(dir).args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]));
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run_tool(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]));
    (p("ca.crt"), p("server.crt"), p("server.key"))
}

impl Registry {
    /// Starts a registry, or returns `None` (after a skip message) when the tools are missing.
    pub fn start(variant: Variant, test: &str) -> Option<Registry> {
        if !tools_for(&variant, test) {
            return None;
        }
        let dir = tempdir();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {host}\n  secret: bundle-test-secret\n",
            storage.display()
        );
        let mut ca_file = None;
        match &variant {
            Variant::Plain => {}
            Variant::Basic { user, password } => {
                let line = run_tool(Command::new("htpasswd").args(["-Bbn", user, password]));
                let htpasswd = dir.join("htpasswd");
                std::fs::write(&htpasswd, line).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: bundle-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            Variant::Tls => {
                let (ca, crt, key) = make_certificates(&dir);
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    crt.display(),
                    key.display()
                ));
                ca_file = Some(ca);
            }
            Variant::Token { realm, cert, .. } => {
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: harbor-registry\n    \
                     issuer: bundle-test\n    rootcertbundle: {}\n",
                    cert.display()
                ));
            }
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // The registry reads REGISTRY_* variables as configuration overrides: keep ours out.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().expect("docker-registry starts");
        let mut reg = Registry {
            child,
            dir,
            host,
            variant,
            ca_file,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(&reg.host).is_ok() {
                break;
            }
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!("docker-registry exited ({status}): {}", reg.log());
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}: {}",
                reg.host,
                reg.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(reg)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    fn client(&self) -> (Client, RegistryAuth) {
        let mut config = ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        };
        if let Some(ca) = &self.ca_file {
            config.protocol = ClientProtocol::Https;
            config.extra_root_certificates = vec![Certificate {
                encoding: CertificateEncoding::Pem,
                data: std::fs::read(ca).unwrap(),
            }];
        }
        let auth = match &self.variant {
            Variant::Basic { user, password } | Variant::Token { user, password, .. } => {
                RegistryAuth::Basic(user.clone(), password.clone())
            }
            _ => RegistryAuth::Anonymous,
        };
        (Client::try_from(config).expect("client"), auth)
    }

    /// Pushes an image (its blobs, child manifests, then the manifest) as `REPOSITORY:TAG`.
    pub fn push(&self, repository_and_tag: &str, image: &Image) {
        let reference = Reference::from_str(&format!("{}/{repository_and_tag}", self.host))
            .expect("a valid reference");
        let (client, auth) = self.client();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            client
                .auth(&reference, &auth, RegistryOperation::Push)
                .await
                .expect("auth for push");
            push_tree(&client, &reference, image, true).await;
        });
    }

    /// The digest the registry serves for `REPOSITORY:TAG`, by `skopeo inspect --raw` and sha256 of the
    /// bytes; `None` when skopeo is not installed.
    pub fn skopeo_digest(&self, repository_and_tag: &str) -> Option<String> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw"]);
        match &self.ca_file {
            Some(ca) => {
                cmd.arg(format!("--cert-dir={}", ca.parent().unwrap().display()));
            }
            None => {
                cmd.arg("--tls-verify=false");
            }
        }
        if let Variant::Basic { user, password } | Variant::Token { user, password, .. } =
            &self.variant
        {
            cmd.arg(format!("--creds={user}:{password}"));
        }
        cmd.arg(format!("docker://{}/{repository_and_tag}", self.host));
        let out = cmd.output().ok()?;
        assert!(
            out.status.success(),
            "skopeo inspect: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(sha256(&out.stdout))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn push_tree(client: &Client, tagged: &Reference, image: &Image, tag: bool) {
    for (digest, bytes) in &image.blobs {
        client
            .push_blob(tagged, bytes.clone(), digest)
            .await
            .unwrap_or_else(|e| panic!("push blob {digest}: {e}"));
    }
    for child in &image.children {
        Box::pin(push_tree(client, tagged, child, false)).await;
    }
    let target = if tag {
        tagged.clone()
    } else {
        Reference::with_digest(
            tagged.registry().to_string(),
            tagged.repository().to_string(),
            image.digest.clone(),
        )
    };
    client
        .push_manifest_raw(
            &target,
            image.manifest.clone(),
            image.media_type.parse().expect("a header value"),
        )
        .await
        .unwrap_or_else(|e| panic!("push manifest {}: {e}", image.digest));
}

/// The four kinds of image a registry serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OCI image manifest.
    OciImage,
    /// OCI image index over two platforms.
    OciIndex,
    /// Docker schema2 manifest.
    DockerImage,
    /// Docker manifest list over two platforms.
    DockerList,
}

/// A synthetic image: manifest bytes exactly as pushed, its digest, and what it references.
#[derive(Debug, Clone)]
pub struct Image {
    /// Media type of the manifest.
    pub media_type: String,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` of `manifest`.
    pub digest: String,
    /// Blobs (config and layers) to push first.
    pub blobs: Vec<(String, Vec<u8>)>,
    /// Platform manifests of an index.
    pub children: Vec<Image>,
}

/// `sha256:…` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let h = sha2::Sha256::digest(bytes);
    let mut s = String::from("sha256:");
    for b in h.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Random-looking bytes (sha256 in counter mode over a per-process, per-call seed).
fn random_bytes(n: usize) -> Vec<u8> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!(
        "{nanos}-{}-{}",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::SeqCst)
    );
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(&sha2::Sha256::digest(format!("{seed}/{i}").as_bytes()));
        i += 1;
    }
    out.truncate(n);
    out
}

/// A one-file ustar archive.
fn tar_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mut field = |at: usize, s: &str| h[at..at + s.len()].copy_from_slice(s.as_bytes());
    field(100, "0000644\0");
    field(108, "0000000\0");
    field(116, "0000000\0");
    field(124, &format!("{:011o}\0", data.len()));
    field(136, &format!("{:011o}\0", 1_700_000_000u64));
    field(148, "        ");
    field(156, "0");
    field(257, "ustar\0");
    field(263, "00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid gzip member holding `data` in stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn to_json(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("json")
}

fn single(docker: bool, arch: &str) -> Image {
    let (manifest_type, config_type, layer_type) = if docker {
        (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    } else {
        (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    };
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for n in 0..2 {
        let size = 1024 + (random_bytes(1)[0] as usize) * 8;
        let tar = tar_one_file(&format!("layer-{n}.bin"), &random_bytes(size));
        diff_ids.push(sha256(&tar));
        let gz = gzip_stored(&tar);
        let d = sha256(&gz);
        layers.push(serde_json::json!({"mediaType": layer_type, "digest": d, "size": gz.len()}));
        blobs.push((d, gz));
    }
    let config = to_json(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "created": "2030-01-01T00:00:00Z",
        "config": {"Cmd": ["/layer-0.bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2030-01-01T00:00:00Z", "created_by": "bundle test"},
                    {"created": "2030-01-01T00:00:00Z", "created_by": "bundle test"}],
    }));
    let config_digest = sha256(&config);
    let manifest = to_json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layers,
    }));
    blobs.insert(0, (config_digest, config));
    Image {
        media_type: manifest_type.to_string(),
        digest: sha256(&manifest),
        manifest,
        blobs,
        children: Vec::new(),
    }
}

fn index(docker: bool) -> Image {
    let media_type = if docker {
        "application/vnd.docker.distribution.manifest.list.v2+json"
    } else {
        "application/vnd.oci.image.index.v1+json"
    };
    let children: Vec<Image> = ["amd64", "arm64"]
        .iter()
        .map(|a| single(docker, a))
        .collect();
    let entries: Vec<serde_json::Value> = children
        .iter()
        .zip(["amd64", "arm64"])
        .map(|(c, arch)| {
            serde_json::json!({
                "mediaType": c.media_type, "digest": c.digest, "size": c.manifest.len(),
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    let manifest = to_json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": entries,
    }));
    Image {
        media_type: media_type.to_string(),
        digest: sha256(&manifest),
        manifest,
        blobs: Vec::new(),
        children,
    }
}

/// A new synthetic image of this kind (random layers: every call gives another digest).
pub fn image(kind: Kind) -> Image {
    match kind {
        Kind::OciImage => single(false, "amd64"),
        Kind::DockerImage => single(true, "amd64"),
        Kind::OciIndex => index(false),
        Kind::DockerList => index(true),
    }
}

/// Runs `bundle ARGS` in `dir` with `stdin` and extra environment, isolated from the user's credentials
/// (HOME is `dir`; the auth-file variables are cleared unless given).
pub fn bundle_env(dir: &Path, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bundle"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("BUNDLE_CATALOG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("DOCKER_CONFIG")
        .env("HOME", dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the bundle binary runs");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("bundle finishes");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn synthetic_layers_are_valid_gzip_tar() {
    // gzip's own CRC check: the trailer must match a known value for a known input.
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    let tar = tar_one_file("a", b"hello");
    assert_eq!(tar.len(), 512 * 4);
    let gz = gzip_stored(&tar);
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
    let i = image(Kind::OciIndex);
    assert_eq!(i.children.len(), 2);
    assert_eq!(i.digest, sha256(&i.manifest));
}
