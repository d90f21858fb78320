//! Finding every image reference in rendered objects, pinning it to the lock and moving it to the
//! mirror.
//!
//! Where images are: any `image` field holding a string (containers, init and ephemeral
//! containers of every workload kind, and custom resources such as `Prometheus.spec.image`), and
//! image references inside the strings of container `args`, `command` and `env[].value` (operators
//! take the images they run as flags: prometheus-operator's `--prometheus-config-reloader=…`,
//! cert-manager's `--acme-http01-solver-image=…`). Calico's operator creates its workloads at run
//! time from `Installation.spec.registry` (moved to the mirror here) and the digests of an
//! `ImageSet`.
//!
//! Every reference is matched to a locked image by repository and tag (or digest) and written as
//! `[MIRROR/]REGISTRY/REPOSITORY@sha256:…`, the canonical reference pinned by the lock's digest.

use std::collections::BTreeMap;

use super::image::{ImageRef, RegistryPrefix as Mirror};
use super::yaml::{Edit, Node, replace_in_scalar};
use crate::lock::Lock;

/// One locked image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Locked {
    /// The component it belongs to.
    pub component: String,
    /// The reference as the lock has it.
    pub reference: String,
    /// Parsed.
    pub image: ImageRef,
    /// The digest (`None` when the lock is not pinned and tags are allowed).
    pub digest: Option<String>,
}

impl Locked {
    /// Where the image is pulled from: `[MIRROR/]REGISTRY/REPOSITORY@DIGEST` (or `:TAG` without a
    /// digest).
    pub fn target(&self, mirror: Option<&Mirror>) -> String {
        let base = match mirror {
            Some(m) => format!("{}/{}", m, self.image.name()),
            None => self.image.name(),
        };
        match &self.digest {
            Some(d) => format!("{base}@{d}"),
            None => format!("{base}:{}", self.image.tag().unwrap_or("latest")),
        }
    }
}

/// The lock's images, findable by repository + tag and by repository + digest.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    all: Vec<Locked>,
    by_tag: BTreeMap<(String, String), usize>,
    by_digest: BTreeMap<(String, String), usize>,
}

