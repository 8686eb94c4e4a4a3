#![allow(clippy::unwrap_used, clippy::expect_used)]

mod health_cli;
mod recorder;
