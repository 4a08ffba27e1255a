//! The chat-history HTTP service: actix-web routes over the domain services, problem+json
//! errors, configuration, telemetry and the composition of the adapters.
//!
//! Architecture invariant: this crate is the composition root. Nothing depends on it;
//! actix types never leave it; it holds no business rule (those live in `domain`).

pub mod config;
pub mod dto;
pub mod error;
pub mod events;
pub mod extract;
pub mod import;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod parts;
pub mod rate_limit;
pub mod retention;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::{Cli, Command, Settings};
pub use startup::{Application, StartupError};
