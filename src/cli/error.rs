//! One table from each layer's error to an exit code and a hint: every `From<…> for Failure` is
//! here, so that a kind of failure exits the same way in every command.
//!
//! | exit | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | a negative answer (unsatisfiable, lint problems, lock out of date, a tag that moved, a corrupt or damaged bundle) or a failed operation: a registry that refused, was unreachable, failed TLS verification, answered 5xx/429 on every attempt or nonsense; a write that failed (a full disk) |
//! | 2 | bad usage or bad input, decided before any work starts: flags, a malformed lock, catalog, request, bundle or CA file, a file that is not a regular file or is too large, credentials that cannot be read |
//!
//! `docs/reliability.md` states this contract for users and lists the faults and bad inputs tried.

use crate::airgap::archive::ReadError;
use crate::airgap::export::ExportError;
use crate::airgap::mirror::{MirrorError, Missing};
use crate::airgap::verify::VerifyError;
use crate::lock::LockError;
use crate::oci::{PullError, PushError, ResolveError, SetupError};
use crate::pin::{ArtifactError, PinError};
use crate::render::RenderError;

/// Exit code of a failed operation or a negative answer.
const FAILED: u8 = 1;
/// Exit code of bad usage or bad input.
const BAD_INPUT: u8 = 2;

/// A failure of a command: what to print and which exit code to use.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(super) code: u8,
    pub(super) message: String,
    pub(super) hints: Vec<String>,
}

impl Failure {
    /// Bad usage or bad input (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: BAD_INPUT,
            message: message.into(),
            hints: Vec::new(),
        }
    }
    /// A failed operation or a negative answer (exit 1), with its message.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: FAILED,
            message: message.into(),
            hints: Vec::new(),
        }
    }
    /// A negative answer (exit 1), already printed.
    pub(crate) fn negative() -> Self {
        Failure::failed("")
    }
    /// The same exit code, everything (message and hints) already printed by the command.
    pub(crate) fn printed(mut self) -> Self {
        self.message.clear();
        self.hints.clear();
        self
    }
    /// The same failure, its message prefixed with `context: ` (a file name, typically).
    pub(crate) fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
    /// Adds a hint line.
    pub(crate) fn hint(mut self, h: impl Into<String>) -> Self {
        let h = h.into();
        if !self.hints.contains(&h) {
            self.hints.push(h);
        }
        self
    }
    /// Adds a hint line, when there is one.
    pub(crate) fn maybe_hint(self, h: Option<String>) -> Self {
        match h {
            Some(h) => self.hint(h),
            None => self,
        }
    }
    /// The worse of two failures: bad input over a failed operation (the user has to act first).
    pub(crate) fn worst(self, other: Failure) -> Failure {
        let (mut worse, better) = if other.code > self.code {
            (other, self)
        } else {
            (self, other)
        };
        for h in better.hints {
            worse = worse.hint(h);
        }
        worse
    }
}

/// The exit code of a registry error: 2 when the fault is in what the user gave (a reference,
/// credentials that cannot be read), 1 when the registry refused, failed or could not be reached.
pub(crate) fn registry_code(e: &ResolveError) -> u8 {
    match e {
        ResolveError::InvalidReference { .. } | ResolveError::Credentials { .. } => BAD_INPUT,
        ResolveError::Unauthorized { .. }
        | ResolveError::NotFound { .. }
        | ResolveError::Tls { .. }
        | ResolveError::Unreachable { .. }
        | ResolveError::Unavailable { .. }
        | ResolveError::Protocol { .. } => FAILED,
    }
}

