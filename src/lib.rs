#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(any(
        feature = "mailperformance",
        feature = "copernica",
        feature = "mindbaz",
        feature = "eloqua"
    )),
    allow(dead_code, unused_imports, unused_macros)
)]

/// Includes `OUT_DIR/<vendor>.rs`, written by `build.rs` from `specs/<vendor>.yaml`, as the
/// vendor's `api` module. The generated code is never edited by hand: change the spec (or
/// `codegen/`) and rebuild.
macro_rules! generated_client {
    ($vendor:literal) => {
        #[doc = concat!(
            "The client generated from `specs/", $vendor, ".yaml` by progenitor: [`Client`] with ",
            "one builder method per operation, the spec's schemas in [`types`]. Its calls ",
            "return progenitor's [`Error`]; [`crate::call`] turns that into [`crate::Error`]."
        )]
        #[allow(clippy::all, missing_docs, unused_imports, rustdoc::all)]
        pub mod api {
            include!(concat!(env!("OUT_DIR"), "/", $vendor, ".rs"));
        }
        pub use api::{types, Client};
        crate::http::client_hooks!();
    };
}

mod csv_input;
mod error;
mod fields;
mod http;
mod import;
#[cfg(any(
    feature = "mailperformance",
    feature = "copernica",
    feature = "mindbaz",
    feature = "eloqua"
))]
mod importer;
mod preflight;
pub mod retry;
mod scan;
mod secret;
mod simd;
mod spill;
mod workflow;

pub use csv_input::{CsvFile, Expectations, LineEnding, DEFAULT_MAX_ROW_BYTES};
pub use error::{call, ApiError, Error, InputError, Report};
pub use fields::{AutoMap, Field, FieldKind, Fields, Unresolved};
pub use http::{HttpConfig, MAX_RESPONSE_BYTES};
pub use import::{
    Cancel, Finding, ImportOptions, ImportReport, Mapped, Mode, Preflight, Progress, ProgressFn,
    Reject, Status, StatusOptions, Vendor,
};
#[cfg(any(
    feature = "mailperformance",
    feature = "copernica",
    feature = "mindbaz",
    feature = "eloqua"
))]
pub use importer::{Credentials, Importer, Location, VendorImport};
pub use preflight::MAX_DETAILS;
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
