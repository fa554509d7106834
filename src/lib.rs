#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(
    not(any(
        feature = "mailperformance",
        feature = "copernica",
        feature = "mindbaz",
        feature = "eloqua"
    )),
    allow(dead_code, unused_macros)
)]

/// Includes `OUT_DIR/<vendor>.rs`, written by `build.rs` from `specs/<vendor>.yaml`. The
/// generated code is never edited by hand: change the spec (or `build/`) and rebuild.
macro_rules! generated_client {
    ($vendor:literal) => {
        #[allow(clippy::all, missing_docs, unused_imports, rustdoc::all)]
        mod generated {
            include!(concat!(env!("OUT_DIR"), "/", $vendor, ".rs"));
        }
        pub use generated::*;
        crate::http::client_hooks!();
    };
}

mod csv_input;
mod error;
mod http;
mod import;
pub mod retry;
mod secret;
mod workflow;

pub use csv_input::{CsvFile, Expectations, LineEnding, DEFAULT_MAX_ROW_BYTES};
pub use error::{ApiError, Error, InputError};
pub use http::{HttpConfig, MAX_RESPONSE_BYTES};
pub use import::{
    Cancel, ImportOptions, ImportReport, Mode, Progress, ProgressFn, Reject, Status, Vendor,
};
pub use retry::RetryPolicy;
pub use secret::Secret;

#[cfg(feature = "copernica")]
pub mod copernica;
#[cfg(feature = "eloqua")]
pub mod eloqua;
#[cfg(feature = "mailperformance")]
pub mod mailperformance;
#[cfg(feature = "mindbaz")]
pub mod mindbaz;

/// The bundled spec of each vendor compiled into this build, as `(vendor, YAML)`.
pub const SPECS: &[(&str, &str)] = &[
    #[cfg(feature = "mailperformance")]
    (
        "mailperformance",
        include_str!("../specs/mailperformance.yaml"),
    ),
    #[cfg(feature = "copernica")]
    ("copernica", include_str!("../specs/copernica.yaml")),
    #[cfg(feature = "mindbaz")]
    ("mindbaz", include_str!("../specs/mindbaz.yaml")),
    #[cfg(feature = "eloqua")]
    ("eloqua", include_str!("../specs/eloqua.yaml")),
];
