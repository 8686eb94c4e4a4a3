//! llmo: a self-hosted, OpenAI-compatible LLM gateway.
//!
//! The library holds everything; `main.rs` only parses arguments and calls
//! [`cli::main`], so integration tests drive the same code in-process.
pub mod admin;
pub mod catalog;
pub mod catalog_file;
pub mod cli;
pub mod config;
pub mod db;
pub mod doctor;
pub mod error;
pub mod gateway;
mod http_util;
pub mod logging;
pub mod output;
pub mod secret;
pub mod time;
pub mod translate;
