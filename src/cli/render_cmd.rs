//! `bundle render`.

use clap::Args;

use super::Failure;
use crate::catalog::Catalog;

/// Arguments of `bundle render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {}

pub(super) fn run(_catalog: &Catalog, _args: RenderArgs) -> Result<(), Failure> {
    Err(Failure::usage("`bundle render` is not built yet"))
}
