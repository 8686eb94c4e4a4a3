#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test code: a failed step should stop the test loudly, and blocking file I/O is fine here"
)]
//! The one integration-test binary: each module drives the real `llmo`
//! binary (or the library in-process) against temporary directories.

mod admin;
mod admin_scale;
mod cli;
mod common;
mod config_apply;
mod db_copy;
mod doctor;
mod doctor_pg;
mod edges;
mod gateway;
mod gateway_lifecycle;
mod gateway_resilience;
mod gateway_translated;
mod generated;
mod health_cli;
mod logs_json;
mod memory;
mod messages;
mod migrate;
mod pg;
mod pg_outage;
mod pg_tls;
#[cfg(unix)]
mod readme;
mod recorder;
mod redis;
mod replicas;
mod responses;
mod streams;
mod tls;
mod tree;
