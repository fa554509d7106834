//! Compiles every enabled vendor's spec into a typed progenitor client in `OUT_DIR/<vendor>.rs`.
//! The rules and in-memory adaptations live in the `esp-imports-codegen` crate (`codegen/`).

use esp_imports_codegen::{self as codegen, vendors};

use std::{env, fs, path::Path, process::ExitCode};

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut failed = false;
    for vendor in vendors::VENDORS {
        if env::var_os(format!("CARGO_FEATURE_{}", vendor.to_uppercase())).is_none() {
            continue;
        }
        let spec = format!("specs/{vendor}.yaml");
        println!("cargo:rerun-if-changed={spec}");
        match codegen::generate(Path::new(&spec), &vendors::settings()) {
            Ok(generated) => {
                let out = Path::new(&out_dir).join(format!("{vendor}.rs"));
                if let Err(e) = fs::write(&out, generated.source) {
                    eprintln!("error: cannot write {}: {e}", out.display());
                    failed = true;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
