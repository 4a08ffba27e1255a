//! Prometheus metrics, served as text at `/metrics`.
//!
//! Names follow Prometheus conventions: the service's own metrics start with
//! `chat_history_`, the process collector's are the standard unprefixed `process_*` (so
//! stock dashboards find them), limits are gauges of their own rather than a label value
//! (summing a gauge over its labels never counts the limit in).
//!
//! Requests are counted by route template (never the raw path, which would explode the
//! label set with ids), method and status; latency is a histogram by route and method.
//! Authentication outcomes are counted by credential kind and result. The database pool
//! and build information are read at scrape time; open event streams are kept by the
//! events hub.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::web;
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Numbers about the database pool, read at each scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    /// Connections open now.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The configured maximum.
    pub max: u32,
    /// Requests waiting for a connection.
    pub waiting: u32,
}

type PoolProbe = Arc<dyn Fn() -> PoolStats + Send + Sync>;

/// The service's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    auth: IntCounterVec,
    pool: IntGaugeVec,
    pool_max: IntGauge,
    pool_waiting: IntGauge,
    pool_probe: Option<PoolProbe>,
    event_streams: IntGauge,
    event_streams_dropped: IntCounterVec,
    event_reads: IntCounter,
    retention_deleted: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric; `pool_probe` reads the pool at scrape time.
    pub fn new(pool_probe: Option<PoolProbe>) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "chat_history_http_requests_total",
                "HTTP requests answered.",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "chat_history_http_request_duration_seconds",
                "Time from request to response head.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )?;
        let auth = IntCounterVec::new(
            Opts::new(
                "chat_history_auth_attempts_total",
                "Authentication attempts by credential kind (bearer, cookie, none) and result \
                 (ok, missing, invalid, expired, untrusted_origin, unavailable).",
            ),
            &["credential", "result"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "chat_history_db_pool_connections",
                "Open connections of the database pool that serves requests, by state (idle, in_use).",
            ),
            &["state"],
        )?;
        let pool_max = IntGauge::with_opts(Opts::new(
            "chat_history_db_pool_max_connections",
            "The most connections the database pool holds at once (DB_MAX_CONNECTIONS).",
        ))?;
        let pool_waiting = IntGauge::with_opts(Opts::new(
            "chat_history_db_pool_waiting_requests",
            "Requests waiting for a database connection now.",
        ))?;
        let build = IntGauge::with_opts(
            Opts::new(
                "chat_history_build_info",
                "Build information; the value is always 1.",
            )
            .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build.set(1);
        let event_streams = IntGauge::new(
            "chat_history_event_streams",
            "Live event streams (GET /api/v1/events) open on this process.",
        )?;
        let event_streams_dropped = IntCounterVec::new(
            Opts::new(
                "chat_history_event_streams_ended_total",
                "Live event streams the service ended, by reason: slow_reader (more than \
                 1,000 events behind), shutdown, database (the listener or a read failed).",
            ),
            &["reason"],
        )?;
        let event_reads = IntCounter::new(
            "chat_history_event_reads_total",
            "Reads of the events outbox by this process's live-events feed (one statement \
             each, for every user with news since the previous read).",
        )?;
        let retention_deleted = IntCounterVec::new(
            Opts::new(
                "chat_history_retention_deleted_total",
                "Rows the retention sweeper of this process deleted, by reason (expired: \
                 temporary chats past expires_at; retention: threads older than \
                 RETENTION_DAYS) and kind (threads, messages).",
            ),
            &["reason", "kind"],
        )?;
        registry.register(Box::new(retention_deleted.clone()))?;
        registry.register(Box::new(event_streams.clone()))?;
        registry.register(Box::new(event_streams_dropped.clone()))?;
        registry.register(Box::new(event_reads.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(auth.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(pool_waiting.clone()))?;
        registry.register(Box::new(build))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            requests,
            latency,
            auth,
            pool,
            pool_max,
            pool_waiting,
            pool_probe,
            event_streams,
            event_streams_dropped,
            event_reads,
            retention_deleted,
        })
    }

    /// Counts what one sweep deleted.
    pub fn observe_sweep(&self, report: &domain::SweepReport) {
        for (reason, purged) in [("expired", report.expired), ("retention", report.retention)] {
            for (kind, n) in [("threads", purged.threads), ("messages", purged.messages)] {
                self.retention_deleted
                    .with_label_values(&[reason, kind])
                    .inc_by(n);
            }
        }
    }

    /// The gauge of open event streams (the events hub keeps it).
    pub fn event_streams(&self) -> IntGauge {
        self.event_streams.clone()
    }

    /// The counter of event streams the service ended, by `reason` (the hub counts).
    pub fn event_streams_ended(&self) -> IntCounterVec {
        self.event_streams_dropped.clone()
    }

    /// The counter of the events feed's reads of the outbox (the hub counts).
    pub fn event_reads(&self) -> IntCounter {
        self.event_reads.clone()
    }

    /// Records one authentication attempt: `credential` is `bearer`, `cookie` or `none`;
    /// `result` is `ok` or why it failed.
    pub fn observe_auth(&self, credential: &str, result: &str) {
        self.auth.with_label_values(&[credential, result]).inc();
    }

    /// Records one answered request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        if let Some(probe) = &self.pool_probe {
            let stats = probe();
            // `size` counts connections being opened too: they are in use by the request
            // that opens them.
            let in_use = stats.size.saturating_sub(stats.idle);
            for (state, value) in [("idle", stats.idle), ("in_use", in_use)] {
                self.pool.with_label_values(&[state]).set(i64::from(value));
            }
            self.pool_max.set(i64::from(stats.max));
            self.pool_waiting.set(i64::from(stats.waiting));
        }
        let mut out = Vec::new();
        // Encoding into a Vec only fails on metric families that are malformed by
        // construction, which the registry rejects at registration.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(),
    responses((status = 200, description = "Prometheus text exposition format.", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
