pub mod metrics;
pub mod recorder;