/// How a found reference relates to the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match<'a> {
    /// A locked image.
    Locked(&'a Locked),
    /// The repository and tag are locked, but the reference carries another digest.
    OtherDigest(&'a Locked, String),
    /// Not in the lock.
    Unknown,
}

impl Index {
    /// Indexes every image of `lock` (references that do not parse are left out; the lock was
    /// checked when it was read).
    pub fn new(lock: &Lock) -> Index {
        let mut ix = Index::default();
        for c in &lock.components {
            for i in &c.images {
                let image = i.reference.clone();
                let digest = i.digest.as_ref().map(|d| d.to_string());
                let n = ix.all.len();
                if let Some(t) = image.tag() {
                    ix.by_tag.entry((image.name(), t.to_string())).or_insert(n);
                }
                if let Some(d) = &digest {
                    ix.by_digest.entry((image.name(), d.clone())).or_insert(n);
                }
                ix.all.push(Locked {
                    component: c.name.clone(),
                    reference: i.reference.to_string(),
                    image,
                    digest,
                });
            }
        }
        ix
    }

    /// Every locked image.
    pub fn all(&self) -> &[Locked] {
        &self.all
    }

    /// Matches a parsed reference.
    pub fn lookup(&self, r: &ImageRef) -> Match<'_> {
        let name = r.name();
        if let Some(t) = r.tag()
            && let Some(&i) = self.by_tag.get(&(name.clone(), t.to_string()))
        {
            let l = &self.all[i];
            return match (r.digest().map(|d| d.as_str()), &l.digest) {
                (Some(d), Some(ld)) if d != ld => Match::OtherDigest(l, d.to_string()),
                _ => Match::Locked(l),
            };
        }
        if let Some(d) = r.digest()
            && let Some(&i) = self.by_digest.get(&(name, d.as_str().to_string()))
        {
            return Match::Locked(&self.all[i]);
        }
        Match::Unknown
    }

    /// Matches the text of a reference, which may already be on a mirror (`MIRROR/PREFIX/` before
    /// the canonical reference): the longest suffix that is a locked image wins, or the whole text
    /// when none is.
    pub fn lookup_text(&self, text: &str) -> Option<(ImageRef, Match<'_>)> {
        let mut first = None;
        let mut rest = text;
        loop {
            if let Ok(r) = ImageRef::parse(rest) {
                let m = self.lookup(&r);
                if !matches!(m, Match::Unknown) {
                    return Some((r, m));
                }
                first.get_or_insert(r);
            }
            match rest.split_once('/') {
                Some((_, tail)) if tail.contains('/') || tail.contains('.') => rest = tail,
                _ => break,
            }
        }
        first.map(|r| (r, Match::Unknown))
    }

    /// The locked registries (for `Installation.spec.registry`).
    pub fn registries(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .all
            .iter()
            .map(|l| l.image.registry().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Where an image reference was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// The whole value of an `image` field.
    Field,
    /// A token inside a container's args, command or env value.
    Embedded,
}

/// An image reference found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Field path, e.g. `spec.template.spec.containers[0].image`.
    pub path: String,
    /// The reference text.
    pub text: String,
    /// The whole scalar it is in, and that scalar's byte range in the document.
    pub scalar: String,
    /// Byte range of the scalar (when the parser reported it).
    pub span: Option<(usize, usize)>,
    /// How it was found.
    pub place: Place,
}

/// Every image reference in a document (see the module docs). Not searched: a Calico `ImageSet`
/// (it names images without registry or tag; the checks read it) and a Flux `HelmRelease` (its
/// `values` are a chart's inputs, where `image` means whatever the chart makes of it; its images are
/// pinned by the post-renderer written next to them).
pub(crate) fn find(node: &Node) -> Vec<Found> {
    let mut out = Vec::new();
    let helm_release = node.str_at(&["kind"]) == Some("HelmRelease")
        && node
            .str_at(&["apiVersion"])
            .is_some_and(|a| a.starts_with("helm.toolkit.fluxcd.io/"));
    if !is_image_set(node) && !helm_release {
        walk(node, "", false, &mut out);
    }
    out
}

/// Whether the document is a Calico `ImageSet`.
pub(crate) fn is_image_set(node: &Node) -> bool {
    node.str_at(&["kind"]) == Some("ImageSet")
        && node
            .str_at(&["apiVersion"])
            .is_some_and(|a| a.starts_with("operator.tigera.io/"))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `in_container`: inside one item of `containers`, `initContainers` or `ephemeralContainers`.
fn walk(node: &Node, path: &str, in_container: bool, out: &mut Vec<Found>) {
    match node {
        Node::Map(m) => {
            for (k, v) in m {
                let p = join(path, k);
                match (k.as_str(), v) {
                    ("image", Node::Str(s, span)) => out.push(Found {
                        path: p,
                        text: s.clone(),
                        scalar: s.clone(),
                        span: *span,
                        place: Place::Field,
                    }),
                    ("containers" | "initContainers" | "ephemeralContainers", Node::Seq(items)) => {
                        for (i, item) in items.iter().enumerate() {
                            walk(item, &format!("{p}[{i}]"), true, out);
                        }
                    }
                    ("args" | "command", Node::Seq(items)) if in_container => {
                        for (i, item) in items.iter().enumerate() {
                            if let Node::Str(s, span) = item {
                                embedded(s, *span, &format!("{p}[{i}]"), out);
                            }
                        }
                    }
                    ("env", Node::Seq(items)) if in_container => {
                        for (i, item) in items.iter().enumerate() {
                            if let Some(Node::Str(s, span)) = item.get("value") {
                                embedded(s, *span, &format!("{p}[{i}].value"), out);
                            }
                        }
                    }
                    _ => walk(v, &p, in_container, out),
                }
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), in_container, out);
            }
        }
        _ => {}
    }
}

/// Image references inside a string: tokens between `=`, `,`, white space and quotes that read as
/// a registry-qualified reference with a tag or digest.
fn embedded(s: &str, span: Option<(usize, usize)>, path: &str, out: &mut Vec<Found>) {
    for token in
        s.split(|c: char| c == '=' || c == ',' || c.is_whitespace() || c == '"' || c == '\'')
    {
        if looks_like_image(token) {
            out.push(Found {
                path: path.to_string(),
                text: token.to_string(),
                scalar: s.to_string(),
                span,
                place: Place::Embedded,
            });
        }
    }
}

