//! The `esp-imports` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    version,
    about = "Bulk contact imports into NP6, Copernica, Mindbaz and Eloqua"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the bundled OpenAPI spec of a vendor.
    Spec {
        /// The vendor.
        vendor: Vendor,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Vendor {
    Mailperformance,
    Copernica,
    Mindbaz,
    Eloqua,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Spec { vendor } => {
            let name = vendor
                .to_possible_value()
                .expect("no skipped values")
                .get_name()
                .to_owned();
            match esp_imports::SPECS.iter().find(|(v, _)| *v == name) {
                Some((_, yaml)) => {
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("error: this build leaves out `{name}` (its Cargo feature is off)");
                    ExitCode::from(2)
                }
            }
        }
    }
}
