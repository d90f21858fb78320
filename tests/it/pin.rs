//! `bundle pin` against a real registry process.
//!
//! Each test starts its own `docker-registry` (see `registry.rs`), pushes synthetic images, solves the
//! synthetic catalog in `tests/fixtures/registry-catalog` (every image under `registry.example.test`) and pins the
//! lock through `--registry-mirror registry.example.test=127.0.0.1:PORT[/prefix]`: the lock keeps the upstream
//! references, the digests come from the mirror.

use std::collections::BTreeMap;

use base64::Engine as _;
use bundle::lock::Lock;

use crate::support::{IMAGES, Kind, SOURCE, Variant, bundle_env, image};
use crate::support::{Run, World, tempdir};

/// The world (see `support::World`) and what the pin tests do in it.
struct Setup(World);

impl std::ops::Deref for Setup {
    type Target = World;
    fn deref(&self) -> &World {
        &self.0
    }
}

impl Setup {
    /// Starts a registry, pushes the images (all but `skip`) under `prefix`, solves the lock.
    fn new(variant: Variant, test: &str, prefix: &str, skip: &[&str]) -> Option<Setup> {
        World::new(variant, test, prefix, skip).map(Setup)
    }

    /// `bundle pin --registry-mirror … EXTRA…`.
    fn pin(&self, extra: &[&str]) -> Run {
        self.pin_with(extra, None, &[])
    }

    fn pin_with(&self, extra: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mirror = self.mirror();
        let mut args = vec!["pin", "--registry-mirror", &mirror];
        args.extend_from_slice(extra);
        bundle_env(&self.dir, &args, stdin, env)
    }

    /// reference → digest, as the lock holds them.
    fn locked(&self) -> BTreeMap<String, Option<String>> {
        let lock = Lock::parse(&self.lock_text(), "bundle.lock").expect("the lock parses");
        lock.components
            .iter()
            .flat_map(|c| c.images.iter())
            .map(|i| {
                (
                    i.reference.to_string(),
                    i.digest.as_ref().map(|d| d.to_string()),
                )
            })
            .collect()
    }

    /// Asserts the lock holds, for every image, the digest of the manifest pushed for it.
    fn assert_pinned(&self) {
        let locked = self.locked();
        assert_eq!(locked.len(), IMAGES.len());
        for (repo, img) in &self.pushed {
            let reference = format!("{SOURCE}/{repo}");
            assert_eq!(
                locked.get(&reference).cloned().flatten().as_deref(),
                Some(img.digest.as_str()),
                "{reference}"
            );
        }
    }
}