/// What to tell the user to do about a registry error, if anything.
pub(crate) fn registry_hint(e: &ResolveError) -> Option<String> {
    match e {
        ResolveError::Unauthorized { registry, .. }
        | ResolveError::Credentials { registry, .. } => Some(format!(
            "supply credentials for {registry}: --username USER --password-stdin, or `podman login {registry}` \
                 / `docker login {registry}` (read from REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, \
                 ~/.config/containers/auth.json, ~/.docker/config.json)"
        )),
        ResolveError::Tls { registry, .. } => Some(format!(
            "trust the CA that signed {registry}'s certificate with --ca-file PATH (PEM), \
             or skip verification for that host only with --insecure-registry {registry}"
        )),
        ResolveError::Unavailable { registry, .. } => Some(format!(
            "{registry} is overloaded or failing; run the same command again later (it resumes), \
             or allow more attempts with --retries N and --max-backoff SECONDS"
        )),
        ResolveError::Unreachable { registry, .. } => Some(format!(
            "check that {registry} is up and reachable from here (and the --registry-mirror target, if any); \
             a registry without TLS needs --insecure-registry {registry}"
        )),
        _ => None,
    }
}

impl From<&ResolveError> for Failure {
    fn from(e: &ResolveError) -> Self {
        Failure {
            code: registry_code(e),
            message: e.to_string(),
            hints: Vec::new(),
        }
        .maybe_hint(registry_hint(e))
    }
}

impl From<&PullError> for Failure {
    fn from(e: &PullError) -> Self {
        match e {
            PullError::Registry(r) => r.into(),
            // The content is not what was asked for, or could not be written: the operation failed.
            other => Failure::failed(other.to_string()),
        }
    }
}

impl From<&ArtifactError> for Failure {
    /// A chart or release manifest: as a registry error when upstream failed; a cache that cannot be
    /// used is bad input; content that is not what it claims (another chart, another digest than the
    /// index or the lock publishes) a failed operation.
    fn from(e: &ArtifactError) -> Self {
        match e {
            ArtifactError::Pull(p) => p.into(),
            ArtifactError::Repository(inner) => inner.as_ref().into(),
            ArtifactError::Store { .. } => Failure::usage(e.to_string())
                .hint("check the cache directory, or name another one with --cache-dir DIR"),
            ArtifactError::NotInIndex { .. } => Failure::failed(e.to_string()).hint(
                "check the chart's coordinates in the catalog, and that the repository (or its --url-mirror) \
                 serves upstream's index",
            ),
            ArtifactError::BadIndex { .. }
            | ArtifactError::IndexDigest { .. }
            | ArtifactError::NotTheChart { .. }
            | ArtifactError::Changed { .. } => Failure::failed(e.to_string()),
        }
    }
}

