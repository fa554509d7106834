//! The copernica emulator.

use axum::Router;

use super::Shared;

pub(super) fn router(shared: Shared) -> Router {
    let _ = shared;
    Router::new()
}
