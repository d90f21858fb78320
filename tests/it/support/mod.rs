//! The test harness: run the real `bundle` binary, find fixtures, make temporary directories (removed
//! when dropped), and the real peers the tests talk to, each started on 127.0.0.1 with its own state
//! under a temporary directory: a registry ([`registry`]), a token service ([`token_server`]), a fault
//! proxy ([`fault_proxy`]), containerd ([`containerd`]); and synthetic images ([`images`]).
//!
//! A test that needs a tool which is not installed prints a skip message and returns, unless `CI` is
//! set (`.ci/run` sets it): then it fails, so that CI never passes by skipping.

#![allow(dead_code)]

pub mod charts;
/// Synthetic catalogs as CNF for CaDiCaL (tests/it/sat_peer.rs).
#[path = "../../../benches/support/cnf.rs"]
pub mod cnf;
pub mod containerd;
pub mod fault_proxy;
pub mod http;
pub mod images;
pub mod pty;
pub mod referrers;
pub mod registry;
pub mod sigstore;
pub mod sigstore_bundle;
/// The benchmarks' synthetic catalogs (tests/it/compile.rs, tests/it/sat_peer.rs).
#[path = "../../../benches/support/synthetic.rs"]
#[allow(dead_code)] // the catalog writer is for the benchmarks
pub mod synthetic;
pub mod token_server;
pub mod world;

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

pub use images::{IMAGES, Image, Kind, SOURCE, image, patched, sha256};
pub use registry::{Registry, Variant};
pub use world::World;

/// What a run of `bundle` printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `bundle ARGS` in `dir` with a clean environment for the catalog variable.
pub fn bundle_in(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_bundle"))
        .args(args)
        .current_dir(dir)
        .env_remove("BUNDLE_CATALOG")
        .output()
        .expect("the bundle binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `bundle ARGS` in a fresh temporary directory.
pub fn bundle(args: &[&str]) -> Run {
    let dir = tempdir();
    bundle_in(&dir, args)
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests").join("fixtures").join(name)
}

/// A new empty temporary directory, removed with everything in it when dropped (keep it alive for as
/// long as the test uses it). Derefs to its [`Path`]. Set `BUNDLE_KEEP_TEST_DIRS=1` to keep them for
/// inspection.
pub struct TempDir(Option<tempfile::TempDir>, PathBuf);

impl Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.1
    }
}

impl TempDir {
    /// `NAME` inside this directory, which the returned value keeps alive (the child is not
    /// created).
    pub fn child(mut self, name: &str) -> TempDir {
        self.1 = self.1.join(name);
        self
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.1
    }
}

impl std::fmt::Debug for TempDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.1.fmt(f)
    }
}

/// See [`TempDir`].
pub fn tempdir() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bundle-it-")
        .tempdir()
        .expect("a temporary directory");
    let path = dir.path().to_path_buf();
    if std::env::var_os("BUNDLE_KEEP_TEST_DIRS").is_some() {
        let _ = dir.keep();
        return TempDir(None, path);
    }
    TempDir(Some(dir), path)
}

/// Whether `program` is on PATH; when it is not, a skip message (`test` names the test and `package`
/// the Debian package), or a failure under CI.
pub fn require(program: &str, package: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()));
    if found {
        return true;
    }
    let msg = format!("{test}: `{program}` is not installed (Debian package `{package}`)");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    false
}

/// Serves connections on a new port of 127.0.0.1, each on its own thread, until `stopped` says so;
/// returns `127.0.0.1:PORT`.
pub fn serve<S: Send + Sync + 'static>(
    state: Arc<S>,
    stopped: fn(&S) -> bool,
    handle: fn(&S, TcpStream) -> std::io::Result<()>,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let host = listener.local_addr().expect("its address").to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stopped(&state) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let s = state.clone();
            std::thread::spawn(move || {
                let _ = handle(&s, conn);
            });
        }
    });
    host
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Runs `bundle ARGS` in `dir` with `stdin` and extra environment, isolated from the user's credentials
/// (HOME is `dir`; the auth-file variables are cleared unless given).
pub fn bundle_env(dir: &Path, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    run_command(bundle_command(dir, args, stdin.is_some(), env), stdin)
}

/// `bundle ARGS` in `dir` as [`bundle_env`] runs it, started and left running (for a test that
/// kills it); its output goes to pipes nobody reads: keep it quiet (`-q`).
pub fn spawn_bundle(dir: &Path, args: &[&str]) -> std::process::Child {
    let mut cmd = bundle_command(dir, args, false, &[]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn().expect("the bundle binary runs")
}

/// `bundle ARGS` in `dir` with every file it writes limited to `kib` KiB (`ulimit -f`, with SIGXFSZ
/// ignored): a write past the limit fails with "File too large", as writes fail on a full disk. This
/// needs no root, unlike a size-limited file system.
pub fn bundle_with_file_limit(dir: &Path, args: &[&str], kib: u64) -> Run {
    let cmd = bundle_command(dir, args, false, &[]);
    let program = cmd.get_program().to_owned();
    let mut shell = Command::new("bash");
    shell
        .arg("-c")
        .arg(format!("ulimit -f {kib}; trap '' XFSZ; exec \"$0\" \"$@\""))
        .arg(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => shell.env(k, v),
            None => shell.env_remove(k),
        };
    }
    run_command(shell, None)
}

fn bundle_command(dir: &Path, args: &[&str], stdin: bool, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bundle"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("BUNDLE_CATALOG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("DOCKER_CONFIG")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("BUNDLE_CACHE_DIR")
        .env_remove("BUNDLE_SOLVER_BUDGET")
        .env("HOME", dir)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run_command(mut cmd: Command, stdin: Option<&str>) -> Run {
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
