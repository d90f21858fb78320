//! `--delivery flux`: instead of rendered objects, per chart a Flux `OCIRepository` pinned by
//! digest at the mirror and a `HelmRelease` that installs it with our values and pins every image
//! by digest at the mirror through a kustomize post-renderer. No `helm` is needed here.
//!
//! API: Flux `source.toolkit.fluxcd.io/v1` OCIRepository (`url`, `ref.digest`, `layerSelector`
//! with Helm's chart layer media type, because signed charts carry a provenance layer that may
//! sort first) and `helm.toolkit.fluxcd.io/v2` HelmRelease (`chartRef` to the OCIRepository,
//! `values`, `postRenderers[].kustomize.images` with `name`, `newName`, `digest`).

use serde_json::{Value, json};

use super::RenderError;
use super::artifacts::{CHART_LAYER_MEDIA_TYPE, Chart, ChartRef};
use super::image::ImageRef;
use super::request::Request;
use super::values::namespace_of;
use super::yaml;

/// The namespace the Flux objects live in (where Flux runs).
pub const FLUX_NAMESPACE: &str = "flux-system";

/// How often Flux re-checks an object. The chart is pinned by digest, so this only repairs drift.
const INTERVAL: &str = "1h";

/// `REGISTRY/PATH` of a chart: an OCI chart at `oci://REGISTRY/PATH/NAME` keeps its path; a chart
/// from a classic repository `https://HOST/PATH` is at `HOST/PATH/NAME` (the bundle's name for it).
pub fn chart_location(chart: &ChartRef) -> String {
    match crate::types::ChartRef::parse(&chart.repository, &chart.name, &chart.version) {
        Ok(c) => c.reference().name(),
        Err(_) => {
            let repo = chart
                .repository
                .trim_start_matches("oci://")
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            format!("{repo}/{}", chart.name)
        }
    }
}

/// The object name for a chart of a component: the component, or `component-chart` when the
/// component has several charts.
fn object_name(component: &str, chart: &ChartRef, several: bool) -> String {
    if several && chart.name != component {
        format!("{component}-{}", chart.name.replace('.', "-"))
    } else {
        component.to_string()
    }
}

/// The ways a chart may spell a locked image in its rendered objects (kustomize matches image
/// names as written): the canonical name and, for Docker Hub, the shorter spellings.
fn spellings(r: &ImageRef) -> Vec<String> {
    let mut v = vec![r.name()];
    if r.registry() == "docker.io" {
        let repo = r.repository();
        v.push(repo.to_string());
        if let Some(short) = repo.strip_prefix("library/") {
            v.push(format!("docker.io/{short}"));
            v.push(short.to_string());
        }
    }
    v
}

/// The OCIRepository and HelmRelease for one chart of `component`, as a YAML stream.
pub(crate) fn objects(
    req: &Request<'_>,
    component: &str,
    chart: &Chart,
    values: &str,
    all: &[(String, &Chart)],
) -> Result<String, RenderError> {
    let c = &chart.chart;
    let mine: Vec<&ChartRef> = all
        .iter()
        .filter(|(x, _)| x == component)
        .map(|(_, ch)| &ch.chart)
        .collect();
    let several = mine.len() > 1;
    let name = object_name(component, c, several);
    let location = chart_location(c);
    let url = match req.mirror {
        Some(m) => format!("oci://{}/{location}", m),
        None => format!("oci://{location}"),
    };
    let Some(digest) = chart.oci_digest.clone() else {
        return Err(RenderError::Flux {
            chart: format!("{} {}", c.name, c.version),
            message: format!(
                "it comes from the classic repository {} and its OCI digest in the mirror is not known: \
                 render from the bundle (--bundle), which carries the chart as an OCI artifact",
                c.repository
            ),
        });
    };
    let values: Value = match yaml::parse(values) {
        Ok(n) => n.to_json(),
        Err(e) => {
            return Err(RenderError::Flux {
                chart: format!("{} {}", c.name, c.version),
                message: format!("its values do not parse: {e}"),
            });
        }
    };
    let values = if values.is_null() { json!({}) } else { values };
    let mut images = Vec::new();
    for i in req
        .lock
        .components
        .iter()
        .filter(|x| x.name == component)
        .flat_map(|x| &x.images)
    {
        let r = &i.reference;
        let new_name = match req.mirror {
            Some(m) => format!("{}/{}", m, r.name()),
            None => r.name(),
        };
        for s in spellings(r) {
            let mut e = json!({"name": s, "newName": new_name});
            match &i.digest {
                Some(d) => e["digest"] = json!(d.as_str()),
                None => e["newTag"] = json!(r.tag().unwrap_or("latest")),
            }
            images.push(e);
        }
    }
    let depends: Vec<Value> = mine
        .iter()
        .take_while(|x| ***x != *c)
        .map(|x| json!({"name": object_name(component, x, several), "namespace": FLUX_NAMESPACE}))
        .collect();
    let repo = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
        "spec": {
            "interval": INTERVAL,
            "url": url,
            "ref": {"digest": digest},
            "layerSelector": {"mediaType": CHART_LAYER_MEDIA_TYPE, "operation": "copy"},
        },
    });
    let mut spec = json!({
        "interval": INTERVAL,
        "releaseName": component,
        "targetNamespace": namespace_of(component),
        "chartRef": {"kind": "OCIRepository", "name": name, "namespace": FLUX_NAMESPACE},
        "install": {"crds": "CreateReplace"},
        "upgrade": {"crds": "CreateReplace"},
        "values": values,
        "postRenderers": [{"kustomize": {"images": images}}],
    });
    if !depends.is_empty() {
        spec["dependsOn"] = Value::Array(depends);
    }
    let release = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
        "spec": spec,
    });
    let mut text = String::new();
    for (i, o) in [repo, release].iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&format!(
            "# {} for chart {} {} ({})\n",
            o["kind"].as_str().unwrap_or(""),
            c.name,
            c.version,
            c.repository
        ));
        text.push_str(&to_yaml(o)?);
    }
    Ok(text)
}

fn to_yaml(v: &Value) -> Result<String, RenderError> {
    serde_saphyr::to_string(v).map_err(|e| RenderError::Flux {
        chart: String::new(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_locations() {
        let c = |repo: &str| ChartRef {
            name: "cert-manager".into(),
            repository: repo.into(),
            version: "v1".into(),
            digest: String::new(),
        };
        assert_eq!(
            chart_location(&c("oci://quay.io/jetstack/charts")),
            "quay.io/jetstack/charts/cert-manager"
        );
        assert_eq!(
            chart_location(&c("https://charts.jetstack.io/")),
            "charts.jetstack.io/cert-manager"
        );
    }

    #[test]
    fn docker_hub_spellings() {
        let r = ImageRef::parse("docker.io/traefik:v3").unwrap();
        assert_eq!(
            spellings(&r),
            [
                "docker.io/library/traefik",
                "library/traefik",
                "docker.io/traefik",
                "traefik"
            ]
        );
        let r = ImageRef::parse("quay.io/a/b:1").unwrap();
        assert_eq!(spellings(&r), ["quay.io/a/b"]);
    }
}
