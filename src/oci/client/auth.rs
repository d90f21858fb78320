//! Registry credentials: given directly, or looked up in auth files (`containers-auth.json(5)`, Docker's
//! `config.json`) and Docker credential helpers. Secrets never reach a `Debug` or an error message.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use serde::Deserialize;

use crate::types::normalize_registry;

/// A secret: shown as `<redacted>` by `Debug` and never by `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Password(secret)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A user name and password for a registry (HTTP Basic, or exchanged for a Bearer token by the client).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: Password,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// Credentials could not be looked up (never says a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// An auth file exists but cannot be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An auth file is not JSON of the auth-file shape.
    #[error("{}: not a valid auth file: {message}", path.display())]
    NotAuthFile {
        /// The file.
        path: PathBuf,
        /// What the JSON reader said.
        message: String,
    },
    /// An entry of an auth file cannot be used.
    #[error("{}: {key}: {problem}", path.display())]
    Entry {
        /// The file.
        path: PathBuf,
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        problem: EntryProblem,
    },
    /// A credential helper's name that cannot name a program.
    #[error("credential helper name `{0}` is not valid")]
    HelperName(String),
    /// A credential helper could not be run.
    #[error("{program}: {message}")]
    HelperRun {
        /// `docker-credential-NAME`.
        program: String,
        /// Why.
        message: String,
    },
    /// A credential helper failed (its output is not shown: it is not ours to show).
    #[error("{program} get failed ({status})")]
    HelperFailed {
        /// `docker-credential-NAME`.
        program: String,
        /// Its exit status.
        status: String,
    },
    /// A credential helper answered something else than the helper protocol's JSON.
    #[error("{0} get: the answer is not the helper protocol's JSON")]
    HelperAnswer(String),
    /// A credential helper gave an identity token.
    #[error("{0} gave an identity token (OAuth refresh token), which is not supported")]
    HelperToken(String),
}

/// What is wrong with an entry of an auth file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// `auth` is not base64.
    #[error("the `auth` value is not base64")]
    NotBase64,
    /// `auth` decodes to something that is not text.
    #[error("the `auth` value is not UTF-8 after base64 decoding")]
    NotUtf8,
    /// `auth` is not `USER:PASSWORD`.
    #[error("the `auth` value is not base64 of USER:PASSWORD")]
    NoColon,
    /// An identity token instead of a password.
    #[error(
        "identity tokens (OAuth refresh tokens) are not supported; log in with a user name and password or token"
    )]
    IdentityToken,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Strips a scheme and a `/v1/`-style suffix from an auth-file key: `https://index.docker.io/v1/` → `docker.io`.
fn normalize_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    match k.split_once('/') {
        Some((host, path)) => format!("{}/{path}", normalize_registry(host)),
        None => normalize_registry(k).to_string(),
    }
}

/// The keys an entry for `registry`/`repository` may be stored under, most specific first.
fn candidate_keys(registry: &str, repository: &str) -> Vec<String> {
    let registry = normalize_registry(registry);
    let parts: Vec<&str> = repository.split('/').collect();
    let mut keys: Vec<String> = (1..=parts.len())
        .rev()
        .map(|n| format!("{registry}/{}", parts[..n].join("/")))
        .collect();
    keys.push(registry.to_string());
    keys
}

/// How a credential helper is run: `(helper name, registry)` → what it answered.
type Helper<'a> = &'a dyn Fn(&str, &str) -> Lookup;

/// What a lookup found: credentials, none, or why it failed.
type Lookup = Result<Option<Credentials>, CredentialError>;

/// What a credential helper answered, by (helper, registry).
type HelperAnswers = HashMap<(String, String), Lookup>;

/// An auth file as read: `None` when it does not exist.
type Loaded = (PathBuf, Result<Option<AuthFile>, CredentialError>);

