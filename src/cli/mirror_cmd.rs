//! `bundle mirror`.

use clap::Args;

use super::Failure;
use crate::catalog::Catalog;

/// Arguments of `bundle mirror`.
#[derive(Debug, Args)]
pub(crate) struct MirrorArgs {}

pub(super) fn run(_catalog: &Catalog, _args: MirrorArgs) -> Result<(), Failure> {
    Err(Failure::usage("`bundle mirror` is not built yet"))
}
