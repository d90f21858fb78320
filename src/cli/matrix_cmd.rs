//! `bundle matrix`.

use clap::Args;

use super::Failure;
use crate::catalog::Catalog;

/// Arguments of `bundle matrix`.
#[derive(Debug, Args)]
pub(crate) struct MatrixArgs {}

pub(super) fn run(_catalog: &Catalog, _args: MatrixArgs) -> Result<(), Failure> {
    Err(Failure::usage("`bundle matrix` is not built yet"))
}
