//! What people read: every message of `pin`, `export`, `verify`, `inspect` and `mirror`, for success
//! and for each class of failure in `cli/error.rs` (a negative answer, a registry failure: exit 1; bad
//! usage or input: exit 2), as `insta` snapshots of exit code, standard output and standard error.
//!
//! Runs talk to real registry processes; what changes from run to run (ports, temporary paths,
//! digests of the random synthetic images, sizes, times) is replaced by placeholders, and table columns
//! are compared without their padding.

use std::path::Path;

use regex::Regex;

use crate::support::{Kind, Run, SOURCE, Variant, World, bundle_env, image, tempdir};

/// The run as people saw it, with what varies between runs replaced.
fn transcript(r: &Run) -> String {
    let text = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        r.code, r.stdout, r.stderr
    );
    let rules: &[(&str, &str)] = &[
        // A heartbeat line ("PHASE: where (N s)") comes only when a phase runs longer than the
        // progress interval: on a slow machine, never part of the message itself.
        (r"(?m)^[^\n]*\(\d+ s\)\n", ""),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"/[^\s:`']*/bundle-it-[A-Za-z0-9]+", "[TMP]"),
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
        (r"sha256/[0-9a-f]{64}", "sha256/[HEX]"),
        (r"sha256-[0-9a-f]{64}", "sha256-[HEX]"),
        (r"sha256:[0-9a-f]{12}\b", "sha256:[SHORT]"),
        (r"\b\d+(\.\d+)? (B|KiB|MiB|GiB)\b", "[SIZE]"),
        (r"\bin \d+\.\d+ s\b", "in [TIME] s"),
        (r#""seconds": ?[0-9.e-]+"#, r#""seconds": [TIME]"#),
        (
            r#""(bytes|totalBytes|sharedBytes|blobBytes)": (\d+|\{[^}]*\})"#,
            r#""$1": [BYTES]"#,
        ),
        (r"\.mirror-\d+\.d", ".mirror-[PID].d"),
        (r"fetched \d+/(\d+) blobs", "fetched [N]/$1 blobs"),
        (r"\(os error \d+\)", "(os error [N])"),
        (r"(\S)[ \t]{2,}", "$1  "),
        (r"  \n", "\n"),
    ];
    let mut out = text;
    for (pattern, replacement) in rules {
        out = Regex::new(pattern)
            .expect("a valid rule")
            .replace_all(&out, *replacement)
            .into_owned();
    }
    // Throttled progress lines may come once or several times: one of each is what people read.
    let mut lines: Vec<&str> = Vec::new();
    for line in out.lines() {
        if lines.last() != Some(&line) || !line.starts_with("fetched [N]/") {
            lines.push(line);
        }
    }
    lines.join("\n") + "\n"
}

pub(crate) fn snap(name: &str, r: &Run) {
    insta::assert_snapshot!(name, transcript(r));
}

/// A lock file in `dir` with `text`.
fn write_lock(dir: &Path, text: &str) {
    std::fs::write(dir.join("bundle.lock"), text).unwrap();
}

/// A port nobody listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    drop(listener);
    host
}

