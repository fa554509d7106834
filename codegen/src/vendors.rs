//! The vendors and the progenitor settings each one is generated with (shared by `build.rs`
//! and the snapshot tooling).

use progenitor::{GenerationSettings, HooksMode, InterfaceStyle, TagStyle};

/// Every vendor: its Cargo feature, its spec `specs/<name>.yaml` and its module `src/<name>/`.
pub const VENDORS: [&str; 4] = ["mailperformance", "copernica", "mindbaz", "eloqua"];

/// Builder-style methods (adding a parameter to a spec cannot silently shift arguments),
/// deterministic maps, and our hooks (a client without them does not compile).
pub fn settings() -> GenerationSettings {
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        .with_map_type("::std::collections::BTreeMap")
        // Retry policy and query credential for the hooks every client implements (src/http.rs).
        .with_inner_type("crate::http::Inner".parse().expect("a Rust path"))
        .with_hooks(HooksMode::Expected);
    settings
}
