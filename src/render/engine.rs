//! The render engine: upstream's charts and release manifests for the locked versions, our values
//! and glue objects, every image pinned by the lock's digest (and moved to the mirror), grouped
//! per component, then validated.
//!
//! Per component, in this order of preference: its Helm charts (`helm template` from the content
//! store; values from `templates/<component>/values*.yaml.j2`), else its release manifests as
//! they are; plus its glue templates (`templates/<component>/*.yaml.j2`: objects no upstream
//! artifact makes, such as the platform CA issuer or the Prometheus resource). Charts are rendered
//! twice when the platform's own CRDs serve APIs a chart asks about (`.Capabilities.APIVersions`):
//! the second time with those APIs declared, so ServiceMonitors appear exactly when
//! prometheus-operator is installed.
//!
//! Hooks: objects of install and upgrade hooks (`helm.sh/hook: pre-install, post-install, …`) are
//! kept as objects; chart tests are left out (`--skip-tests`), and so are hooks that only run on
//! delete or rollback (applied as objects they would run at install time).

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use super::artifacts::ChartRef;
use super::checks::Crd;
use super::helm::{Helm, Request as HelmRequest};
use super::image::RegistryPrefix as Mirror;
use super::images::{self, Index};
use super::values::{self, Template};
use super::yaml::{self, Doc, Node};
use super::{Delivery, GENERATED_HEADER, Output, Problem, RenderError, Skipped};
use crate::lock::Lock;

pub use super::request::Request;

/// Components rendered only beside another: (component, needs, why).
const NEEDS: &[(&str, &str, &str)] = &[
    ("alloy", "loki", "it ships logs to Loki"),
    ("fluent-bit", "loki", "it ships logs to Loki"),
];

/// Components that prometheus-operator runs from a custom resource when it is in the platform:
/// their charts are then not used (their glue templates write the resource).
const RUN_BY_PROMETHEUS_OPERATOR: &[&str] = &["prometheus", "alertmanager"];

/// Where a piece of output comes from.
#[derive(Debug, Clone)]
enum Origin {
    Chart(ChartRef),
    Manifest(String),
    Glue(&'static Template),
    Flux(ChartRef),
}

impl Origin {
    /// The file (under the component's directory) its objects go to.
    fn file_stem(&self) -> String {
        match self {
            Origin::Chart(c) => c.name.clone(),
            Origin::Manifest(file) => file
                .trim_end_matches(".yaml")
                .trim_end_matches(".yml")
                .to_string(),
            Origin::Glue(t) => t.file.trim_end_matches(".yaml.j2").to_string(),
            Origin::Flux(c) => format!("{}.flux", c.name),
        }
    }

    fn describe(&self) -> String {
        match self {
            Origin::Chart(c) => format!(
                "chart {} {} ({}), rendered with helm template",
                c.name, c.version, c.repository
            ),
            Origin::Manifest(url) => format!("release manifest {url}"),
            Origin::Glue(t) => format!("templates/{}", t.name()),
            Origin::Flux(c) => format!("Flux objects for chart {} {}", c.name, c.version),
        }
    }
}

/// One rendered stream.
struct Piece {
    component: String,
    origin: Origin,
    text: String,
}

/// What is rendered for one component.
struct Plan {
    component: String,
    use_charts: bool,
    use_manifests: bool,
}

fn plan(req: &Request<'_>) -> (Vec<Plan>, Vec<Skipped>) {
    let lock = req.lock;
    let artifacts = |n: &str| {
        let a = req.artifacts.components.get(n);
        (
            a.is_some_and(|a| !a.charts.is_empty()),
            a.is_some_and(|a| !a.manifests.is_empty()),
        )
    };
    let has_artifacts = |n: &str| {
        let (c, m) = artifacts(n);
        c || m
    };
    let operator = has_artifacts("prometheus-operator");
    // What can be rendered on its own: upstream's artifacts, or a resource prometheus-operator runs.
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    for c in &lock.components {
        let name = c.name.as_str();
        if super::CONTROL_PLANE.contains(&name) {
            continue;
        }
        let (charts, manifests) = artifacts(name);
        if RUN_BY_PROMETHEUS_OPERATOR.contains(&name) && operator {
            plans.push(Plan {
                component: c.name.clone(),
                use_charts: false,
                use_manifests: false,
            });
        } else if charts || manifests {
            plans.push(Plan {
                component: c.name.clone(),
                use_charts: charts,
                use_manifests: !charts && manifests,
            });
        } else {
            skipped.push(Skipped {
                name: c.name.clone(),
                reason: "the lock names no chart or release manifest for it".to_string(),
            });
        }
    }
    // Then what it is wired to must be rendered too.
    let rendered: BTreeSet<String> = plans.iter().map(|p| p.component.clone()).collect();
    plans.retain(|p| {
        match NEEDS
            .iter()
            .find(|(x, need, _)| *x == p.component && !rendered.contains(*need))
        {
            Some((_, need, why)) => {
                skipped.push(Skipped {
                    name: p.component.clone(),
                    reason: format!("needs {need}, which is not rendered ({why})"),
                });
                false
            }
            None => true,
        }
    });
    skipped.sort_by(|a, b| a.name.cmp(&b.name));
    (plans, skipped)
}

fn environment() -> Result<Environment<'static>, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| super::template_error("(syntax)", &e))?;
    env.set_syntax(syntax);
    env.add_function("version_at_least", values::version_at_least);
    env.add_template("_macros.j2", values::MACROS)
        .map_err(|e| super::template_error("_macros.j2", &e))?;
    for t in values::TEMPLATES
        .iter()
        .chain([&values::NAMESPACES, &values::KUBEADM])
    {
        env.add_template_owned(t.name(), t.source)
            .map_err(|e| super::template_error(&t.name(), &e))?;
    }
    Ok(env)
}