impl From<crate::input::InputError> for Failure {
    /// A file the user named that cannot be read as what it should be: bad input, found before any
    /// work starts.
    fn from(e: crate::input::InputError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<SetupError> for Failure {
    fn from(e: SetupError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Self {
        let hint = match &e {
            LockError::UnsupportedVersion { .. } => {
                "this lock was written by another release of bundle; re-create it with `bundle solve`"
            }
            LockError::Malformed { .. } => {
                "fix the lock, or re-create it with `bundle solve` (and `bundle pin`)"
            }
        };
        Failure::usage(e.to_string()).hint(hint)
    }
}

impl From<PinError> for Failure {
    fn from(e: PinError) -> Self {
        Failure::usage(e.to_string())
            .hint("re-run `bundle solve` (or fix the catalog) so the image has one digest")
    }
}

impl From<RenderError> for Failure {
    fn from(e: RenderError) -> Self {
        use crate::render::helm::HelmError;
        let hint = match &e {
            RenderError::Template { .. } => {
                "templates address images by the last part of their repository name; \
                 a lock from another catalog may lack one"
            }
            RenderError::Helm(HelmError::NotFound | HelmError::TooOld { .. }) => {
                "without helm: `--delivery flux` (Flux renders the charts in the cluster), or render \
                 from a bundle exported where helm is (`bundle render --bundle PATH`)"
            }
            RenderError::Artifact(_) => {
                "`bundle pin` fetches every chart and manifest of the lock into the cache \
                 (use the same --cache-dir / BUNDLE_CACHE_DIR for pin and render)"
            }
            _ => "`bundle render --check` shows what the templates need from the lock",
        };
        Failure::usage(e.to_string()).hint(hint)
    }
}

/// What a bundle is, for errors about a path that is not one.
const BUNDLE_SHAPE: &str = "a bundle is an OCI image layout directory (oci-layout, index.json, \
                            blobs/sha256/), or a .tar or .tar.zst of one";

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Self {
        let f = Failure::usage(e.to_string());
        match e {
            ReadError::Damaged { path, .. } => Failure { code: FAILED, ..f }.hint(format!(
                "`bundle verify {path}` checks every blob; copy the bundle again, or export it again"
            )),
            ReadError::NotABundle { .. } => f.hint(BUNDLE_SHAPE),
            ReadError::Io { .. } => f,
            ReadError::Part { .. } => Failure::failed(e.to_string()),
        }
    }
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        let f = Failure::usage(e.to_string());
        match e {
            VerifyError::NotABundle { .. } => f.hint(BUNDLE_SHAPE),
            VerifyError::Io { .. } => f,
            VerifyError::Part { .. } => Failure::failed(e.to_string()),
        }
    }
}

impl From<&PushError> for Failure {
    fn from(e: &PushError) -> Self {
        match e {
            PushError::Credentials { registry, .. } => Failure::usage(e.to_string()).hint(format!(
                "check the credentials for {registry} (--username USER --password-stdin, or `podman login {registry}`)"
            )),
            PushError::Io { .. } => Failure::usage(e.to_string()),
            PushError::Denied { registry, .. } => Failure::failed(e.to_string()).hint(format!(
                "check the user name and password for {registry} (--username USER --password-stdin, \
                 or `podman login {registry}`), and that the account may push to the project"
            )),
            PushError::Tls { registry, .. } => Failure::failed(e.to_string()).hint(format!(
                "trust the CA that signed {registry}'s certificate with --ca-file PATH, \
                 or --insecure-registry {registry}"
            )),
            PushError::Unavailable { .. } | PushError::Protocol { .. } => {
                Failure::failed(e.to_string())
                    .hint("run the same command again: it pushes only what is missing")
            }
        }
    }
}

/// `message`, then what the registry still lacks (at most 10 lines of it).
fn with_missing(mut message: String, missing: &Missing) -> String {
    let n = missing.blobs.len() + missing.manifests.len() + missing.tags.len();
    if n == 0 {
        return message;
    }
    message.push_str(&format!(
        "\nstill missing on the registry: {} blob(s), {} manifest(s), {} tag(s){}",
        missing.blobs.len(),
        missing.manifests.len(),
        missing.tags.len(),
        if missing.tags.is_empty() {
            ""
        } else {
            " (no tag points at anything missing)"
        }
    ));
    let all = missing
        .tags
        .iter()
        .chain(&missing.manifests)
        .chain(&missing.blobs);
    for m in all.take(10) {
        message.push_str(&format!("\n  {m}"));
    }
    if n > 10 {
        message.push_str(&format!("\n  … and {} more", n - 10));
    }
    message
}

impl From<MirrorError> for Failure {
    fn from(e: MirrorError) -> Self {
        match e {
            MirrorError::Corrupt { path, problems } => {
                let mut message = format!(
                    "{path}: the bundle is corrupt ({} problem(s)); nothing was pushed",
                    problems.len()
                );
                for p in problems.iter().take(20) {
                    message.push_str(&format!("\n  {}: {}", p.subject, p.message));
                }
                Failure::failed(message)
                    .hint("export the bundle again, or copy it again from the source")
            }
            MirrorError::Push { error, missing } => {
                let f = Failure::from(error.as_ref());
                Failure {
                    message: with_missing(f.message, &missing),
                    ..f
                }
            }
            MirrorError::RemoteMismatch { .. } => Failure::failed(e.to_string()),
            MirrorError::BaseMissing { ref missing, .. } => {
                let mut message = e.to_string();
                for m in missing.iter().take(10) {
                    message.push_str(&format!("\n  missing: {m}"));
                }
                if missing.len() > 10 {
                    message.push_str(&format!("\n  … and {} more", missing.len() - 10));
                }
                Failure::failed(message).hint(
                    "mirror the base bundle into the same target first (bundle mirror BASE --to …), then this delta",
                )
            }
            MirrorError::Signature { .. } => Failure::failed(e.to_string()).hint(
                "take the bundle from its signed export again, or check --key names the exporter's public key",
            ),
            MirrorError::WorkDir { .. } => Failure::failed(e.to_string()).hint(
                "free some space next to the bundle (or under $TMPDIR) and run again; nothing was pushed",
            ),
            MirrorError::Collision { .. } | MirrorError::Name { .. } => {
                Failure::usage(e.to_string()).hint("nothing was pushed")
            }
            MirrorError::Target { .. } => {
                Failure::usage(e.to_string()).hint("e.g. --to harbor.example.com/platform")
            }
            MirrorError::Unreadable(e) => e.into(),
            MirrorError::Lock(e) => e.into(),
            MirrorError::Render(e) => e.into(),
            MirrorError::RenderProblems(_) => Failure::failed(e.to_string()),
            MirrorError::Bundle { .. } => Failure::usage(e.to_string()),
        }
    }
}

impl From<ExportError> for Failure {
    /// Export's failures that are not lists of images (those are reported image by image, see
    /// `export_cmd`).
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Lock(e) => e.into(),
            ExportError::Render(e) => e.into(),
            ExportError::RenderProblems(problems) => {
                let mut message =
                    format!("the rendered manifests have {} problem(s):", problems.len());
                for p in &problems {
                    message.push_str(&format!("\n  {p}"));
                }
                message
                    .push_str("\n  nothing was exported (`bundle render --check` shows the same)");
                Failure::failed(message)
            }
            // The output was checked before the run: a write that fails now (a full disk) is a
            // failed operation, and what was written is kept for the rerun.
            ExportError::Layout(_) | ExportError::Pack(_) => Failure::failed(e.to_string()).hint(
                "free some space (or fix the permissions) and run the same command again: it resumes",
            ),
            ExportError::Pin(_)
            | ExportError::Incomplete { .. }
            | ExportError::Artifacts(_)
            | ExportError::Artifact(_) => Failure::failed(e.to_string()),
            ExportError::Base { .. } => Failure::usage(e.to_string()).hint(
                "--since takes the bundle the far side has, its lock, or a directory of locks",
            ),
            ExportError::Plan(_) => Failure::usage(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_failures_exit_1_and_bad_input_2() {
        let unreachable = ResolveError::Unreachable {
            registry: "r".into(),
            detail: "refused".into(),
        };
        let denied = ResolveError::Unauthorized {
            registry: "r".into(),
            fetched: "r/x:1".into(),
            status: "401 Unauthorized".into(),
            anonymous: true,
        };
        let unreadable = ResolveError::Credentials {
            registry: "r".into(),
            source: crate::oci::CredentialError::NotAuthFile {
                path: "auth.json".into(),
                message: "not JSON".into(),
            },
        };
        assert_eq!(Failure::from(&unreachable).code, 1);
        assert_eq!(Failure::from(&denied).code, 1);
        assert_eq!(Failure::from(&unreadable).code, 2);
        let push = PushError::Denied {
            registry: "r".into(),
            account: None,
            action: "push".into(),
            status: "403".into(),
        };
        assert_eq!(Failure::from(&push).code, 1);
        let worst = Failure::from(&denied).worst(Failure::from(&unreadable));
        assert_eq!(worst.code, 2);
        assert_eq!(
            worst.hints.len(),
            1,
            "one hint, said once: {:?}",
            worst.hints
        );
    }
}
