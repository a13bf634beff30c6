//! The `idle` scenario: N authenticated connections that do nothing, and
//! the server memory they cost.
//!
//! Devices are registered first, each on its own short connection, so that
//! registration's one-off allocations (store writes, caches) happen before
//! the baseline reading. Then N connections log in and stay; the server's
//! RSS growth divided by N is the figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tokio::sync::Semaphore;

use crate::net::{self, Conn, Device, Target};
use crate::report::{CpuWindow, Report, rss_kib};

/// Setup operations in flight at once.
const SETUP_PARALLEL: usize = 64;

/// Registers `n` devices, `SETUP_PARALLEL` at a time, each on a connection
/// that is closed afterwards.
pub async fn register_devices(target: &Arc<Target>, n: usize) -> Result<Vec<Device>> {
    let gate = Arc::new(Semaphore::new(SETUP_PARALLEL));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (target, gate) = (target.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut conn = target.connect().await?;
            let device = conn.register().await?;
            conn.close().await;
            Ok::<_, anyhow::Error>(device)
        }));
    }
    let mut devices = Vec::with_capacity(n);
    for task in tasks {
        devices.push(task.await??);
    }
    Ok(devices)
}

/// Opens a connection and logs in as `device`, then reads the first
/// mailbox batch so that the server's delivery loop is idle too.
pub async fn login(target: &Target, device: &Device) -> Result<Conn> {
    let mut conn = target.connect().await?;
    conn.login(device).await?;
    let _ = conn.next_event(Duration::from_secs(5)).await?;
    conn.events.clear();
    Ok(conn)
}

/// Runs the scenario.
pub async fn run(
    target: Arc<Target>,
    connections: usize,
    server_pid: Option<u32>,
    hold: Duration,
) -> Result<Report> {
    let limit = net::raise_nofile()?;
    net::check_fd_budget(connections, limit)?;
    let mut report = Report::new("idle");

    let registered = Instant::now();
    let devices = Arc::new(register_devices(&target, connections).await?);
    let register_secs = registered.elapsed().as_secs_f64();

    // Let the server's flusher and allocator settle before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server_pid.map(rss_kib).transpose()?;

    let cpu = CpuWindow::start(server_pid);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(SETUP_PARALLEL));
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let (target, devices, gate) = (target.clone(), devices.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            login(&target, &devices[i]).await
        }));
    }
    let mut held = Vec::with_capacity(connections);
    let mut failed = 0usize;
    let mut first_error = None;
    for task in tasks {
        match task.await? {
            Ok(conn) => held.push(conn),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let login_secs = started.elapsed().as_secs_f64();
    let cpu_use = cpu.finish();
    if held.is_empty() {
        bail!("no connection could log in: {:?}", first_error);
    }

    // The server allocates lazily (buffers on first read); give it a moment.
    tokio::time::sleep(hold.max(Duration::from_secs(2))).await;
    let after = server_pid.map(rss_kib).transpose()?;

    report.add("connections", held.len(), "authenticated, idle");
    report.add("failed", failed, "connections");
    report.add_f("register_per_s", connections as f64 / register_secs, "registrations/s");
    report.add_f("login_per_s", held.len() as f64 / login_secs, "connect+login/s");
    report.add("source_addrs", target.source_count(), "loopback addresses");
    match (before, after) {
        (Some(before), Some(after)) => {
            let per_conn = after.saturating_sub(before) as f64 / held.len() as f64;
            report.add("server_rss_kib_before", before, "KiB");
            report.add("server_rss_kib_after", after, "KiB");
            report.add_f("server_rss_kib_per_conn", per_conn, "KiB per idle connection");
            report.add_f(
                "projected_gib_per_million",
                per_conn * 1_000_000.0 / (1024.0 * 1024.0),
                "GiB for 1 M idle connections",
            );
        }
        _ => report.note("no --server-pid: server memory not measured"),
    }
    cpu_use.record(&mut report);
    if let Some(e) = first_error {
        report.note(format!("first login failure: {e:#}"));
    }
    // Dropping closes the sockets at once; a polite close handshake on
    // thousands of connections would only add minutes to the run.
    drop(held);
    Ok(report)
}
