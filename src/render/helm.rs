//! Running `helm template` (Helm v3.8 or newer, or v4) on a packaged chart.
//!
//! Helm is found as `$BUNDLE_HELM` or `helm` on `PATH`. It renders the chart from the `.tgz` in
//! the content store (never from a repository), for the locked Kubernetes version
//! (`--kube-version`), with the CRDs (`--include-crds`), without chart tests (`--skip-tests`),
//! and with the API versions the platform's own CRDs serve (`--api-versions`), so that charts
//! which render a ServiceMonitor only "when the API exists" do so. Values come on stdin.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The oldest Helm render works with (`helm template --skip-tests`, OCI support stable).
pub const MINIMUM: (u64, u64) = (3, 8);

/// Helm, found and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helm {
    path: PathBuf,
    version: String,
}

/// Helm is missing, too old or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelmError {
    /// Not found.
    #[error(
        "helm is needed to render charts and was not found (looked for $BUNDLE_HELM and `helm` on PATH); \
         install Helm v3.8 or newer (or v4): https://helm.sh/docs/intro/install/"
    )]
    NotFound,
    /// Too old or unreadable version.
    #[error("{path}: helm {found} is too old; install Helm v3.8 or newer (or v4)")]
    TooOld {
        /// The binary.
        path: String,
        /// The version it reports.
        found: String,
    },
    /// `helm template` failed.
    #[error("helm template of chart {chart}: {message}")]
    Template {
        /// The chart.
        chart: String,
        /// What helm said.
        message: String,
    },
}

/// One `helm template` run.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Release name.
    pub release: &'a str,
    /// Release namespace.
    pub namespace: &'a str,
    /// The packaged chart.
    pub archive: &'a Path,
    /// Values (YAML), empty for the chart's defaults.
    pub values: &'a str,
    /// `MAJOR.MINOR.PATCH` of Kubernetes.
    pub kube_version: &'a str,
    /// Extra API versions (`group/version` and `group/version/Kind`).
    pub api_versions: &'a [String],
    /// For messages: `name version`.
    pub label: &'a str,
}

impl Helm {
    /// Finds helm and checks its version.
    pub fn find() -> Result<Helm, HelmError> {
        let path = match std::env::var_os("BUNDLE_HELM") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => which("helm").ok_or(HelmError::NotFound)?,
        };
        let out = Command::new(&path)
            .args(["version", "--template", "{{.Version}}"])
            .stdin(Stdio::null())
            .output()
            .map_err(|_| HelmError::NotFound)?;
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let ok = out.status.success()
            && parse_version(&found).is_some_and(|(maj, min)| (maj, min) >= MINIMUM);
        if !ok {
            return Err(HelmError::TooOld {
                path: path.display().to_string(),
                found: if found.is_empty() {
                    "(no version)".to_string()
                } else {
                    found
                },
            });
        }
        Ok(Helm {
            path,
            version: found,
        })
    }

    /// The version helm reports (`v4.1.4`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Renders a chart; returns the YAML stream.
    pub fn template(&self, r: &Request<'_>) -> Result<String, HelmError> {
        let mut cmd = Command::new(&self.path);
        cmd.arg("template")
            .arg(r.release)
            .arg(r.archive)
            .args(["--namespace", r.namespace])
            .args(["--kube-version", r.kube_version])
            .args(["--include-crds", "--skip-tests"])
            .args(["--values", "-"]);
        for a in r.api_versions {
            cmd.args(["--api-versions", a]);
        }
        let err = |message: String| HelmError::Template {
            chart: r.label.to_string(),
            message,
        };
        // No repository, registry or plugin configuration of the user's is needed or wanted: helm's
        // homes are a fresh directory of this run alone (a unique name), removed when the run ends
        // however it ends.
        let homes = tempfile::Builder::new()
            .prefix("bundle-helm-")
            .tempdir()
            .map_err(|e| err(format!("cannot make a temporary directory: {e}")))?;
        let scratch = homes.path();
        cmd.env("HELM_CACHE_HOME", scratch.join("cache"))
            .env("HELM_CONFIG_HOME", scratch.join("config"))
            .env("HELM_DATA_HOME", scratch.join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| err(e.to_string()))?;
        let values = r.values.to_string();
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| err("no stdin".to_string()))?;
        let writer = std::thread::spawn(move || stdin.write_all(values.as_bytes()));
        let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
        let _ = writer.join();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(err(stderr.trim().to_string()));
        }
        String::from_utf8(out.stdout).map_err(|_| err("output is not UTF-8".to_string()))
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `v3.8.0` / `v4.1.4+g05fa379` → (major, minor).
fn parse_version(v: &str) -> Option<(u64, u64)> {
    let v = v.trim().trim_start_matches('v');
    let mut it = v.split(['.', '+', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v4.1.4"), Some((4, 1)));
        assert_eq!(parse_version("v3.8.0+gabc"), Some((3, 8)));
        assert_eq!(parse_version("nonsense"), None);
        assert!(parse_version("v3.7.2").unwrap() < MINIMUM);
    }
}
