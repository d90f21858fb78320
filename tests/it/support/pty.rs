//! `bundle` with its standard error on a pseudo-terminal, as a person at a terminal runs it: python3's
//! `pty` module opens the terminal (of a given width), the child writes its standard error to it and
//! its standard output to a file, and everything the terminal received comes back byte for byte
//! (escape sequences, carriage returns and all) for the test to cut into frames.

use std::path::Path;
use std::process::Command;

use super::{bundle_command, require, tempdir};

/// What a run on a terminal showed.
#[derive(Debug)]
pub struct TerminalRun {
    /// Exit code.
    pub code: i32,
    /// Standard output (a file, not the terminal).
    pub stdout: String,
    /// Everything written to the terminal (standard error), raw.
    pub terminal: String,
}

/// The harness: `python3 -c HARNESS STDOUT_FILE COLUMNS PROGRAM ARGS…`; exits with the child's code.
const HARNESS: &str = r#"
import fcntl, os, pty, select, struct, subprocess, sys, termios, time
out_path, columns, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
with open(out_path, "wb") as out:
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
os.close(slave)
seen = bytearray()
deadline = None
while True:
    ready, _, _ = select.select([master], [], [], 0.1)
    if ready:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal has closed it
            break
        if not data:
            break
        seen += data
    elif child.poll() is not None:
        deadline = deadline or time.monotonic() + 2
        if time.monotonic() > deadline:
            break
sys.stdout.buffer.write(bytes(seen))
sys.exit(child.wait())
"#;

/// Runs `bundle ARGS` in `dir` (environment as [`super::bundle_env`] sets it, plus `env`) with
/// standard error on a terminal `columns` wide (`TERM=xterm`); `None` without python3 (a failure
/// under CI).
pub fn bundle_on_terminal(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    columns: u16,
    test: &str,
) -> Option<TerminalRun> {
    if !require("python3", "python3", test) {
        return None;
    }
    let cmd = bundle_command(dir, args, false, env);
    let stdout = tempdir();
    let stdout_file = stdout.join("stdout");
    let mut harness = Command::new("python3");
    harness
        .arg("-c")
        .arg(HARNESS)
        .arg(&stdout_file)
        .arg(columns.to_string())
        .arg(cmd.get_program())
        .args(args)
        .current_dir(dir)
        .env("TERM", "xterm");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => harness.env(k, v),
            None => harness.env_remove(k),
        };
    }
    let out = harness.output().expect("python3 runs");
    Some(TerminalRun {
        code: out.status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&stdout_file).unwrap_or_default(),
        terminal: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}
