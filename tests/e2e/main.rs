//! End-to-end tests of Portcullis against the real Postgres on 127.0.0.1:5432 (a fresh
//! database per test) and real `docker-registry` processes on loopback ports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod admission;
mod admission_replicas;
mod admission_tls;
mod approvals;
mod attestations;
mod audit_verify;
mod auth_flood;
mod authz;
mod break_glass;
mod cli_client;
mod connections;
mod copying;
mod decision;
mod evidence_docs;
mod evidence_formats;
mod flow;
mod hung_registries;
mod integrity;
mod jobs;
mod keyless_signers;
mod licences;
mod limits;
mod listing;
mod metrics;
mod oidc;
mod openapi;
mod openapi_served;
mod outage;
mod policy;
mod promotion_attestation;
mod replay;
mod request_ids;
mod requirements;
mod rollback;
mod rollback_policy;
mod sigstore_bundles;
mod simulate;
mod store_rows;
mod support;
mod tcp_proxy;
mod text;
mod token_grants;
mod tokens;
mod ui;
mod validation;
mod verification_cache;
mod vex;
mod waiting;
mod waiver_rejudge;
mod waivers;
mod wakeups;
mod webhooks;
mod withdrawals;
