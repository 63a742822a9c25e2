//! Prometheus metrics, in the text exposition format at `/metrics`. A handful of counters and one
//! histogram do not justify a metrics framework: atomics it is.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use crate::push::FailureReason;
use crate::store::{NotificationFinal, NotificationKind, PushProvider};

/// Upper bounds (seconds) of the push send latency histogram.
const PUSH_LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Per-provider push counters.
#[derive(Debug, Default)]
struct ProviderCounters {
    sent: AtomicU64,
    skipped: AtomicU64,
    failed: [AtomicU64; FailureReason::ALL.len()],
    latency_buckets: [AtomicU64; PUSH_LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

/// Upper bounds (seconds) of the delivery latency histogram.
const LATENCY_BUCKETS: [i64; 9] = [0, 1, 2, 5, 10, 30, 60, 300, 900];

/// Per-kind notification counters.
#[derive(Debug, Default)]
struct KindCounters {
    delivered: AtomicU64,
    failed: AtomicU64,
    abandoned: AtomicU64,
    retried: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum: AtomicU64,
}

/// Why a backchannel request was refused by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// The user has as many pending requests as allowed.
    UserPending,
    /// The client sends faster than allowed.
    ClientRate,
}

impl LimitReason {
    /// The metric label and the audit log's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserPending => "user_pending_limit",
            Self::ClientRate => "client_rate_limit",
        }
    }
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    ping: KindCounters,
    push: KindCounters,
    fcm: ProviderCounters,
    apns: ProviderCounters,
    refused_user_pending: AtomicU64,
    refused_client_rate: AtomicU64,
    connections_refused: AtomicU64,
    tokens_refreshed: AtomicU64,
    refresh_tokens_reused: AtomicU64,
    tokens_revoked: AtomicU64,
    /// Enrollments by attestation outcome: verified, unverified, none, refused.
    enrollments: [AtomicU64; 4],
}

/// What device trust an enrollment ended with (`ciba_enrollments_total{attestation}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentOutcome {
    /// Enrolled with a verified attestation.
    Verified,
    /// Enrolled with an attestation that did not verify (or was not checked).
    Unverified,
    /// Enrolled without an attestation.
    None,
    /// Refused by the attestation policy.
    Refused,
}

impl EnrollmentOutcome {
    const ALL: [Self; 4] = [Self::Verified, Self::Unverified, Self::None, Self::Refused];

    fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Unverified => "unverified",
            Self::None => "none",
            Self::Refused => "refused",
        }
    }
}

