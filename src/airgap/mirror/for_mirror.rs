//! `mirror -o DIR`: the rendering the bundle carries, with every image moved to the mirror. Pure
//! Rust, no `helm`: the charts were rendered where the bundle was exported.

use super::MirrorError;
use super::plan::Plan;
use crate::airgap::carried;
use crate::render;
use crate::types::RegistryPrefix;

/// Moves the rendering stored in a bundle already planned by [`super::prepare`] (read from the
/// plan's directory: an archive's extraction, or the bundle directory itself) to the mirror
/// `target`, and checks it again.
pub fn render_for_plan(
    plan: &Plan,
    target: &RegistryPrefix,
) -> Result<render::Output, MirrorError> {
    let read = || -> Result<_, carried::CarriedError> {
        Ok((carried::lock(&plan.root)?, carried::rendered(&plan.root)?))
    };
    let (lock, files) = read().map_err(|e| MirrorError::Bundle {
        path: plan.root.display().to_string(),
        message: e.to_string(),
    })?;
    let out = render::relocate(&files, &lock, Some(target))?;
    if !out.problems.is_empty() {
        return Err(MirrorError::RenderProblems(out.problems));
    }
    Ok(out)
}