#[test]
fn pin_messages() {
    let Some(w) = World::new(Variant::Plain, "pin_messages", "", &[]) else {
        return;
    };
    let pin = |extra: &[&str]| w.run("pin", extra, None);
    snap("pin_writes_the_lock", &pin(&["--jobs", "1"]));
    snap("pin_already_pinned", &pin(&["-q"]));
    snap("pin_check_ok", &pin(&["--check", "-q"]));
    snap("pin_json", &pin(&["--format", "json", "-q"]));
    let pinned = w.lock_text();

    // A tag that moved: negative (exit 1), the lock left as it is.
    w.registry.push("team/app:v1", &image(Kind::OciImage));
    snap("pin_check_tag_moved", &pin(&["--check", "-q"]));
    snap("pin_tag_moved", &pin(&["-q"]));
    assert_eq!(w.lock_text(), pinned);

    // Digests missing from the lock: negative.
    w.reset_lock();
    snap("pin_check_missing_digests", &pin(&["--check", "-q"]));

    // The registry does not have a tag: a failed operation (exit 1).
    write_lock(&w.dir, &w.solved.replace("team/app:v1", "team/app:v9"));
    snap("pin_not_found", &pin(&["-q"]));

    // The registry cannot be reached: a failed operation (exit 1).
    w.reset_lock();
    let closed = closed_port();
    let mirror = format!("{SOURCE}={closed}");
    let args = [
        "pin",
        "-q",
        "--registry-mirror",
        &mirror,
        "--insecure-registry",
        &closed,
    ];
    snap("pin_unreachable", &bundle_env(&w.dir, &args, None, &[]));

    // Bad input (exit 2): no lock, a malformed one, one image with two digests, an unsupported
    // version, a bad flag, a CA file that is not there, an auth file that is not JSON.
    let empty = tempdir();
    snap("pin_no_lock", &bundle_env(&empty, &["pin"], None, &[]));
    write_lock(&empty, "version: 1\ncatalog: x\nnonsense: [\n");
    snap(
        "pin_malformed_lock",
        &bundle_env(&empty, &["pin"], None, &[]),
    );
    write_lock(&empty, &w.solved.replace("version: 2\n", "version: 9\n"));
    snap(
        "pin_unsupported_lock_version",
        &bundle_env(&empty, &["pin"], None, &[]),
    );
    let d1 = format!("sha256:{}", "1".repeat(64));
    let d2 = format!("sha256:{}", "2".repeat(64));
    // The app's image, and the same image given to kubernetes with another digest.
    let two = w
        .solved
        .replacen(
            "reference: registry.example.test/team/app:v1",
            &format!("reference: registry.example.test/team/app:v1\n        digest: {d2}"),
            1,
        )
        .replacen(
            "reference: registry.example.test/kube/apiserver:v1.30.0",
            &format!("reference: registry.example.test/team/app:v1\n        digest: {d1}"),
            1,
        );
    write_lock(&empty, &two);
    snap("pin_two_digests", &bundle_env(&empty, &["pin"], None, &[]));
    let args = ["pin", "--registry-mirror", "nonsense"];
    snap("pin_bad_mirror_flag", &bundle_env(&w.dir, &args, None, &[]));
    snap("pin_missing_ca_file", &pin(&["--ca-file", "missing.pem"]));
    std::fs::write(w.dir.join("auth.json"), "not json").unwrap();
    let auth = w.dir.join("auth.json");
    let env = [("REGISTRY_AUTH_FILE", auth.to_str().unwrap())];
    let mirror = w.mirror();
    let args = [
        "pin",
        "-q",
        "--registry-mirror",
        &mirror,
        "--insecure-registry",
        &w.registry.host,
    ];
    snap(
        "pin_unreadable_auth_file",
        &bundle_env(&w.dir, &args, None, &env),
    );
}

