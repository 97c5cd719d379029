//! The tower shell around the pure decision, one file per part as in tower's own middleware:
//! the layer (`layer.rs`: settings, made once), the service (`service.rs`: decide, then answer
//! or call the inner service), the futures (`future.rs`), and what those share (`step.rs`: the
//! layer's settings and a decision turned into the next step).

mod cached;
mod future;
// The layer of the `layer` module, as in tower's `timeout/layer.rs`.
#[allow(clippy::module_inception)]
mod layer;
mod service;
mod step;

pub use cached::CachedResponseFuture;
pub use future::{AsyncResponseFuture, ResponseFuture};
pub use layer::CorsLayer;
pub use service::Cors;