/// A registry-qualified reference (`HOST/…` where HOST has a `.` or `:` or is `localhost`) with a
/// tag or digest. Bare words and paths do not count.
pub(crate) fn looks_like_image(token: &str) -> bool {
    if token.contains("://") || !token.contains('/') {
        return false;
    }
    let first = token.split('/').next().unwrap_or("");
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return false;
    }
    match ImageRef::parse(token) {
        Ok(r) => r.tag().is_some() || r.digest().is_some(),
        Err(_) => false,
    }
}

/// A problem with one image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageProblem {
    /// Field path.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Rewrites every image reference of a document to its locked target (see [`Locked::target`]).
/// Returns the edits and, for references that cannot be pinned, problems. References already in
/// their target form are left alone.
pub(crate) fn rewrite(
    text: &str,
    node: &Node,
    index: &Index,
    mirror: Option<&Mirror>,
) -> (Vec<Edit>, Vec<ImageProblem>) {
    // Per scalar (by byte range): its value and the (old, new) replacements inside it.
    type Replacements = (String, Vec<(String, String)>);
    let mut edits: BTreeMap<(usize, usize), Replacements> = BTreeMap::new();
    let mut problems = Vec::new();
    for f in find(node) {
        let Some((r, m)) = index.lookup_text(&f.text) else {
            problems.push(ImageProblem {
                path: f.path,
                message: format!("`{}` is not an image reference", f.text),
            });
            continue;
        };
        let target = match m {
            Match::Locked(l) => l.target(mirror),
            Match::OtherDigest(l, d) => {
                problems.push(ImageProblem {
                    path: f.path,
                    message: format!(
                        "`{}` is pinned to {d}, but the lock has {} for {}",
                        f.text,
                        l.digest.as_deref().unwrap_or("no digest"),
                        l.reference
                    ),
                });
                continue;
            }
            Match::Unknown => {
                let _ = r;
                problems.push(ImageProblem {
                    path: f.path,
                    message: format!("image `{}` is not in the lock", f.text),
                });
                continue;
            }
        };
        if target == f.text {
            continue;
        }
        let Some(span) = f.span else {
            problems.push(ImageProblem {
                path: f.path,
                message: format!(
                    "cannot locate `{}` in the document text to rewrite it",
                    f.text
                ),
            });
            continue;
        };
        // Several references in one scalar (args): one edit with every replacement.
        let entry = edits
            .entry(span)
            .or_insert_with(|| (f.scalar.clone(), Vec::new()));
        if !entry.1.iter().any(|(old, _)| *old == f.text) {
            entry.1.push((f.text.clone(), target));
        }
    }
    let edits = edits
        .into_iter()
        .map(|(span, (value, pairs))| replace_in_scalar(text, span, &value, &pairs))
        .collect();
    (edits, problems)
}

/// `Installation.spec.registry` (operator.tigera.io): the registry Calico's operator pulls every
/// calico image from. On a mirror it becomes `MIRROR/REGISTRY/`.
pub(crate) fn operator_registry(node: &Node) -> Option<(&str, Option<(usize, usize)>)> {
    let api = node.str_at(&["apiVersion"])?;
    if node.str_at(&["kind"]) != Some("Installation") || !api.starts_with("operator.tigera.io/") {
        return None;
    }
    match node.get("spec")?.get("registry")? {
        Node::Str(s, span) => Some((s.as_str(), *span)),
        _ => None,
    }
}

