//! The vendors and the progenitor settings each one is generated with (shared by `build.rs`
//! and the snapshot tooling).

use progenitor::{GenerationSettings, InterfaceStyle, TagStyle};

/// Every vendor: its Cargo feature, its spec `specs/<name>.yaml` and its module `src/<name>/`.
pub const VENDORS: [&str; 4] = ["mailperformance", "copernica", "mindbaz", "eloqua"];

/// Builder-style methods (adding a parameter to a spec cannot silently shift arguments),
/// deterministic maps, and the per-vendor extras.
pub fn settings(vendor: &str) -> GenerationSettings {
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        .with_map_type("::std::collections::BTreeMap");
    if vendor == "copernica" {
        // The access token travels in the client and is added to every request by a hook.
        settings.with_inner_type(
            "crate::copernica::AccessToken"
                .parse()
                .expect("a Rust path"),
        );
    }
    settings
}
