//! The `esp-imports` command line: `import`, `demo`, `sandbox` and `spec`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
