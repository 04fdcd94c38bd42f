//! HTTP handlers, one file per resource. Each extracts, calls one service, maps the result;
//! handlers → services → repositories, never the reverse.

pub mod admin;
pub mod admission;
pub mod approvals;
pub mod audit;
pub mod break_glass;
pub mod decisions;
pub mod gate;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod policy;
pub mod promotions;
pub mod rollbacks;
pub mod runtime;
pub mod tokens;
pub mod waivers;
pub mod webhooks;
