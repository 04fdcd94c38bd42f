//! The Portcullis server: configuration, authentication, the HTTP API, the promotion
//! services, the approver web page (`ui`) and the copy worker. `app::Application` builds and runs it; `app::router`
//! exposes the routes for in-process tests.

pub mod app;
pub mod auth;
pub mod auth_failures;
pub mod cli;
pub mod cli_decisions;
pub mod config;
mod deadline;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod inspect;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod remote;
pub mod request_id;
pub mod serve;
pub mod services;
pub mod state;
pub mod tls;
pub mod ui;
pub mod views;
