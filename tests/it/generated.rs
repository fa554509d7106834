//! The generated clients are reviewable: each vendor's generated source is committed under
//! `tests/snapshots/<vendor>.rs.snap` and this test fails when the build produces anything else.
//!
//! After a spec (or generator) change, refresh the snapshots with
//! `EXPECTORATE=overwrite cargo test -p esp-imports --test it generated` and review the diff.

fn check(vendor: &str, generated: &str) {
    expectorate::assert_contents(format!("tests/snapshots/{vendor}.rs.snap"), generated);
}

#[cfg(feature = "mailperformance")]
#[test]
fn mailperformance() {
    check(
        "mailperformance",
        include_str!(concat!(env!("OUT_DIR"), "/mailperformance.rs")),
    );
}

#[cfg(feature = "copernica")]
#[test]
fn copernica() {
    check(
        "copernica",
        include_str!(concat!(env!("OUT_DIR"), "/copernica.rs")),
    );
}

#[cfg(feature = "mindbaz")]
#[test]
fn mindbaz() {
    check(
        "mindbaz",
        include_str!(concat!(env!("OUT_DIR"), "/mindbaz.rs")),
    );
}

#[cfg(feature = "eloqua")]
#[test]
fn eloqua() {
    check(
        "eloqua",
        include_str!(concat!(env!("OUT_DIR"), "/eloqua.rs")),
    );
}