impl Metrics {
    /// A backchannel request was refused by a limit.
    pub fn request_limited(&self, reason: LimitReason) {
        match reason {
            LimitReason::UserPending => &self.refused_user_pending,
            LimitReason::ClientRate => &self.refused_client_rate,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// An enrollment ended (or was refused) with this device trust.
    pub fn enrollment(&self, outcome: EnrollmentOutcome) {
        self.enrollments[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was closed at once: too many were open.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A refresh token was used (and rotated).
    pub fn token_refreshed(&self) {
        self.tokens_refreshed.fetch_add(1, Ordering::Relaxed);
    }

    /// A used refresh token was presented again (its family was revoked).
    pub fn refresh_token_reused(&self) {
        self.refresh_tokens_reused.fetch_add(1, Ordering::Relaxed);
    }

    /// A client revoked a token (RFC 7009).
    pub fn token_revoked(&self) {
        self.tokens_revoked.fetch_add(1, Ordering::Relaxed);
    }

    fn render_limits(&self, out: &mut String) {
        for (name, help, n) in [
            (
                "ciba_tokens_refreshed_total",
                "Refresh grants answered with new tokens (the refresh token rotated).",
                &self.tokens_refreshed,
            ),
            (
                "ciba_refresh_token_reuse_total",
                "Used refresh tokens presented again: each revoked its whole grant.",
                &self.refresh_tokens_reused,
            ),
            (
                "ciba_tokens_revoked_total",
                "Tokens revoked by their clients (RFC 7009).",
                &self.tokens_revoked,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let name = "ciba_enrollments_total";
        let _ = writeln!(
            out,
            "# HELP {name} Device enrollments by attestation outcome (refused: by the attestation policy).\n# TYPE {name} counter"
        );
        for outcome in EnrollmentOutcome::ALL {
            let _ = writeln!(
                out,
                "{name}{{attestation=\"{}\"}} {}",
                outcome.as_str(),
                self.enrollments[outcome as usize].load(Ordering::Relaxed)
            );
        }
        let name = "ciba_requests_limited_total";
        let _ = writeln!(
            out,
            "# HELP {name} Backchannel requests refused by a limit.\n# TYPE {name} counter"
        );
        for reason in [LimitReason::UserPending, LimitReason::ClientRate] {
            let n = match reason {
                LimitReason::UserPending => &self.refused_user_pending,
                LimitReason::ClientRate => &self.refused_client_rate,
            };
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\"}} {}",
                reason.as_str(),
                n.load(Ordering::Relaxed)
            );
        }
        let name = "ciba_connections_refused_total";
        let _ = writeln!(
            out,
            "# HELP {name} Connections closed at once because too many were open.\n# TYPE {name} counter\n{name} {}",
            self.connections_refused.load(Ordering::Relaxed)
        );
    }

    fn kind(&self, kind: NotificationKind) -> &KindCounters {
        match kind {
            NotificationKind::Ping => &self.ping,
            NotificationKind::Push => &self.push,
        }
    }

    /// A notification got a 2xx; `latency` is seconds from the decision.
    pub fn notification_delivered(&self, kind: NotificationKind, latency: Option<i64>) {
        let k = self.kind(kind);
        k.delivered.fetch_add(1, Ordering::Relaxed);
        if let Some(latency) = latency {
            let latency = latency.max(0);
            for (bucket, bound) in k.latency_buckets.iter().zip(LATENCY_BUCKETS) {
                if latency <= bound {
                    bucket.fetch_add(1, Ordering::Relaxed);
                }
            }
            k.latency_count.fetch_add(1, Ordering::Relaxed);
            k.latency_sum
                .fetch_add(latency.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// A notification attempt failed and will be retried.
    pub fn notification_retried(&self, kind: NotificationKind) {
        self.kind(kind).retried.fetch_add(1, Ordering::Relaxed);
    }

    /// A notification ended without delivery.
    pub fn notification_failed(&self, kind: NotificationKind, outcome: NotificationFinal) {
        let k = self.kind(kind);
        match outcome {
            NotificationFinal::Abandoned => k.abandoned.fetch_add(1, Ordering::Relaxed),
            _ => k.failed.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// The counters of a provider; a device without push has none.
    fn provider(&self, provider: PushProvider) -> Option<&ProviderCounters> {
        match provider {
            PushProvider::Fcm => Some(&self.fcm),
            PushProvider::Apns => Some(&self.apns),
            PushProvider::None => None,
        }
    }

    /// The provider accepted a push after `latency` (the send, including a token fetch).
    pub fn push_sent(&self, provider: PushProvider, latency: Duration) {
        let Some(p) = self.provider(provider) else {
            return;
        };
        p.sent.fetch_add(1, Ordering::Relaxed);
        let seconds = latency.as_secs_f64();
        for (bucket, bound) in p.latency_buckets.iter().zip(PUSH_LATENCY_BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        p.latency_count.fetch_add(1, Ordering::Relaxed);
        p.latency_sum_micros.fetch_add(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A push attempt failed (retried or not, by `reason`).
    pub fn push_failed(&self, provider: PushProvider, reason: FailureReason) {
        if let Some(p) = self.provider(provider)
            && let Some(i) = FailureReason::ALL.iter().position(|r| *r == reason)
        {
            p.failed[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A push was skipped: its provider is not configured.
    pub fn push_skipped(&self, provider: PushProvider) {
        if let Some(p) = self.provider(provider) {
            p.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn render_push(&self, out: &mut String) {
        let providers = [("fcm", &self.fcm), ("apns", &self.apns)];
        let name = "ciba_push_sent_total";
        let _ = writeln!(
            out,
            "# HELP {name} Pushes the provider accepted.\n# TYPE {name} counter"
        );
        for (label, p) in providers {
            let _ = writeln!(
                out,
                "{name}{{provider=\"{label}\"}} {}",
                p.sent.load(Ordering::Relaxed)
            );
        }
        let name = "ciba_push_skipped_total";
        let _ = writeln!(
            out,
            "# HELP {name} Pushes skipped: provider not configured.\n# TYPE {name} counter"
        );
        for (label, p) in providers {
            let _ = writeln!(
                out,
                "{name}{{provider=\"{label}\"}} {}",
                p.skipped.load(Ordering::Relaxed)
            );
        }
        let name = "ciba_push_failed_total";
        let _ = writeln!(
            out,
            "# HELP {name} Failed push attempts, by reason (throttled, unavailable, network and auth are retried).\n# TYPE {name} counter"
        );
        for (label, p) in providers {
            for (reason, count) in FailureReason::ALL.iter().zip(&p.failed) {
                let _ = writeln!(
                    out,
                    "{name}{{provider=\"{label}\",reason=\"{}\"}} {}",
                    reason.as_str(),
                    count.load(Ordering::Relaxed)
                );
            }
        }
        let name = "ciba_push_send_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from the start of a send to the provider's acceptance.\n# TYPE {name} histogram"
        );
        for (label, p) in providers {
            for (bucket, bound) in p.latency_buckets.iter().zip(PUSH_LATENCY_BUCKETS) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{provider=\"{label}\",le=\"{bound}\"}} {}",
                    bucket.load(Ordering::Relaxed)
                );
            }
            let count = p.latency_count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{provider=\"{label}\",le=\"+Inf\"}} {count}"
            );
            let sum = p.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{provider=\"{label}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{provider=\"{label}\"}} {count}");
        }
    }

    /// The delivery counters of `/metrics` as JSON (the console's overview): pushes by
    /// provider (`ciba_push_sent_total`, `…_skipped_total`, `…_failed_total{reason}`) and client
    /// notifications by kind (`ciba_notifications_*_total`). This instance's, since it started.
    pub fn delivery_snapshot(&self) -> serde_json::Value {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let provider = |p: &ProviderCounters| {
            let failed: serde_json::Map<String, serde_json::Value> = FailureReason::ALL
                .iter()
                .zip(&p.failed)
                .map(|(reason, count)| (reason.as_str().to_owned(), load(count).into()))
                .collect();
            serde_json::json!({ "sent": load(&p.sent), "skipped": load(&p.skipped), "failed": failed })
        };
        let kind = |k: &KindCounters| {
            serde_json::json!({
                "delivered": load(&k.delivered),
                "failed": load(&k.failed),
                "abandoned": load(&k.abandoned),
                "retried": load(&k.retried),
            })
        };
        serde_json::json!({
            "push": { "fcm": provider(&self.fcm), "apns": provider(&self.apns) },
            "notifications": { "ping": kind(&self.ping), "push": kind(&self.push) },
        })
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, get: &dyn Fn(&KindCounters) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (label, k) in [("ping", &self.ping), ("push", &self.push)] {
                let _ = writeln!(out, "{name}{{kind=\"{label}\"}} {}", get(k));
            }
        };
        counter(
            "ciba_notifications_sent_total",
            "Notifications delivered (2xx).",
            &|k| k.delivered.load(Ordering::Relaxed),
        );
        counter(
            "ciba_notifications_failed_total",
            "Notifications refused for good.",
            &|k| k.failed.load(Ordering::Relaxed),
        );
        counter(
            "ciba_notifications_abandoned_total",
            "Notifications whose deadline passed.",
            &|k| k.abandoned.load(Ordering::Relaxed),
        );
        counter(
            "ciba_notifications_retried_total",
            "Failed attempts that will be retried.",
            &|k| k.retried.load(Ordering::Relaxed),
        );
        let name = "ciba_notification_delivery_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from the decision to the 2xx.\n# TYPE {name} histogram"
        );
        for (label, k) in [("ping", &self.ping), ("push", &self.push)] {
            for (bucket, bound) in k.latency_buckets.iter().zip(LATENCY_BUCKETS) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{kind=\"{label}\",le=\"{bound}\"}} {}",
                    bucket.load(Ordering::Relaxed)
                );
            }
            let count = k.latency_count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{kind=\"{label}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "{name}_sum{{kind=\"{label}\"}} {}",
                k.latency_sum.load(Ordering::Relaxed)
            );
            let _ = writeln!(out, "{name}_count{{kind=\"{label}\"}} {count}");
        }
        self.render_push(&mut out);
        self.render_limits(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.notification_delivered(NotificationKind::Ping, Some(3));
        m.notification_retried(NotificationKind::Push);
        m.notification_failed(NotificationKind::Push, NotificationFinal::Failed);
        let text = m.render();
        assert!(text.contains("ciba_notifications_sent_total{kind=\"ping\"} 1"));
        assert!(text.contains("ciba_notifications_retried_total{kind=\"push\"} 1"));
        assert!(text.contains("ciba_notifications_failed_total{kind=\"push\"} 1"));
        assert!(
            text.contains("ciba_notification_delivery_seconds_bucket{kind=\"ping\",le=\"2\"} 0")
        );
        assert!(
            text.contains("ciba_notification_delivery_seconds_bucket{kind=\"ping\",le=\"5\"} 1")
        );
        assert!(text.contains("ciba_notification_delivery_seconds_count{kind=\"ping\"} 1"));
    }

    #[test]
    fn renders_push_metrics_per_provider() {
        let m = Metrics::default();
        m.push_sent(PushProvider::Apns, Duration::from_millis(30));
        m.push_failed(PushProvider::Fcm, FailureReason::DeadToken);
        m.push_skipped(PushProvider::Fcm);
        let text = m.render();
        assert!(text.contains("ciba_push_sent_total{provider=\"apns\"} 1"));
        assert!(text.contains("ciba_push_failed_total{provider=\"fcm\",reason=\"dead_token\"} 1"));
        assert!(text.contains("ciba_push_skipped_total{provider=\"fcm\"} 1"));
        assert!(text.contains("ciba_push_send_seconds_bucket{provider=\"apns\",le=\"0.025\"} 0"));
        assert!(text.contains("ciba_push_send_seconds_bucket{provider=\"apns\",le=\"0.05\"} 1"));
    }
}