fn render_template(
    env: &Environment<'static>,
    t: &Template,
    ctx: &Value,
) -> Result<String, RenderError> {
    let name = t.name();
    env.get_template(&name)
        .and_then(|tpl| tpl.render(minijinja::Value::from(minijinja::value::Serde(ctx))))
        .map_err(|e| super::template_error(&name, &e))
}

/// The API versions the platform's CRDs serve: `group/version` and `group/version/Kind`.
fn served_apis<'p>(pieces: impl Iterator<Item = &'p Piece>) -> Result<Vec<String>, RenderError> {
    let mut out = BTreeSet::new();
    for p in pieces {
        for d in parse(p)? {
            if let Some(crd) = Crd::from(&d.node) {
                for v in &crd.versions {
                    out.insert(format!("{}/{}", crd.group, v.name));
                    out.insert(format!("{}/{}/{}", crd.group, v.name, crd.kind));
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

fn parse(p: &Piece) -> Result<Vec<Doc>, RenderError> {
    yaml::parse_stream(&p.text).map_err(|e| RenderError::Unparsable {
        origin: p.origin.describe(),
        message: e.to_string(),
    })
}

/// The `helm.sh/hook` phases of a document (empty when it is not a hook).
fn hook_phases(node: &Node) -> Vec<String> {
    node.get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("helm.sh/hook"))
        .and_then(|h| match h {
            Node::Str(s, _) => Some(s.split(',').map(|x| x.trim().to_string()).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Whether a hook object belongs in an installed platform (install or upgrade hooks do).
fn keep_hook(phases: &[String]) -> bool {
    phases.is_empty()
        || phases.iter().any(|p| {
            matches!(
                p.as_str(),
                "pre-install" | "post-install" | "pre-upgrade" | "post-upgrade"
            )
        })
}

/// Renders the platform (see the module docs): plan, glue and release manifests, charts, documents
/// → files (images pinned), the generated files, then the checks.
pub fn render(req: &Request<'_>) -> Result<Output, RenderError> {
    let lock = req.lock;
    let (plans, unrendered) = plan(req);
    let rendered: BTreeSet<String> = plans.iter().map(|p| p.component.clone()).collect();
    let ctx = values::build(
        lock,
        req.catalog,
        &rendered,
        req.mirror,
        req.delivery,
        req.allow_tags,
    )?;
    let env = environment()?;
    let mut notes = Vec::new();
    let (pieces, charts) = glue_and_manifests(req, &plans, &env, &ctx)?;
    let pieces = with_charts(req, &env, &ctx, &charts, pieces, &mut notes)?;
    let index = Index::new(lock);
    let files = to_files(req, &pieces, &index, &mut notes)?;
    let out_files = generated_files(req, &env, &ctx, &index, &files)?;
    let mut out = Output {
        files: out_files,
        unrendered,
        problems: files.problems,
        images: Vec::new(),
        notes,
    };
    let external = match req.delivery {
        Delivery::Flux => super::checks::External::FluxCharts,
        Delivery::Manifests => super::checks::External::None,
    };
    let report = super::checks::check(&out.files, lock, req.mirror, req.allow_tags, external);
    out.problems.extend(report.problems);
    out.problems
        .sort_by(|a, b| (&a.file, a.document).cmp(&(&b.file, b.document)));
    out.problems.dedup();
    out.images = report.images;
    Ok(out)
}

/// A component's chart, to be rendered (by helm, or as Flux objects).
type ChartJob<'a> = (String, &'a super::artifacts::Chart);

/// The glue templates' output and the release manifests of every planned component, and the charts
/// still to render.
fn glue_and_manifests<'a>(
    req: &Request<'a>,
    plans: &[Plan],
    env: &Environment<'static>,
    ctx: &values::Context,
) -> Result<(Vec<Piece>, Vec<ChartJob<'a>>), RenderError> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut charts: Vec<ChartJob<'a>> = Vec::new();
    for p in plans {
        let a = req.artifacts.components.get(&p.component);
        if p.use_manifests {
            for m in a.map(|a| a.manifests.as_slice()).unwrap_or_default() {
                pieces.push(Piece {
                    component: p.component.clone(),
                    origin: Origin::Manifest(m.manifest.file_name().to_string()),
                    text: m.text.clone(),
                });
            }
        }
        if p.use_charts {
            for c in a.map(|a| a.charts.as_slice()).unwrap_or_default() {
                charts.push((p.component.clone(), c));
            }
        }
        for t in values::glue_templates(&p.component) {
            let text = render_template(env, t, &ctx.scoped(&p.component, None))?;
            if !yaml::is_blank(&text) {
                pieces.push(Piece {
                    component: p.component.clone(),
                    origin: Origin::Glue(t),
                    text,
                });
            }
        }
    }
    Ok((pieces, charts))
}

/// `pieces` with the charts' output: `helm template` (first, the charts' own output; then again
/// with the APIs everything serves), or Flux objects.
fn with_charts(
    req: &Request<'_>,
    env: &Environment<'static>,
    ctx: &values::Context,
    charts: &[ChartJob<'_>],
    mut pieces: Vec<Piece>,
    notes: &mut Vec<String>,
) -> Result<Vec<Piece>, RenderError> {
    let values_of = |component: &str, chart: &ChartRef| -> Result<String, RenderError> {
        match values::values_template(component, &chart.name) {
            Some(t) => render_template(env, t, &ctx.scoped(component, Some(chart))),
            None => Ok(String::new()),
        }
    };
    match req.delivery {
        Delivery::Manifests if !charts.is_empty() => {
            let helm = Helm::find()?;
            let values: Vec<String> = charts
                .iter()
                .map(|(component, c)| values_of(component, &c.chart))
                .collect::<Result<_, _>>()?;
            let kube_version = req.lock.kubernetes.to_string();
            let first = helm_templates(&helm, charts, &values, &kube_version, &[])?;
            let apis = served_apis(first.iter().chain(pieces.iter()))?;
            let mut all = if apis.is_empty() {
                first
            } else {
                helm_templates(&helm, charts, &values, &kube_version, &apis)?
            };
            all.append(&mut pieces);
            Ok(all)
        }
        Delivery::Flux => {
            for (component, c) in charts {
                let values = values_of(component, &c.chart)?;
                pieces.push(Piece {
                    component: component.clone(),
                    origin: Origin::Flux(c.chart.clone()),
                    text: super::flux::objects(req, component, c, &values, charts)?,
                });
            }
            if !charts.is_empty() {
                notes.push(
                    "charts are installed by Flux's helm-controller: their objects (and the CRDs glue \
                     objects need) appear in the cluster only after the HelmReleases reconcile"
                        .to_string(),
                );
            }
            Ok(pieces)
        }
        Delivery::Manifests => Ok(pieces),
    }
}

/// `helm template` of every chart with its values: one helm process per chart, a few at a time; the
/// output keeps the lock's order.
fn helm_templates(
    helm: &Helm,
    charts: &[ChartJob<'_>],
    values: &[String],
    kube_version: &str,
    apis: &[String],
) -> Result<Vec<Piece>, RenderError> {
    let width = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    let mut out = Vec::new();
    let jobs: Vec<_> = charts.iter().zip(values).collect();
    for batch in jobs.chunks(width) {
        let texts: Vec<Result<String, super::helm::HelmError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|((component, c), values)| {
                    scope.spawn(move || {
                        let label = format!("{} {}", c.chart.name, c.chart.version);
                        helm.template(&HelmRequest {
                            release: component,
                            namespace: values::namespace_of(component),
                            archive: &c.archive,
                            values,
                            kube_version,
                            api_versions: apis,
                            label: &label,
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(super::helm::HelmError::Template {
                            chart: String::new(),
                            message: "the thread running helm panicked".into(),
                        })
                    })
                })
                .collect()
        });
        for (((component, c), _), text) in batch.iter().zip(texts) {
            out.push(Piece {
                component: component.clone(),
                origin: Origin::Chart(c.chart.clone()),
                text: text?,
            });
        }
    }
    Ok(out)
}

/// The rendered documents sorted into files, before the generated ones are added.
struct Files {
    /// File → its documents, images pinned and moved to the mirror.
    docs: BTreeMap<String, Vec<String>>,
    /// File → where its documents come from.
    sources: BTreeMap<String, BTreeSet<String>>,
    /// What could not be rewritten.
    problems: Vec<Problem>,
}

/// Documents → files, with every image pinned and moved to the mirror; hooks that run only on
/// delete or rollback left out, a CRD that two components ship installed once.
fn to_files(
    req: &Request<'_>,
    pieces: &[Piece],
    index: &Index,
    notes: &mut Vec<String>,
) -> Result<Files, RenderError> {
    let mut files = Files {
        docs: BTreeMap::new(),
        sources: BTreeMap::new(),
        problems: Vec::new(),
    };
    let mut dropped = 0usize;
    let mut crds_seen: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for p in pieces {
        for d in parse(p)? {
            if !keep_hook(&hook_phases(&d.node)) {
                dropped += 1;
                continue;
            }
            let is_crd = Crd::from(&d.node).is_some();
            if is_crd && !first_definition(&mut crds_seen, p, &d.node, notes) {
                continue;
            }
            let stem = if is_crd {
                "crds".to_string()
            } else {
                p.origin.file_stem()
            };
            let file = format!("{}/{stem}.yaml", p.component);
            // What cannot be pinned is reported by the checks, with the rest.
            let (mut edits, _) = images::rewrite(&d.text, &d.node, index, req.mirror);
            match images::rewrite_operator_registry(&d.text, &d.node, index, req.mirror) {
                Ok(Some(e)) => edits.push(e),
                Ok(None) => {}
                Err(ip) => files.problems.push(Problem {
                    file: file.clone(),
                    document: None,
                    message: format!("{}: {}", ip.path, ip.message),
                }),
            }
            files
                .docs
                .entry(file.clone())
                .or_default()
                .push(yaml::apply(&d.text, edits));
            files
                .sources
                .entry(file)
                .or_default()
                .insert(p.origin.describe());
        }
    }
    if dropped > 0 {
        notes.push(format!(
            "{dropped} hook object(s) that run only on delete or rollback were left out"
        ));
    }
    Ok(files)
}

/// Whether a CRD is kept: two components may ship the same CRD (a chart and an operator's
/// manifest), and the cluster gets it once. Different definitions under one name stay, and the
/// checks report them.
fn first_definition(
    seen: &mut BTreeMap<String, (String, Value)>,
    p: &Piece,
    node: &Node,
    notes: &mut Vec<String>,
) -> bool {
    let name = node.str_at(&["metadata", "name"]).unwrap_or("").to_string();
    let body = node.to_json();
    match seen.get(&name) {
        Some((first, known)) if *known == body => {
            notes.push(format!(
                "CustomResourceDefinition {name} comes with {first} and {}, the same \
                 definition: installed once, from {first}",
                p.component
            ));
            false
        }
        Some(_) => true,
        None => {
            seen.insert(name, (p.component.clone(), body));
            true
        }
    }
}

/// The output files: the documents' files with their headers, then the namespaces, the
/// kustomization, kubeadm's configuration and the mirror's `hosts.toml` files.
fn generated_files(
    req: &Request<'_>,
    env: &Environment<'static>,
    ctx: &values::Context,
    index: &Index,
    files: &Files,
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut out_files: BTreeMap<String, String> = BTreeMap::new();
    for (file, docs) in &files.docs {
        let mut text = format!("{GENERATED_HEADER}\n");
        for s in &files.sources[file] {
            text.push_str(&format!("# From: {s}\n"));
        }
        for (i, d) in docs.iter().enumerate() {
            if i > 0 || !d.starts_with("---") {
                text.push_str("---\n");
            }
            text.push_str(d);
            if !d.ends_with('\n') {
                text.push('\n');
            }
        }
        out_files.insert(file.clone(), text);
    }
    let ns = render_template(env, &values::NAMESPACES, &ctx.json)?;
    if !yaml::is_blank(&ns) {
        out_files.insert(
            "namespaces/namespaces.yaml".to_string(),
            format!("{GENERATED_HEADER}\n# From: templates/namespaces/namespaces.yaml.j2\n{ns}"),
        );
    }
    out_files.insert("kustomization.yaml".to_string(), kustomization(&out_files));
    if req.lock.components.iter().any(|c| c.name == "kubernetes") {
        let k = render_template(env, &values::KUBEADM, &ctx.json)?;
        out_files.insert(
            "kubeadm/cluster-configuration.yaml".to_string(),
            format!("{GENERATED_HEADER}\n{k}"),
        );
    }
    if let Some(m) = req.mirror {
        for registry in index.registries() {
            out_files.insert(
                format!("airgap/certs.d/{registry}/hosts.toml"),
                super::image::hosts_toml(m, &registry),
            );
        }
    }
    Ok(out_files)
}

/// Moves a rendered platform to another mirror (or to none): every image reference, the operator
/// registry and the kubeadm configuration follow, `hosts.toml` files are written for the new mirror;
/// then the checks run again. Pure Rust — this is what the disconnected side does with the rendering
/// stored in a bundle, where there is no `helm`.
pub fn relocate(
    rendered: &BTreeMap<String, String>,
    lock: &Lock,
    mirror: Option<&Mirror>,
) -> Result<Output, RenderError> {
    let index = Index::new(lock);
    let mut files = BTreeMap::new();
    for (name, text) in rendered {
        if name.starts_with("airgap/") || name.starts_with("kubeadm/") {
            continue;
        }
        if !name.ends_with(".yaml") || name == "kustomization.yaml" {
            files.insert(name.clone(), text.clone());
            continue;
        }
        // Any mirror the rendering was made for: images are found by repository and digest.
        let mut out = String::new();
        let mut rest = text.as_str();
        // Keep the file's leading comment lines (the header) as they are.
        while rest.starts_with('#') {
            let end = rest.find('\n').map(|i| i + 1).unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        }
        let docs = yaml::split(rest);
        for (i, d) in docs.iter().enumerate() {
            let node = yaml::parse(d).map_err(|message| RenderError::Unparsable {
                origin: format!("{name} (document {})", i + 1),
                message,
            })?;
            let (mut edits, _) = images::rewrite(d, &node, &index, mirror);
            if let Ok(Some(e)) = images::rewrite_operator_registry(d, &node, &index, mirror) {
                edits.push(e);
            }
            if i > 0 || rest.starts_with("---") {
                out.push_str("---\n");
            }
            out.push_str(&yaml::apply(d, edits));
        }
        files.insert(name.clone(), out);
    }
    let env = environment()?;
    if lock.components.iter().any(|c| c.name == "kubernetes") {
        let k = render_template(
            &env,
            &values::KUBEADM,
            &values::kubeadm_context(lock, mirror),
        )?;
        files.insert(
            "kubeadm/cluster-configuration.yaml".to_string(),
            format!("{GENERATED_HEADER}\n{k}"),
        );
    }
    if let Some(m) = mirror {
        for registry in index.registries() {
            files.insert(
                format!("airgap/certs.d/{registry}/hosts.toml"),
                super::image::hosts_toml(m, &registry),
            );
        }
    }
    let report = super::checks::check(
        &files,
        lock,
        mirror,
        false,
        super::checks::External::FluxCharts,
    );
    Ok(Output {
        files,
        unrendered: Vec::new(),
        problems: report.problems,
        images: report.images,
        notes: Vec::new(),
    })
}

/// `kustomization.yaml`: namespaces first, then every component's CRDs, then everything else.
fn kustomization(files: &BTreeMap<String, String>) -> String {
    let manifests: Vec<&String> = files
        .keys()
        .filter(|f| {
            f.ends_with(".yaml") && !f.starts_with("kubeadm/") && *f != "kustomization.yaml"
        })
        .collect();
    let rank = |f: &str| {
        if f.starts_with("namespaces/") {
            0
        } else if f.ends_with("/crds.yaml") {
            1
        } else {
            2
        }
    };
    let mut ordered = manifests.clone();
    ordered.sort_by(|a, b| (rank(a), *a).cmp(&(rank(b), *b)));
    let mut k = format!(
        "{GENERATED_HEADER}\n# Install: kubectl apply --server-side -k . (CRDs and namespaces come first; apply again if \
         custom resources were refused while their CRDs or webhooks were still starting).\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
    );
    for m in ordered {
        k.push_str(&format!("  - {m}\n"));
    }
    k
}
