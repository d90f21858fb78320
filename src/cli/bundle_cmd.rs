//! `bundle export`, `bundle verify`, `bundle inspect`.

use clap::Args;

use super::Failure;
use crate::catalog::Catalog;

/// Arguments of `bundle export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {}

/// Arguments of `bundle verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {}

/// Arguments of `bundle inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {}

pub(super) fn export(_catalog: &Catalog, _args: ExportArgs) -> Result<(), Failure> {
    Err(Failure::usage("`bundle export` is not built yet"))
}

pub(super) fn verify(_args: VerifyArgs) -> Result<(), Failure> {
    Err(Failure::usage("`bundle verify` is not built yet"))
}

pub(super) fn inspect(_args: InspectArgs) -> Result<(), Failure> {
    Err(Failure::usage("`bundle inspect` is not built yet"))
}
