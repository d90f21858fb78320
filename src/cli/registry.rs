//! The registry options shared by every command that talks to a registry (`pin`, `export`, `mirror`):
//! `#[command(flatten)]` a [`RegistryArgs`] and call [`RegistryArgs::connect`], which gives the run's
//! one [`Registries`] and its job runner (on the one runtime of the process).

use std::io::Read as _;
use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::jobs::{self, Runner};
use crate::oci::{
    Credentials, Password, Registries, RegistryMirror, RegistryOptions, RetryPolicy, UrlMirror,
};

/// How registries are reached: mirrors, TLS and credentials.
#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// Fetch the images of registry SOURCE from TARGET (host[:port][/path]) instead, as containerd mirrors
    /// do: `registry.k8s.io=127.0.0.1:5001/registry.k8s.io` fetches `registry.k8s.io/pause:3.10` as
    /// `127.0.0.1:5001/registry.k8s.io/pause:3.10`. The lock keeps the upstream references. Repeatable.
    #[arg(
        long = "registry-mirror",
        value_name = "SOURCE=TARGET",
        help_heading = "Registry"
    )]
    pub(crate) mirrors: Vec<RegistryMirror>,
    /// Reach this host (as contacted, after mirroring) over plain HTTP or TLS without verification.
    /// Every other host is verified. Repeatable.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        help_heading = "Registry"
    )]
    pub(crate) insecure: Vec<String>,
    /// Trust the CA certificates in this PEM file, in addition to the system roots. Repeatable.
    #[arg(long = "ca-file", value_name = "PATH", help_heading = "Registry")]
    pub(crate) ca_files: Vec<PathBuf>,
    /// User name for every registry contacted (with --password-stdin). Without it, credentials come from
    /// REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json or
    /// ~/.docker/config.json (including credential helpers), as `podman login`/`docker login` write them.
    #[arg(
        long,
        value_name = "USER",
        requires = "password_stdin",
        help_heading = "Registry"
    )]
    pub(crate) username: Option<String>,
    /// Read the password (or token) for --username from standard input.
    #[arg(long, requires = "username", help_heading = "Registry")]
    pub(crate) password_stdin: bool,
    /// Attempts per registry request in all (resolves, manifests, blobs, pushes, tokens, downloads):
    /// connection failures, 5xx, 429 and 408 answers are retried with exponential backoff and
    /// jitter, honouring Retry-After. Default: 6.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Registry")]
    pub(crate) retries: Option<u32>,
    /// The longest wait between two attempts, Retry-After included. Default: 30.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600), help_heading = "Registry")]
    pub(crate) max_backoff: Option<u64>,
    /// How long a request may wait for the registry's next bytes before it fails and is retried.
    /// Default: 60 for pulls, 120 for pushes.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600), help_heading = "Registry")]
    pub(crate) timeout: Option<u64>,
    /// How many registry operations (resolves, manifests, blobs, pushes) run at the same time.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Registry")]
    pub(crate) jobs: u16,
}

impl RegistryArgs {
    /// The run's registry clients and its job runner: reads the password from standard input when
    /// asked, lists the auth files from the environment, reads the CA files, starts the runtime.
    /// `retry` is the command's policy; `--retries` and `--max-backoff` override it. `url_mirrors`
    /// apply to HTTP(S) downloads (charts from classic repositories, manifests).
    pub(crate) fn connect(
        &self,
        retry: RetryPolicy,
        url_mirrors: &[UrlMirror],
    ) -> Result<Connected, Failure> {
        let retry = RetryPolicy {
            attempts: self.retries.unwrap_or(retry.attempts),
            max_delay: self
                .max_backoff
                .map(std::time::Duration::from_secs)
                .unwrap_or(retry.max_delay),
            ..retry
        };
        let mut options = self.options(retry)?;
        options.url_mirrors = url_mirrors.to_vec();
        let registries = Registries::new(options)?;
        let runtime = jobs::runtime()
            .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}")))?;
        let runner = Runner::new(runtime.handle().clone(), usize::from(self.jobs));
        Ok(Connected {
            registries: std::sync::Arc::new(registries),
            runner,
            _runtime: runtime,
        })
    }

    /// The options for the registry clients.
    fn options(&self, retry: RetryPolicy) -> Result<RegistryOptions, Failure> {
        let credentials = match (&self.username, self.password_stdin) {
            (Some(user), true) => {
                let mut secret = String::new();
                std::io::stdin()
                    .read_to_string(&mut secret)
                    .map_err(|e| Failure::usage(format!("--password-stdin: {e}")))?;
                let secret = secret.trim_end_matches(['\n', '\r']).to_string();
                if secret.is_empty() {
                    return Err(Failure::usage("--password-stdin: standard input is empty")
                        .hint("e.g. `printf %s \"$TOKEN\" | bundle pin --username USER --password-stdin`"));
                }
                Some(Credentials {
                    username: user.clone(),
                    password: Password::new(secret),
                })
            }
            _ => None,
        };
        Ok(RegistryOptions {
            mirrors: self.mirrors.clone(),
            url_mirrors: Vec::new(),
            insecure: self.insecure.clone(),
            ca_files: self.ca_files.clone(),
            credentials,
            auth_files: auth_files(),
            retry,
            read_timeout: self.timeout.map(std::time::Duration::from_secs),
        })
    }
}

