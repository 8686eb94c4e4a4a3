#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod gateway;
mod gateway_lifecycle;
mod gateway_resilience;