#[test]
fn export_verify_inspect_messages() {
    let Some(w) = World::new(Variant::Plain, "export_verify_inspect_messages", "", &[]) else {
        return;
    };
    let export = |extra: &[&str]| {
        let mut args = vec!["--airgap"];
        args.extend_from_slice(extra);
        w.run("export", &args, None)
    };
    snap("export_directory", &export(&["-o", "out", "--jobs", "1"]));
    snap(
        "export_tar_json",
        &export(&["-o", "b.tar", "--format", "json", "-q"]),
    );
    let none = ["-o", "none", "--platform", "windows/amd64", "-q"];
    snap("export_no_such_platform", &export(&none));

    // verify and inspect never load the catalog: a broken --catalog does not stop them.
    let run = |args: &[&str]| bundle_env(&w.dir, args, None, &[]);
    let broken = ["--catalog", "/nonexistent"];
    snap(
        "verify_sound",
        &run(&[broken[0], broken[1], "verify", "out"]),
    );
    snap(
        "verify_tar_json",
        &run(&["verify", "b.tar", "--format", "json"]),
    );
    snap(
        "inspect_table",
        &run(&[broken[0], broken[1], "inspect", "out"]),
    );
    snap(
        "inspect_json",
        &run(&["inspect", "b.tar", "--format", "json"]),
    );
    snap("verify_not_a_bundle", &run(&["verify", "bundle.lock"]));
    snap("verify_missing", &run(&["verify", "nothing-here"]));
    snap("inspect_not_a_bundle", &run(&["inspect", "bundle.lock"]));

    // A blob changed in place: problems (exit 1).
    crate::support::copy_dir(&w.dir.join("out"), &w.dir.join("bad"));
    let app: serde_json::Value = serde_json::from_slice(&w.pushed["team/app:v1"].manifest).unwrap();
    let layer = app["layers"][0]["digest"].as_str().unwrap();
    let path = w
        .dir
        .join("bad/blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    snap("verify_corrupt", &run(&["verify", "bad"]));

    // Bad input (exit 2).
    let empty = tempdir();
    let catalog = crate::support::world::catalog();
    let args = ["--catalog", &catalog, "export", "--airgap", "-o", "x"];
    snap("export_no_lock", &bundle_env(&empty, &args, None, &[]));

    // The registry cannot be reached (exit 1): nothing exported.
    let closed = closed_port();
    let mirror = format!("{SOURCE}={closed}");
    let args = [
        "--catalog",
        &catalog,
        "export",
        "--airgap",
        "-o",
        "x",
        "-q",
        "--registry-mirror",
        &mirror,
        "--insecure-registry",
        &closed,
    ];
    snap("export_unreachable", &bundle_env(&w.dir, &args, None, &[]));

    // A tag the registry does not have (exit 1).
    write_lock(&w.dir, &w.solved.replace("team/app:v1", "team/app:v9"));
    snap("export_not_found", &export(&["-o", "x", "-q"]));

    // A layer that changed in the registry's storage: the export is incomplete (exit 1) and resumable.
    w.reset_lock();
    let (layer, original) = &w.pushed["legacy/tool:1.0"].blobs[1];
    w.registry.corrupt_blob(layer, original);
    snap("export_incomplete", &export(&["-o", "y.tar", "-q"]));
}

#[test]
fn mirror_messages() {
    let Some(w) = World::new(Variant::Plain, "mirror_messages", "", &[]) else {
        return;
    };
    let r = w.run("export", &["--airgap", "-o", "bundle", "-q"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let Some(far) = crate::support::Registry::start(Variant::Plain, "mirror_messages") else {
        return;
    };
    let catalog = crate::support::world::catalog();
    let to = format!("{}/platform", far.host);
    let mirror = |bundle: &str, to: &str, extra: &[&str]| {
        let mut args = vec![
            "--catalog",
            &catalog,
            "mirror",
            bundle,
            "--to",
            to,
            "--insecure-registry",
            &far.host,
        ];
        args.extend_from_slice(extra);
        bundle_env(&w.dir, &args, None, &[])
    };
    snap("mirror_pushes", &mirror("bundle", &to, &["--jobs", "1"]));
    let again = ["--format", "json", "--verify-remote", "-o", "far"];
    snap("mirror_again_json", &mirror("bundle", &to, &again));

    // A corrupt bundle: nothing pushed (exit 1).
    crate::support::copy_dir(&w.dir.join("bundle"), &w.dir.join("bad"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.dir.join("bad/index.json")).unwrap()).unwrap();
    let first = index["manifests"][0]["digest"].as_str().unwrap();
    let path = w
        .dir
        .join("bad/blobs/sha256")
        .join(first.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b' ');
    std::fs::write(&path, bytes).unwrap();
    snap("mirror_corrupt_bundle", &mirror("bad", &to, &[]));

    // The registry cannot be reached (exit 1).
    let closed = format!("{}/platform", closed_port());
    let args = ["--catalog", &catalog, "mirror", "bundle", "--to", &closed];
    let mut args = args.to_vec();
    let host = closed.split('/').next().unwrap().to_string();
    args.extend(["--insecure-registry", &host, "--retries", "1"]);
    snap("mirror_unreachable", &bundle_env(&w.dir, &args, None, &[]));

    // Bad usage and input (exit 2).
    snap("mirror_no_project", &mirror("bundle", &far.host, &[]));
    snap("mirror_scheme", &mirror("bundle", "https://h/p", &[]));
    let strip = ["-o", "x", "--strip-registry-host"];
    snap("mirror_render_and_strip", &mirror("bundle", &to, &strip));
    snap("mirror_not_a_bundle", &mirror("bundle.lock", &to, &[]));
}

#[test]
fn registry_refusals_exit_1_with_a_hint() {
    let user = "alice";
    let password = "s3cret-pass";
    let variant = Variant::Basic {
        user: user.into(),
        password: password.into(),
    };
    let Some(w) = World::new(variant, "registry_refusals_exit_1_with_a_hint", "", &[]) else {
        return;
    };
    snap("pin_no_credentials", &w.run("pin", &["-q"], None));
    let export = ["--airgap", "-o", "out", "-q"];
    snap("export_no_credentials", &w.run("export", &export, None));
    let mut with_credentials = export.to_vec();
    with_credentials.extend(["--username", user, "--password-stdin"]);
    let r = w.run("export", &with_credentials, Some(password));
    assert_eq!(r.code, 0, "{}", r.stderr);

    let to = format!("{}/platform", w.registry.host);
    let args = [
        "mirror",
        "out",
        "--to",
        &to,
        "--insecure-registry",
        &w.registry.host,
        "--username",
        user,
        "--password-stdin",
    ];
    let wrong = bundle_env(&w.dir, &args, Some("wrong"), &[]);
    assert!(!wrong.stderr.contains("wrong\n"));
    snap("mirror_wrong_password", &wrong);
}

/// A FIFO at `path` (nobody writes to it: reading it would wait for ever).
fn fifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {}", path.display());
}

/// Every kind of input `bundle` parses, given wrong (a device, a FIFO, a directory, a file far too
/// large, an alias bomb, a 100 kB argument, binary): exit 2, decided before any work starts, with a
/// message that names the input and is short and printable. A FIFO is refused without being opened
/// (opening it would wait for a writer that never comes).
#[test]
fn bad_inputs_exit_2_with_a_message_naming_the_input() {
    let dir = tempdir();
    let catalog = crate::support::world::catalog();
    let solved = bundle_env(&dir, &["--catalog", &catalog, "solve"], None, &[]);
    assert_eq!(solved.code, 0, "{}", solved.stderr);
    fifo(&dir.join("fifo"));
    let big = std::fs::File::create(dir.join("big.yaml")).unwrap();
    big.set_len(2 << 20).unwrap();
    std::fs::write(
        dir.join("binary.tar"),
        [0x7f, b'E', b'L', b'F', 0, 1, 2, 0x1b, 0xff],
    )
    .unwrap();
    let bomb = dir.join("bomb");
    std::fs::create_dir(&bomb).unwrap();
    let mut yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
    for i in 1..8 {
        let p = format!("*a{}", i - 1);
        yaml.push_str(&format!("a{i}: &a{i} [{}]\n", [p.as_str(); 10].join(", ")));
    }
    std::fs::write(bomb.join("bundle.lock"), &yaml).unwrap();
    let fifo_catalog = dir.join("fifo-catalog");
    std::fs::create_dir(&fifo_catalog).unwrap();
    fifo(&fifo_catalog.join("catalog.yaml"));
    let big_catalog = dir.join("big-catalog");
    std::fs::create_dir(&big_catalog).unwrap();
    let f = std::fs::File::create(big_catalog.join("catalog.yaml")).unwrap();
    f.set_len(2 << 20).unwrap();
    let range = format!(">={}", "1".repeat(100_000));
    let closed = closed_port();
    let mirror = format!("{SOURCE}={closed}");
    let at = |p: &str| dir.join(p).display().to_string();
    let registry = ["--registry-mirror", &mirror, "--insecure-registry", &closed];

    type Case<'a> = (&'a str, Vec<String>, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        (
            "bad_input_request_device",
            vec!["solve".into(), "-f".into(), "/dev/zero".into()],
            vec![],
        ),
        (
            "bad_input_request_fifo",
            vec!["solve".into(), "-f".into(), at("fifo")],
            vec![],
        ),
        (
            "bad_input_request_too_large",
            vec!["solve".into(), "-f".into(), at("big.yaml")],
            vec![],
        ),
        (
            "bad_input_lock_directory",
            vec!["pin".into(), "--lock".into(), at("bomb")],
            vec![],
        ),
        (
            "bad_input_lock_fifo",
            vec!["pin".into(), "--lock".into(), at("fifo")],
            vec![],
        ),
        (
            "bad_input_lock_alias_bomb",
            vec![
                "pin".into(),
                "--lock".into(),
                bomb.join("bundle.lock").display().to_string(),
            ],
            vec![],
        ),
        (
            "bad_input_huge_range",
            vec!["solve".into(), "--kubernetes".into(), range.clone()],
            vec![],
        ),
        (
            "bad_input_ca_file_fifo",
            [
                &["pin".to_string(), "--ca-file".into(), at("fifo")][..],
                &registry.map(String::from),
            ]
            .concat(),
            vec![],
        ),
        (
            "bad_input_auth_file_fifo",
            [
                &["pin".to_string(), "--jobs".into(), "1".into()][..],
                &registry.map(String::from),
            ]
            .concat(),
            vec![("REGISTRY_AUTH_FILE", at("fifo"))],
        ),
        (
            "bad_input_mirror_ca_file_missing",
            vec![
                "mirror".into(),
                at("bomb"),
                "--to".into(),
                format!("{closed}/p"),
                "--ca-file".into(),
                at("missing.pem"),
            ],
            vec![],
        ),
        (
            "bad_input_binary_bundle",
            vec!["inspect".into(), at("binary.tar")],
            vec![],
        ),
        (
            "bad_input_export_output_is_a_file",
            [
                &[
                    "export".to_string(),
                    "--airgap".into(),
                    "-o".into(),
                    at("big.yaml"),
                ][..],
                &registry.map(String::from),
            ]
            .concat(),
            vec![],
        ),
        (
            "bad_input_lock_too_large",
            vec!["pin".into(), "--lock".into(), at("big.yaml")],
            vec![("BUNDLE_MAX_LOCK_SIZE", "1MiB".to_string())],
        ),
        (
            "bad_input_catalog_file_too_large",
            vec![
                "--catalog".into(),
                big_catalog.display().to_string(),
                "solve".into(),
            ],
            vec![("BUNDLE_MAX_CATALOG_FILE_SIZE", "1MiB".to_string())],
        ),
        (
            "bad_input_limit_not_a_size",
            vec!["solve".into()],
            vec![("BUNDLE_MAX_REQUEST_SIZE", "lots".to_string())],
        ),
        (
            "bad_input_catalog_fifo",
            vec![
                "--catalog".into(),
                fifo_catalog.display().to_string(),
                "solve".into(),
            ],
            vec![],
        ),
    ];
    for (name, args, env) in cases {
        let mut full: Vec<&str> = Vec::new();
        if args[0] != "--catalog" {
            full.extend(["--catalog", &catalog]);
        }
        full.extend(args.iter().map(String::as_str));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = bundle_env(&dir, &full, None, &env);
        assert_eq!(r.code, 2, "{name}: {r:?}");
        assert!(
            r.stderr.len() < 2000,
            "{name}: {} bytes of stderr",
            r.stderr.len()
        );
        assert!(
            !r.stderr.chars().any(|c| c.is_control() && c != '\n'),
            "{name}: {:?}",
            r.stderr
        );
        snap(name, &r);
    }
    // Raised, the same request is read (and refused for what it holds, not for its size).
    let r = bundle_env(
        &dir,
        &["--catalog", &catalog, "solve", "-f", &at("big.yaml")],
        None,
        &[("BUNDLE_MAX_REQUEST_SIZE", "4MiB")],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!r.stderr.contains("larger than"), "{}", r.stderr);
}