/// Where upstream's charts and release manifests come from (`pin`, `export`), beside the registry
/// options.
#[derive(Debug, Args)]
pub(crate) struct ArtifactArgs {
    /// Fetch HTTP(S) URLs that start with SOURCE from TARGET instead (the rest of the URL appended):
    /// `https://charts.jetstack.io=http://127.0.0.1:8080/charts.jetstack.io` fetches
    /// `https://charts.jetstack.io/index.yaml` as `http://127.0.0.1:8080/charts.jetstack.io/index.yaml`.
    /// Applies to classic chart repositories (index.yaml and .tgz) and release manifests; the longest
    /// matching SOURCE wins; the lock keeps the upstream URLs. OCI charts follow --registry-mirror.
    /// --username/--password-stdin are sent to rewritten URLs only. Repeatable.
    #[arg(
        long = "url-mirror",
        value_name = "SOURCE=TARGET",
        help_heading = "Charts and manifests"
    )]
    pub(crate) url_mirrors: Vec<UrlMirror>,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

/// The content cache of fetched charts and release manifests (`pin` fills it; `export` and `render`
/// read it).
#[derive(Debug, Args)]
pub(crate) struct CacheArgs {
    /// Where fetched charts and release manifests are kept, by content digest
    /// (DIR/blobs/sha256/<hex>). Default: $XDG_CACHE_HOME/bundle, or ~/.cache/bundle.
    #[arg(
        long = "cache-dir",
        env = "BUNDLE_CACHE_DIR",
        value_name = "DIR",
        help_heading = "Charts and manifests"
    )]
    pub(crate) cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    /// The cache directory: --cache-dir, $BUNDLE_CACHE_DIR, or the user's cache directory.
    pub(crate) fn dir(&self) -> Result<PathBuf, Failure> {
        match &self.cache_dir {
            Some(d) => Ok(d.clone()),
            None => crate::pin::default_cache_dir().ok_or_else(|| {
                Failure::usage("no cache directory: neither XDG_CACHE_HOME nor HOME is set")
                    .hint("name one with --cache-dir DIR or BUNDLE_CACHE_DIR")
            }),
        }
    }
}

/// The auth files searched, in order (as podman and skopeo do, then Docker's).
fn auth_files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        files.push(f);
    }
    if let Some(d) = env("XDG_RUNTIME_DIR") {
        files.push(d.join("containers").join("auth.json"));
    }
    let home = env("HOME");
    match env("XDG_CONFIG_HOME") {
        Some(c) => files.push(c.join("containers").join("auth.json")),
        None => {
            if let Some(h) = &home {
                files.push(h.join(".config").join("containers").join("auth.json"));
            }
        }
    }
    match env("DOCKER_CONFIG") {
        Some(d) => files.push(d.join("config.json")),
        None => {
            if let Some(h) = &home {
                files.push(h.join(".docker").join("config.json"));
            }
        }
    }
    files
}

/// The registry clients and the job runner of one run; the runtime lives as long as this.
pub(crate) struct Connected {
    pub(crate) registries: std::sync::Arc<Registries>,
    pub(crate) runner: Runner,
    _runtime: tokio::runtime::Runtime,
}