/// The credentials of one run: the ones given for every registry, or else those of the auth files.
/// Each auth file is read once, and each credential helper asked once per registry, however many
/// images the run touches; later lookups are answered from memory.
pub(crate) struct CredentialStore {
    given: Option<Credentials>,
    files: Vec<PathBuf>,
    loaded: OnceLock<Vec<Loaded>>,
    helpers: Mutex<HelperAnswers>,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore")
            .field("given", &self.given)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl CredentialStore {
    /// `given` for every registry, else what `files` (in order; missing ones skipped) say.
    pub(crate) fn new(given: Option<Credentials>, files: Vec<PathBuf>) -> Self {
        CredentialStore {
            given,
            files,
            loaded: OnceLock::new(),
            helpers: Mutex::new(HashMap::new()),
        }
    }

    /// The credentials for `registry` (host[:port]) and `repository`: the first auth file with an
    /// entry (or helper) for it wins.
    pub(crate) fn lookup(&self, registry: &str, repository: &str) -> Lookup {
        if let Some(c) = &self.given {
            return Ok(Some(c.clone()));
        }
        let loaded = self.loaded.get_or_init(|| {
            self.files
                .iter()
                .map(|path| (path.clone(), read_auth_file(path)))
                .collect()
        });
        let helper = |name: &str, registry: &str| self.helper(name, registry);
        for (path, file) in loaded {
            let file = match file {
                Ok(None) => continue,
                Ok(Some(f)) => f,
                Err(e) => return Err(e.clone()),
            };
            if let Some(found) = lookup_in(file, path, registry, repository, &helper)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// What helper `name` says for `registry`, asked once.
    fn helper(&self, name: &str, registry: &str) -> Lookup {
        let key = (name.to_string(), normalize_registry(registry).to_string());
        if let Some(known) = self.helpers.lock().ok().and_then(|h| h.get(&key).cloned()) {
            return known;
        }
        let answer = run_helper(name, registry);
        if let Ok(mut h) = self.helpers.lock() {
            h.insert(key, answer.clone());
        }
        answer
    }
}

fn read_auth_file(path: &Path) -> Result<Option<AuthFile>, CredentialError> {
    let text = match crate::input::read_text(path, crate::input::Kind::AuthFile) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => {
            return Err(CredentialError::Read {
                path: path.to_path_buf(),
                message: e.problem.to_string(),
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| CredentialError::NotAuthFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

fn lookup_in(
    file: &AuthFile,
    path: &Path,
    registry: &str,
    repository: &str,
    helper: Helper<'_>,
) -> Lookup {
    let keys = candidate_keys(registry, repository);
    let helpers: BTreeMap<String, &String> = file
        .cred_helpers
        .iter()
        .map(|(k, v)| (normalize_key(k), v))
        .collect();
    if let Some(name) = keys.iter().find_map(|k| helpers.get(k)) {
        return helper(name, registry);
    }
    let auths: BTreeMap<String, &AuthEntry> = file
        .auths
        .iter()
        .map(|(k, v)| (normalize_key(k), v))
        .collect();
    if let Some((key, entry)) = keys
        .iter()
        .find_map(|k| auths.get(k).map(|e| (k.as_str(), *e)))
    {
        let entry_error = |problem| CredentialError::Entry {
            path: path.to_path_buf(),
            key: key.to_string(),
            problem,
        };
        if let Some(c) = decode_entry(entry).map_err(entry_error)? {
            return Ok(Some(c));
        }
    }
    match &file.creds_store {
        Some(store) if !store.is_empty() => helper(store, registry),
        _ => Ok(None),
    }
}

fn decode_entry(entry: &AuthEntry) -> Result<Option<Credentials>, EntryProblem> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| EntryProblem::NotBase64)?;
        let text = String::from_utf8(bytes).map_err(|_| EntryProblem::NotUtf8)?;
        let (user, pass) = text.split_once(':').ok_or(EntryProblem::NoColon)?;
        return Ok(Some(Credentials {
            username: user.to_string(),
            password: Password::new(pass.to_string()),
        }));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: u.clone(),
            password: Password::new(p.clone()),
        }));
    }
    if entry.identitytoken.is_some() {
        return Err(EntryProblem::IdentityToken);
    }
    Ok(None)
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `docker-credential-NAME get`, with the server on standard input.
fn run_helper(name: &str, registry: &str) -> Lookup {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(CredentialError::HelperName(name.to_string()));
    }
    let program = format!("docker-credential-{name}");
    let server = if normalize_registry(registry) == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CredentialError::HelperRun {
            program: program.clone(),
            message: e.to_string(),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CredentialError::HelperRun {
            program: program.clone(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout);
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        // The helper's output is not echoed: it is not ours to show.
        return Err(CredentialError::HelperFailed {
            program,
            status: out.status.to_string(),
        });
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|_| CredentialError::HelperAnswer(program.clone()))?;
    if answer.username == "<token>" {
        return Err(CredentialError::HelperToken(program));
    }
    Ok(Some(Credentials {
        username: answer.username,
        password: Password::new(answer.secret),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> AuthFile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn keys_normalize() {
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_key("quay.io/org"), "quay.io/org");
        assert_eq!(
            candidate_keys("quay.io", "org/app"),
            ["quay.io/org/app", "quay.io/org", "quay.io"]
        );
    }

    #[test]
    fn auth_entries_decode_most_specific_first() {
        let f = file(
            r#"{"auths": {
                "quay.io": {"auth": "dTE6cDE="},
                "https://quay.io/org": {"auth": "dTI6cDI6d2l0aDpjb2xvbnM="}
            }}"#,
        );
        let p = Path::new("auth.json");
        let c = lookup_in(&f, p, "quay.io", "org/app", &run_helper)
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "u2");
        assert_eq!(c.password.expose(), "p2:with:colons");
        let c = lookup_in(&f, p, "quay.io", "other/app", &run_helper)
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "u1");
        assert!(
            lookup_in(&f, p, "ghcr.io", "x", &run_helper)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn debug_redacts() {
        let c = Credentials {
            username: "me".into(),
            password: Password::new("hunter2".into()),
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("me") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn bad_entries_do_not_show_the_secret() {
        let f = file(r#"{"auths": {"r.test": {"auth": "bm9jb2xvbg=="}}}"#);
        let e = lookup_in(&f, Path::new("a.json"), "r.test", "x", &run_helper)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("nocolon") && e.contains("a.json"), "{e}");
    }

    #[test]
    fn a_store_reads_each_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, r#"{"auths": {"quay.io": {"auth": "dTE6cDE="}}}"#).unwrap();
        let store = CredentialStore::new(None, vec![dir.path().join("missing.json"), path.clone()]);
        let c = store.lookup("quay.io", "org/app").unwrap().unwrap();
        assert_eq!(c.username, "u1");
        // Read once: changing the file during the run changes nothing.
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(
            store.lookup("quay.io", "x").unwrap().unwrap().username,
            "u1"
        );
        assert!(store.lookup("ghcr.io", "x").unwrap().is_none());
        let fresh = CredentialStore::new(None, vec![path]);
        let e = fresh.lookup("quay.io", "x").unwrap_err();
        assert!(matches!(e, CredentialError::NotAuthFile { .. }), "{e}");
    }
}
