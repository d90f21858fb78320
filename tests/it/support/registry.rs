//! A real registry process (Debian's `docker-registry`, CNCF distribution 2.8) on 127.0.0.1, with its own
//! config and storage under a temporary directory, stopped and removed on drop; images pushed through the
//! registry API.
//!
//! Needs the Debian packages `docker-registry`, `apache2-utils` (htpasswd) and `openssl`; without them a
//! test prints a skip message and returns, unless `CI` is set, when it fails.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use super::images::{Image, sha256};
use super::{TempDir, tempdir};

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
    pub dir: TempDir,
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
    needed
        .into_iter()
        .all(|(program, package)| super::require(program, package, test))
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
        reg.wait_listening();
        Some(reg)
    }

    /// Kills the registry process (its storage stays): it is gone until [`Registry::restart`].
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the registry again on the same port, with the same configuration and storage.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("registry.log"))
            .unwrap();
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        self.child = cmd.spawn().expect("docker-registry starts again");
        self.wait_listening();
    }

    fn wait_listening(&mut self) {
        let reg = self;
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
    }

    /// Changes one byte of blob `digest` (whose content is `bytes`) in the registry's storage: same
    /// size, other content, as a disk or a proxy might serve it.
    pub fn corrupt_blob(&self, digest: &str, bytes: &[u8]) {
        let hex = digest.trim_start_matches("sha256:");
        let data = self
            .dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        let mut bad = bytes.to_vec();
        let at = bad.len() - 20;
        bad[at] ^= 0xff;
        std::fs::write(&data, &bad).expect("write into the registry's storage");
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

    /// Pushes an image (its blobs, child manifests, then the manifest) by digest only, untagged, into
    /// `REPOSITORY` (a referrer that only the referrers API or a referrers index names).
    pub fn push_untagged(&self, repository: &str, image: &Image) {
        let reference = Reference::from_str(&format!("{}/{repository}:unused", self.host))
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
            push_tree(&client, &reference, image, false).await;
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