/// The edit that moves `Installation.spec.registry` to the mirror (None when there is nothing to
/// do), or a problem when the registry is not one the lock's images come from.
pub(crate) fn rewrite_operator_registry(
    text: &str,
    node: &Node,
    index: &Index,
    mirror: Option<&Mirror>,
) -> Result<Option<Edit>, ImageProblem> {
    let Some((value, span)) = operator_registry(node) else {
        return Ok(None);
    };
    // The registry, after any mirror path it was already moved to.
    let trimmed = value.trim_end_matches('/');
    let registries = index.registries();
    let bare = trimmed
        .match_indices('/')
        .map(|(i, _)| &trimmed[i + 1..])
        .chain(std::iter::once(trimmed))
        .filter(|s| registries.iter().any(|r| r == s))
        .min_by_key(|s| s.len())
        .unwrap_or(trimmed);
    if !registries.iter().any(|r| r == bare) {
        return Err(ImageProblem {
            path: "spec.registry".to_string(),
            message: format!(
                "registry `{value}` is not one the locked images come from ({})",
                index.registries().join(", ")
            ),
        });
    }
    let target = match mirror {
        Some(m) => format!("{}/{bare}/", m),
        None => format!("{bare}/"),
    };
    if target == value {
        return Ok(None);
    }
    let Some(span) = span else {
        return Err(ImageProblem {
            path: "spec.registry".to_string(),
            message: "cannot locate the value in the document text".to_string(),
        });
    };
    Ok(Some(replace_in_scalar(
        text,
        span,
        value,
        &[(value.to_string(), target)],
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::yaml::{apply, parse};

    fn lock() -> Lock {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        Lock::parse(
            &format!(
                "version: 1\ncatalog: sha256:{}\nrequest:\n  kubernetes: \"*\"\n  with: []\n  without: []\n  allowEol: false\nkubernetes: 1.35.0\ncomponents:\n  - name: a\n    version: 1.0.0\n    images:\n      - reference: quay.io/x/op:v1\n        digest: {}\n      - reference: quay.io/x/reloader:v1\n        digest: {}\n      - reference: docker.io/traefik:v3.0.0\n        digest: {}\n",
                "0".repeat(64),
                d('a'),
                d('b'),
                d('c')
            ),
            "test.lock",
        )
        .unwrap()
    }

    #[test]
    fn finds_and_rewrites_every_place() {
        let text = "apiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers:\n            - name: i\n              image: \"docker.io/library/traefik:v3.0.0\"\n          containers:\n            - name: c\n              image: quay.io/x/op:v1\n              args:\n                - --reloader=quay.io/x/reloader:v1\n                - --other=value\n              env:\n                - name: IMG\n                  value: quay.io/x/reloader:v1\n";
        let node = parse(text).unwrap();
        let found = find(&node);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert_eq!(
            found[0].path,
            "spec.jobTemplate.spec.template.spec.initContainers[0].image"
        );
        let ix = Index::new(&lock());
        let m = Mirror::parse("harbor.local/p").unwrap();
        let (edits, problems) = rewrite(text, &node, &ix, Some(&m));
        assert!(problems.is_empty(), "{problems:?}");
        let out = apply(text, edits);
        let a = "a".repeat(64);
        assert!(
            out.contains(&format!("image: harbor.local/p/quay.io/x/op@sha256:{a}\n")),
            "{out}"
        );
        assert!(out.contains(&format!(
            "image: \"harbor.local/p/docker.io/library/traefik@sha256:{}\"",
            "c".repeat(64)
        )));
        assert!(out.contains(&format!(
            "- --reloader=harbor.local/p/quay.io/x/reloader@sha256:{}\n",
            "b".repeat(64)
        )));
        assert!(out.contains("- --other=value\n"));
        // Idempotent: the rewritten document needs no further edits.
        let again = parse(&out).unwrap();
        let (edits, problems) = rewrite(&out, &again, &ix, Some(&m));
        assert!(
            edits.is_empty() && problems.is_empty(),
            "{edits:?} {problems:?}"
        );
    }

    #[test]
    fn reports_images_outside_the_lock() {
        let text = "kind: Prometheus\nspec:\n  image: quay.io/prometheus/prometheus:v3.0.0\n  containers:\n    - name: c\n      image: quay.io/x/op:v2\n      args: [\"--img=quay.io/x/other:v1\"]\n";
        let node = parse(text).unwrap();
        let (_, problems) = rewrite(text, &node, &Index::new(&lock()), None);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.image",
                "spec.containers[0].image",
                "spec.containers[0].args[0]"
            ]
        );
    }

    #[test]
    fn other_digest_is_a_problem() {
        let text = format!("image: quay.io/x/op:v1@sha256:{}\n", "f".repeat(64));
        let node = parse(&text).unwrap();
        let (_, problems) = rewrite(&text, &node, &Index::new(&lock()), None);
        assert!(
            problems[0].message.contains("but the lock has"),
            "{problems:?}"
        );
    }

    #[test]
    fn image_like_tokens() {
        assert!(looks_like_image("quay.io/x/y:v1"));
        assert!(looks_like_image(
            "localhost:5000/x@sha256:".to_string().add_hex().as_str()
        ));
        assert!(!looks_like_image("value"));
        assert!(!looks_like_image("kube-system/kubelet"));
        assert!(!looks_like_image("http://x.io/a:b"));
        assert!(!looks_like_image("/etc/x.conf"));
    }

    trait AddHex {
        fn add_hex(self) -> String;
    }
    impl AddHex for String {
        fn add_hex(self) -> String {
            format!("{self}{}", "1".repeat(64))
        }
    }
}
