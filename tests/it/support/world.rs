//! The world the pin, export, mirror and message tests start from: the images of
//! `tests/fixtures/registry-catalog` pushed to a real registry, and a directory holding the lock solved
//! from that catalog (no digests yet).

use std::collections::BTreeMap;

use super::images::{IMAGES, Image, SOURCE, image};
use super::registry::{Registry, Variant};
use super::{Run, TempDir, bundle_env, fixture, tempdir};

/// A registry with the fixture images and a solved lock.
pub struct World {
    /// The registry.
    pub registry: Registry,
    /// Where `bundle` runs; holds `bundle.lock`.
    pub dir: TempDir,
    /// Path prefix in the registry under which the images are pushed (`""` or `x/y/`).
    pub prefix: String,
    /// What was pushed, by `repository:tag` (without prefix).
    pub pushed: BTreeMap<&'static str, Image>,
    /// The lock as solved (no digests).
    pub solved: String,
}

impl World {
    /// Starts a registry, pushes the fixture images (all but `skip`) under `prefix`, solves the lock;
    /// `None` when the registry cannot run here (a failure under CI).
    pub fn new(variant: Variant, test: &str, prefix: &str, skip: &[&str]) -> Option<World> {
        let registry = Registry::start(variant, test)?;
        let mut pushed = BTreeMap::new();
        for (repo, kind) in IMAGES {
            if skip.contains(&repo) {
                continue;
            }
            let img = image(kind);
            registry.push(&format!("{prefix}{repo}"), &img);
            pushed.insert(repo, img);
        }
        let dir = tempdir();
        let r = bundle_env(&dir, &["--catalog", &catalog(), "solve"], None, &[]);
        assert_eq!(r.code, 0, "solve: {}", r.stderr);
        let solved = std::fs::read_to_string(dir.join("bundle.lock")).unwrap();
        Some(World {
            registry,
            dir,
            prefix: prefix.to_string(),
            pushed,
            solved,
        })
    }

    /// `--registry-mirror` value: the fixture's source registry at this registry (and prefix).
    pub fn mirror(&self) -> String {
        self.mirror_at(&self.registry.host)
    }

    /// `--registry-mirror` value: the fixture's source registry at `host` (a proxy in front of this
    /// registry, say) and the prefix.
    pub fn mirror_at(&self, host: &str) -> String {
        let prefix = self.prefix.trim_end_matches('/');
        if prefix.is_empty() {
            format!("{SOURCE}={host}")
        } else {
            format!("{SOURCE}={host}/{prefix}")
        }
    }

    /// Like [`World::run`], with the registry reached through `host` (plain HTTP: a fault proxy).
    pub fn args_through(&self, host: &str, command: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--catalog".into(),
            catalog(),
            command.into(),
            "--registry-mirror".into(),
            self.mirror_at(host),
            "--insecure-registry".into(),
            host.into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Runs [`World::args_through`].
    pub fn run_through(&self, host: &str, command: &str, extra: &[&str]) -> Run {
        let args = self.args_through(host, command, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bundle_env(&self.dir, &args, None, &[])
    }

    /// `bundle --catalog FIXTURE COMMAND --registry-mirror … [--insecure-registry HOST] EXTRA…` in the
    /// world's directory (plain-HTTP registries are named insecure; a TLS one is not).
    pub fn run(&self, command: &str, extra: &[&str], stdin: Option<&str>) -> Run {
        let (catalog, mirror) = (catalog(), self.mirror());
        let mut args = vec!["--catalog", &catalog, command, "--registry-mirror", &mirror];
        if self.registry.variant != Variant::Tls {
            args.extend(["--insecure-registry", &self.registry.host]);
        }
        args.extend_from_slice(extra);
        bundle_env(&self.dir, &args, stdin, &[])
    }

    /// The lock as it is now.
    pub fn lock_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("bundle.lock")).unwrap()
    }

    /// Puts the solved lock back.
    pub fn reset_lock(&self) {
        std::fs::write(self.dir.join("bundle.lock"), &self.solved).unwrap();
    }
}

/// The fixture catalog the world is solved from.
pub fn catalog() -> String {
    fixture("registry-catalog").display().to_string()
}
