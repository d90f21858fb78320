//! A real containerd (Debian package `containerd`), started for one test with its root, state and
//! sockets under a temporary directory (nothing of the machine's containerd is touched), stopped on
//! drop; driven with `ctr` in namespace `test`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{TempDir, require, tempdir};

/// A running containerd; killed on drop.
pub struct Containerd {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
}

impl Containerd {
    /// Starts containerd, or returns `None` (after a skip message; a failure under CI) when it is not
    /// installed.
    pub fn start(test: &str) -> Option<Containerd> {
        if !require("containerd", "containerd", test) || !require("ctr", "containerd", test) {
            return None;
        }
        let dir = tempdir();
        let socket = dir.join("containerd.sock");
        let config = format!(
            "version = 2\n\
             root = \"{root}\"\n\
             state = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{socket}\"\n\
             [ttrpc]\n  address = \"{ttrpc}\"\n\
             [debug]\n  address = \"{debug}\"\n  level = \"warn\"\n\
             [metrics]\n  address = \"\"\n",
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            socket = socket.display(),
            ttrpc = dir.join("ttrpc.sock").display(),
            debug = dir.join("debug.sock").display(),
        );
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config).expect("write the containerd config");
        let log = std::fs::File::create(dir.join("containerd.log")).expect("a log file");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("containerd starts");
        let mut c = Containerd { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if c.socket.exists() && c.ctr(&["version"]).status.success() {
                return Some(c);
            }
            if let Ok(Some(status)) = c.child.try_wait() {
                panic!("containerd exited ({status}): {}", c.log());
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer on {}: {}",
                c.socket.display(),
                c.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address SOCKET -n test ARGS`.
    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["-n", "test"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr runs")
    }

    /// `ctr -n test images import --all-platforms ARCHIVE`; panics with ctr's words when it fails.
    pub fn import(&self, archive: &Path) -> String {
        let out = self.ctr(&[
            "images",
            "import",
            "--all-platforms",
            archive.to_str().expect("a UTF-8 path"),
        ]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "ctr images import: {said}\n{}",
            self.log()
        );
        said
    }

    /// The images in the namespace: name → manifest (or index) digest.
    pub fn images(&self) -> Vec<(String, String)> {
        let out = self.ctr(&["images", "ls"]);
        assert!(
            out.status.success(),
            "ctr images ls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut cols = line.split_whitespace();
                let name = cols.next()?;
                let _media_type = cols.next()?;
                let digest = cols.next()?;
                Some((name.to_string(), digest.to_string()))
            })
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
