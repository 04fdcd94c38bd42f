//! End-to-end tests of Portcullis against the real Postgres on 127.0.0.1:5432 (a fresh
//! database per test) and real `docker-registry` processes on loopback ports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod approvals;
mod auth_flood;
mod authz;
mod connections;
mod copying;
mod evidence;
mod flow;
mod hung_registries;
mod integrity;
mod jobs;
mod limits;
mod listing;
mod outage;
mod policy;
mod request_ids;
mod support;
mod tcp_proxy;
mod text;
mod validation;
mod wakeups;