fn assert_no_secret(r: &Run, secret: &str) {
    assert!(
        !r.stdout.contains(secret) && !r.stderr.contains(secret),
        "the secret was printed:\n{}\n{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn pin_resolves_all_four_kinds_over_http() {
    let Some(s) = Setup::new(
        Variant::Plain,
        "pin_resolves_all_four_kinds_over_http",
        "",
        &[],
    ) else {
        return;
    };
    let host = s.registry.host.clone();

    // Plain HTTP is refused unless the host is declared insecure.
    let r = s.pin(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&host), "{}", r.stderr);
    assert!(r.stderr.contains("--insecure-registry"), "{}", r.stderr);
    assert_eq!(s.lock_text(), s.solved, "nothing written on failure");

    let r = s.pin(&["--insecure-registry", &host]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, s.registry.log());
    assert!(r.stderr.contains("pinned 5/5"), "{}", r.stderr);
    assert!(r.stderr.contains("wrote bundle.lock"), "{}", r.stderr);
    s.assert_pinned();
    assert!(s.lock_text().starts_with("# @generated"));

    // The registry serves exactly these bytes (an independent client, when installed).
    for (repo, img) in &s.pushed {
        if let Some(d) = s.registry.skopeo_digest(repo) {
            assert_eq!(d, img.digest, "{repo}");
        }
    }
    // The index digest, not a platform manifest's.
    let multi = &s.pushed["team/multi:v2"];
    assert!(multi.children.iter().all(|c| c.digest != multi.digest));

    let pinned = s.lock_text();
    let r = s.pin(&["--insecure-registry", &host, "--check", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("checked 1/"), "--quiet: {}", r.stderr);

    let r = s.pin(&["--insecure-registry", &host, "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(json["ok"], true);
    assert_eq!(json["written"], false);
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 5);
    for i in images {
        assert_eq!(i["status"], "unchanged", "{i}");
        assert!(i["fetchedFrom"].as_str().unwrap().starts_with(&host), "{i}");
    }
    assert_eq!(s.lock_text(), pinned);
}

#[test]
fn moved_tag_is_detected() {
    let Some(s) = Setup::new(Variant::Plain, "moved_tag_is_detected", "", &[]) else {
        return;
    };
    let host = s.registry.host.clone();
    let r = s.pin(&["--insecure-registry", &host, "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pinned = s.lock_text();
    let old = s.pushed["team/app:v1"].digest.clone();

    let moved = image(Kind::OciImage);
    s.registry.push("team/app:v1", &moved);
    assert_ne!(moved.digest, old);

    for extra in [&["--check"][..], &[][..]] {
        let mut args = vec!["--insecure-registry", host.as_str()];
        args.extend_from_slice(extra);
        let r = s.pin(&args);
        assert_eq!(r.code, 1, "{extra:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("registry.example.test/team/app:v1")
                && r.stderr.contains(&old)
                && r.stderr.contains(&moved.digest)
                && r.stderr.contains("tag moved or mirror tampered"),
            "{extra:?}: {}",
            r.stderr
        );
        assert_eq!(s.lock_text(), pinned, "{extra:?}: nothing written");
    }

    // A lock without digests fails --check, naming what is missing.
    s.reset_lock();
    let r = s.pin(&["--insecure-registry", &host, "--check"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("registry.example.test/legacy/tool:1.0")
            && r.stderr.contains("no digest"),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_tag_and_unreachable_registry() {
    let Some(s) = Setup::new(
        Variant::Plain,
        "missing_tag_and_unreachable_registry",
        "",
        &["legacy/tool:1.0"],
    ) else {
        return;
    };
    let host = s.registry.host.clone();
    let r = s.pin(&["--insecure-registry", &host]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("registry.example.test/legacy/tool:1.0 (component legacy 2.0.0)")
            && r.stderr.contains("not found"),
        "{}",
        r.stderr
    );
    assert_eq!(s.lock_text(), s.solved, "nothing written");

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = format!("127.0.0.1:{closed}");
    let r = bundle_env(
        &s.dir,
        &[
            "pin",
            "--registry-mirror",
            &format!("{SOURCE}={gone}"),
            "--insecure-registry",
            &gone,
        ],
        None,
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&gone) && r.stderr.contains("unreachable"),
        "{}",
        r.stderr
    );
}

#[test]
fn basic_auth_with_flags_and_auth_file() {
    let (user, password) = ("pinner", "s3cret-Pass-17");
    let Some(s) = Setup::new(
        Variant::Basic {
            user: user.into(),
            password: password.into(),
        },
        "basic_auth_with_flags_and_auth_file",
        "",
        &[],
    ) else {
        return;
    };
    let host = s.registry.host.clone();
    let insecure = ["--insecure-registry", host.as_str()];

    // No credentials: the registry refuses (exit 1, as every registry failure), naming it and how to log in.
    let r = s.pin(&insecure);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&host) && r.stderr.contains("--password-stdin"),
        "{}",
        r.stderr
    );

    // A wrong password: exit 1, naming the registry, not the password.
    let mut args = insecure.to_vec();
    args.extend(["--username", user, "--password-stdin"]);
    let r = s.pin_with(&args, Some("wrong-Pass-99\n"), &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&host), "{}", r.stderr);
    assert_no_secret(&r, "wrong-Pass-99");
    assert_eq!(s.lock_text(), s.solved);

    // The right one.
    let r = s.pin_with(&args, Some(&format!("{password}\n")), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_secret(&r, password);
    s.assert_pinned();

    // From an auth file (containers-auth.json format) named by REGISTRY_AUTH_FILE.
    s.reset_lock();
    let auth_file = s.dir.join("auth.json");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        &auth_file,
        serde_json::json!({"auths": {host.clone(): {"auth": token}}}).to_string(),
    )
    .unwrap();
    let r = s.pin_with(
        &insecure,
        None,
        &[("REGISTRY_AUTH_FILE", auth_file.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_secret(&r, password);
    s.assert_pinned();

    // And Docker's config.json in $HOME (HOME is the test dir).
    s.reset_lock();
    let docker = s.dir.join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::rename(&auth_file, docker.join("config.json")).unwrap();
    let r = s.pin(&insecure);
    assert_eq!(r.code, 0, "{}", r.stderr);
    s.assert_pinned();

    // And a credential helper named by `credHelpers` (a script speaking the helper protocol).
    s.reset_lock();
    let bin = s.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-bundletest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n\
             [ \"$server\" = \"{host}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"credHelpers": {host.clone(): "bundletest"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = s.pin_with(&insecure, None, &[("PATH", &path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_secret(&r, password);
    s.assert_pinned();
}

#[test]
fn tls_needs_the_ca_or_insecure() {
    let Some(s) = Setup::new(Variant::Tls, "tls_needs_the_ca_or_insecure", "", &[]) else {
        return;
    };
    let host = s.registry.host.clone();
    let ca = s.registry.ca_file.clone().unwrap();

    let r = s.pin(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&host)
            && r.stderr.contains("certificate")
            && r.stderr.contains("--ca-file"),
        "{}",
        r.stderr
    );
    assert_eq!(s.lock_text(), s.solved);

    let r = s.pin(&["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, s.registry.log());
    s.assert_pinned();

    s.reset_lock();
    let r = s.pin(&["--insecure-registry", &host]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    s.assert_pinned();

    let r = s.pin(&["--ca-file", s.dir.join("nope.pem").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("nope.pem"), "{}", r.stderr);
}

#[test]
fn mirror_with_a_path_prefix() {
    let Some(s) = Setup::new(
        Variant::Plain,
        "mirror_with_a_path_prefix",
        "mirror/registry.example.test/",
        &[],
    ) else {
        return;
    };
    let host = s.registry.host.clone();
    let r = s.pin(&["--insecure-registry", &host, "--format", "json", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    s.assert_pinned();
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let app = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"] == "registry.example.test/team/app:v1")
        .expect("app in the output");
    assert_eq!(
        app["fetchedFrom"],
        format!("{host}/mirror/registry.example.test/team/app:v1")
    );
    assert_eq!(app["status"], "new");
    assert_eq!(app["registryDigest"], s.pushed["team/app:v1"].digest);
}

#[test]
fn bad_usage_is_exit_2() {
    let dir = tempdir();
    let r = bundle_env(&dir, &["pin"], None, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bundle.lock does not exist"),
        "{}",
        r.stderr
    );
    let r = bundle_env(&dir, &["pin", "--registry-mirror", "nonsense"], None, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = bundle_env(&dir, &["pin", "--username", "x"], None, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn pin_through_token_auth_like_harbor() {
    use crate::support::token_server::{Policy, TokenServer};
    let (user, password) = ("robot$platform+pin", "t0ken-Pass-42");
    let Some(tokens) = TokenServer::start(user, password, Policy::default(), "pin token auth")
    else {
        return;
    };
    let Some(s) = Setup::new(
        tokens.variant(),
        "pin_through_token_auth_like_harbor",
        "",
        &[],
    ) else {
        return;
    };
    let host = s.registry.host.clone();
    let insecure = ["--insecure-registry", host.as_str()];
    tokens.clear();

    // Without credentials the token service grants nothing and the registry answers 401: exit 1.
    let r = s.pin(&insecure);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&host), "{}", r.stderr);
    assert_eq!(s.lock_text(), s.solved, "nothing written on failure");
    assert!(
        tokens.issued().iter().all(|i| i.account.is_none()),
        "{:?}",
        tokens.issued()
    );

    // A wrong password: the token service refuses it; exit 1, the password never printed.
    let mut args = insecure.to_vec();
    args.extend(["--username", user, "--password-stdin"]);
    let r = s.pin_with(&args, Some("wrong-Pass-99\n"), &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_no_secret(&r, "wrong-Pass-99");
    assert_eq!(s.lock_text(), s.solved);

    // The right one: tokens fetched with the robot account, every image pinned.
    tokens.clear();
    let r = s.pin_with(&args, Some(&format!("{password}\n")), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, s.registry.log());
    assert_no_secret(&r, password);
    s.assert_pinned();
    let issued = tokens.issued();
    assert!(
        issued
            .iter()
            .any(|i| i.status == 200 && i.account.as_deref() == Some(user)),
        "{issued:?}"
    );
}
