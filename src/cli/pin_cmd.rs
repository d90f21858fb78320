//! `bundle pin`.

use clap::Args;

use super::Failure;
use crate::catalog::Catalog;

/// Arguments of `bundle pin`.
#[derive(Debug, Args)]
pub(crate) struct PinArgs {}

pub(super) fn run(_catalog: &Catalog, _args: PinArgs) -> Result<(), Failure> {
    Err(Failure::usage("`bundle pin` is not built yet"))
}
