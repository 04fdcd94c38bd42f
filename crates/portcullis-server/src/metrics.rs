//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4), kept by hand in
//! atomics and small maps: no metrics crate to compile. Label values are bounded: requests
//! are labelled by route template (`/v1/promotions/{id}`, never the path) and status, rule
//! ids by what the policy names (at most `MAX_RULES`, the rest counted as `_other`).
//! Gauges read from the database (copy queue depth and age, audit chain length) and the
//! verification cache's counters are taken at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Distinct rule ids counted by name; more are counted as `_other`.
pub const MAX_RULES: usize = 256;
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const COPY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

/// A histogram: cumulative bucket counts, sum and count.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.buckets.len() != bounds.len() {
            self.buckets = vec![0; bounds.len()];
        }
        for (b, bound) in self.buckets.iter_mut().zip(bounds) {
            if value <= *bound {
                *b += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, bound) in self.buckets.iter().zip(bounds) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {b}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Every metric the process keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    decisions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    rules: Mutex<BTreeMap<String, u64>>,
    votes: Mutex<BTreeMap<&'static str, u64>>,
    copies: Mutex<BTreeMap<&'static str, u64>>,
    copy_seconds: Mutex<Histogram>,
    copy_bytes: AtomicU64,
    copies_in_flight: AtomicI64,
}

/// A copy job in flight: counted until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.copies_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += 1;
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            m.entry((route.to_owned(), method.to_owned(), status))
                .or_default()
                .observe(HTTP_BUCKETS, took.as_secs_f64());
        }
    }

    /// One policy decision: allowed or denied, on a dry run or a stored request, and the
    /// rule id of every violation.
    pub fn decision(&self, allow: bool, dry_run: bool, rules: impl Iterator<Item = String>) {
        let outcome = if allow { "allow" } else { "deny" };
        let kind = if dry_run { "dry_run" } else { "request" };
        bump(&self.decisions, (outcome, kind));
        if let Ok(mut m) = self.rules.lock() {
            for rule in rules {
                let known = m.contains_key(&rule) || m.len() < MAX_RULES;
                let key = if known { rule } else { "_other".to_owned() };
                *m.entry(key).or_default() += 1;
            }
        }
    }

    /// One vote counted (`approve` or `reject`).
    pub fn vote(&self, approve: bool) {
        bump(&self.votes, if approve { "approve" } else { "reject" });
    }

    /// A copy job starts; it counts as in flight until the guard drops.
    pub fn copy_started(&self) -> InFlight<'_> {
        self.copies_in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// A copy job ended: `promoted` or `failed`, its bytes uploaded and its time.
    pub fn copy_finished(&self, promoted: bool, bytes: u64, took: Duration) {
        bump(&self.copies, if promoted { "promoted" } else { "failed" });
        self.copy_bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Ok(mut h) = self.copy_seconds.lock() {
            h.observe(COPY_BUCKETS, took.as_secs_f64());
        }
    }

    /// The text exposition of what this process counted.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "portcullis_http_request_duration_seconds",
            "histogram",
            "API requests by route template, method and status.",
        );
        if let Ok(m) = self.requests.lock() {
            for ((route, method, status), h) in m.iter() {
                let labels = format!(
                    "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                    escape(route)
                );
                h.render(
                    &mut out,
                    "portcullis_http_request_duration_seconds",
                    &labels,
                    HTTP_BUCKETS,
                );
            }
        }
        head(
            &mut out,
            "portcullis_decisions_total",
            "counter",
            "Policy decisions by outcome, on requests and dry runs.",
        );
        if let Ok(m) = self.decisions.lock() {
            for ((outcome, kind), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "portcullis_decisions_total{{outcome=\"{outcome}\",kind=\"{kind}\"}} {n}"
                );
            }
        }
        head(
            &mut out,
            "portcullis_decision_violations_total",
            "counter",
            "Violations in policy decisions, by rule id.",
        );
        if let Ok(m) = self.rules.lock() {
            for (rule, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "portcullis_decision_violations_total{{rule=\"{}\"}} {n}",
                    escape(rule)
                );
            }
        }
        head(
            &mut out,
            "portcullis_votes_total",
            "counter",
            "Approval votes counted, by verdict.",
        );
        if let Ok(m) = self.votes.lock() {
            for (verdict, n) in m.iter() {
                let _ = writeln!(out, "portcullis_votes_total{{verdict=\"{verdict}\"}} {n}");
            }
        }
        head(
            &mut out,
            "portcullis_copy_jobs_total",
            "counter",
            "Copy jobs finished by this replica, by outcome.",
        );
        if let Ok(m) = self.copies.lock() {
            for (outcome, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "portcullis_copy_jobs_total{{outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        head(
            &mut out,
            "portcullis_copy_bytes_total",
            "counter",
            "Bytes uploaded to production by finished copy jobs.",
        );
        let _ = writeln!(
            out,
            "portcullis_copy_bytes_total {}",
            self.copy_bytes.load(Ordering::Relaxed)
        );
        head(
            &mut out,
            "portcullis_copy_duration_seconds",
            "histogram",
            "Copy job time, statement check to outcome.",
        );
        if let Ok(h) = self.copy_seconds.lock() {
            h.render(
                &mut out,
                "portcullis_copy_duration_seconds",
                "",
                COPY_BUCKETS,
            );
        }
        head(
            &mut out,
            "portcullis_copy_jobs_in_flight",
            "gauge",
            "Copy jobs running in this replica.",
        );
        let _ = writeln!(
            out,
            "portcullis_copy_jobs_in_flight {}",
            self.copies_in_flight.load(Ordering::Relaxed)
        );
        out
    }
}

/// Middleware: times every request and counts it under its route template.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format_with_bounded_labels() {
        let m = Metrics::default();
        m.request("/v1/promotions/{id}", "GET", 200, Duration::from_millis(3));
        m.request("/v1/promotions/{id}", "GET", 200, Duration::from_millis(30));
        m.decision(false, false, ["no_signature".to_owned()].into_iter());
        for i in 0..MAX_RULES + 5 {
            m.decision(false, true, std::iter::once(format!("rule_{i}")));
        }
        m.vote(true);
        {
            let _job = m.copy_started();
            m.copy_finished(true, 1024, Duration::from_millis(200));
        }
        let text = m.render();
        assert!(text.contains(
            "portcullis_http_request_duration_seconds_bucket{route=\"/v1/promotions/{id}\",method=\"GET\",status=\"200\",le=\"0.005\"} 1"
        ), "{text}");
        assert!(text.contains("portcullis_http_request_duration_seconds_count{route=\"/v1/promotions/{id}\",method=\"GET\",status=\"200\"} 2"));
        assert!(text.contains("portcullis_decisions_total{outcome=\"deny\",kind=\"request\"} 1"));
        assert!(
            text.contains("portcullis_decision_violations_total{rule=\"_other\"} 6"),
            "{text}"
        );
        assert!(text.contains("portcullis_votes_total{verdict=\"approve\"} 1"));
        assert!(text.contains("portcullis_copy_bytes_total 1024"));
        assert!(text.contains("portcullis_copy_jobs_in_flight 0"));
        assert!(text.contains("portcullis_copy_duration_seconds_bucket{le=\"0.5\"} 1"));
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
