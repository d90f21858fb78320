//! The `bundle` command.

fn main() -> std::process::ExitCode {
    bundle::cli::run()
}
