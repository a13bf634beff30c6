//! What a scenario prints, and the CPU and memory readings behind the
//! "bounded by" notes.
//!
//! A [`Report`] is a list of named figures plus notes. It prints as a
//! human-readable table and, with `--json`, additionally as one JSON object
//! on the last output line (the fields named in issue 7, plus extras).
//! [`CpuWindow`] samples `/proc` at the start and end of a timed window to
//! tell whether the generator, the server or the whole machine was the
//! limit.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

/// The result of one scenario.
pub struct Report {
    scenario: &'static str,
    fields: Vec<(String, Value, &'static str)>,
    notes: Vec<String>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &'static str) -> Report {
        Report { scenario, fields: Vec::new(), notes: Vec::new() }
    }

    /// Adds a figure with its unit (shown in the table only).
    pub fn add(&mut self, name: &str, value: impl Into<Value>, unit: &'static str) {
        self.fields.push((name.to_string(), value.into(), unit));
    }

    /// Adds a float rounded to three decimals.
    pub fn add_f(&mut self, name: &str, value: f64, unit: &'static str) {
        let rounded = (value * 1000.0).round() / 1000.0;
        self.add(name, json!(if rounded.is_finite() { rounded } else { 0.0 }), unit);
    }

    /// Adds a note (what bounded a figure, what was skipped).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Prints the table and, with `json`, the JSON line last.
    pub fn print(&self, json: bool) {
        println!("scenario: {}", self.scenario);
        let width = self.fields.iter().map(|(name, ..)| name.len()).max().unwrap_or(0);
        for (name, value, unit) in &self.fields {
            println!("  {name:<width$}  {value} {unit}");
        }
        for note in &self.notes {
            println!("  note: {note}");
        }
        if json {
            let mut object = Map::new();
            object.insert("scenario".into(), json!(self.scenario));
            for (name, value, _) in &self.fields {
                object.insert(name.clone(), value.clone());
            }
            object.insert("notes".into(), json!(self.notes));
            println!("{}", Value::Object(object));
        }
    }
}

/// The `q`-quantile (0..=1) of `values` in place (nearest rank); 0 when empty.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Milliseconds of a duration as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (is --server-pid right?)"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .context("no VmRSS line")
}

/// Clock ticks per second of `/proc/*/stat` times. Linux reports them in
/// USER_HZ, which is 100 on every architecture the project builds for.
const TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU seconds of process `pid` (`self` for the generator).
pub fn process_cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may contain spaces; fields after it are plain.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 12 and 13 after ')'.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Busy and total jiffies of the whole machine (first line of `/proc/stat`).
fn machine_jiffies() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = values.iter().take(8).sum();
    // idle and iowait are the 4th and 5th values.
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0.0);
    Some((total - idle, total))
}

/// CPU readings over a timed window.
pub struct CpuWindow {
    started: Instant,
    generator: Option<f64>,
    server: Option<f64>,
    server_pid: Option<u32>,
    machine: Option<(f64, f64)>,
}

/// Average CPU use over a window, in cores (1.0 = one core fully busy).
pub struct CpuUse {
    /// The generator process.
    pub generator: Option<f64>,
    /// The server process, when its pid is known.
    pub server: Option<f64>,
    /// Fraction (0..=1) of all cores that were busy.
    pub machine_busy: Option<f64>,
    /// Cores of the machine.
    pub cores: usize,
}

impl CpuWindow {
    /// Starts a window now.
    pub fn start(server_pid: Option<u32>) -> CpuWindow {
        CpuWindow {
            started: Instant::now(),
            generator: process_cpu_secs("self"),
            server: server_pid.and_then(|pid| process_cpu_secs(&pid.to_string())),
            server_pid,
            machine: machine_jiffies(),
        }
    }

    /// Ends the window.
    pub fn finish(&self) -> CpuUse {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let generator = self.generator.zip(process_cpu_secs("self")).map(|(a, b)| (b - a) / secs);
        let server = self
            .server
            .zip(self.server_pid.and_then(|pid| process_cpu_secs(&pid.to_string())))
            .map(|(a, b)| (b - a) / secs);
        let machine_busy = self
            .machine
            .zip(machine_jiffies())
            .and_then(|((b0, t0), (b1, t1))| (t1 > t0).then(|| (b1 - b0) / (t1 - t0)));
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        CpuUse { generator, server, machine_busy, cores }
    }
}

impl CpuUse {
    /// Adds the readings and the resulting "bounded by" notes to `report`.
    pub fn record(&self, report: &mut Report) {
        if let Some(g) = self.generator {
            report.add_f("generator_cpu_cores", g, "cores");
        }
        if let Some(s) = self.server {
            report.add_f("server_cpu_cores", s, "cores");
        }
        if let Some(m) = self.machine_busy {
            report.add_f("machine_cpu_busy", m, "fraction");
        }
        let cores = self.cores as f64;
        if self.machine_busy.is_some_and(|m| m >= 0.9) {
            report.note(format!(
                "bounded by the machine: all {} cores were at least 90% busy (generator, server and \
                 any other load share them)",
                self.cores
            ));
        }
        if self.generator.is_some_and(|g| g >= 0.8) {
            report.note(
                "bounded by the generator: it used 0.8 cores or more of the same machine, so \
                 the server competed with it for CPU",
            );
        }
        if self.server.is_some_and(|s| s >= 0.9 * cores) {
            report.note("bounded by the server: it kept every core busy");
        }
    }
}
