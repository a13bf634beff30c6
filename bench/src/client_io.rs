//! The `client-io` scenario: what one `stadtbote send` and one `stadtbote
//! inbox` cost on a device that already holds a long history — wall time
//! and bytes written to its `--home` (issue 15, item 4: before and after
//! the client state moved onto the core's Storage).
//!
//! Unlike the other scenarios this one measures the client, and it measures
//! the real `stadtbote` binary, not the library: the binary's commands and
//! flags stay the same across issue 15's redesign, so the same command line
//! measures "before" and "after".
//!
//! Setup: two devices `a` and `b` are created with `stadtbote init`; `a`
//! sends the first message and `b` fetches it (the 1:1 group exists), then
//! both send their half of the history at the same time (two loops of
//! `stadtbote send`, one per device) and both fetch what is left. Each
//! measured run is then: `a` sends one message (measured), `b` sends one
//! message back (not measured; its `inbox` step also returns the delivery
//! receipt of `a`'s message), `a` runs `inbox` (measured: it receives one
//! message and one receipt and sends its own receipt).
//!
//! Bytes written are read from `/proc/self/io` of a wrapper process
//! (`stadtbote-bench measure-io -- CMD…`, [`measure_io`]) before it starts
//! the command and after it has reaped it: Linux adds a reaped child's I/O
//! counters to its parent's (kernel/exit.c, `wait_task_zombie`), so the
//! difference is exactly the command's own I/O, with no race against its
//! exit. The wrapper does nothing else meanwhile but read the child's
//! output pipes, which counts as reading, not writing. `wchar` counts every
//! byte passed to `write`-family calls on files and pipes (the command's
//! stdout included; socket sends use `send` and are not counted);
//! `write_bytes` counts the page-cache pages the command dirtied, i.e. what
//! will reach the disk (0 on tmpfs: use a disk-backed `--dir`). With
//! `--strace` one more `send` and `inbox` run under `strace` (untimed) and
//! give the breakdown per file: writes, bytes, fsyncs and renames.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::report::{Report, quantile};

/// What the scenario is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages in the history of the measured device before the runs.
    pub history: usize,
    /// Measured runs of each command.
    pub runs: usize,
    /// Characters per message.
    pub size: usize,
    /// The `stadtbote` binary.
    pub stadtbote: PathBuf,
    /// Where the two homes are created (a fresh directory inside it).
    pub dir: PathBuf,
    /// Also trace one `send` and one `inbox` with strace.
    pub strace: bool,
}

/// The `/proc/<pid>/io` counters this scenario reports.
#[derive(Debug, Clone, Copy, Default)]
struct ProcIo {
    wchar: u64,
    syscw: u64,
    write_bytes: u64,
    cancelled_write_bytes: u64,
}

impl ProcIo {
    fn read_self() -> Result<ProcIo> {
        let text = std::fs::read_to_string("/proc/self/io")
            .context("reading /proc/self/io (Linux with task I/O accounting is needed)")?;
        let mut io = ProcIo::default();
        for line in text.lines() {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value: u64 =
                value.trim().parse().with_context(|| format!("/proc/self/io: {line}"))?;
            match name {
                "wchar" => io.wchar = value,
                "syscw" => io.syscw = value,
                "write_bytes" => io.write_bytes = value,
                "cancelled_write_bytes" => io.cancelled_write_bytes = value,
                _ => {}
            }
        }
        Ok(io)
    }
}

/// `stadtbote-bench measure-io -- CMD ARGS…`: runs CMD with the wrapper's
/// stdin closed and its output captured, and prints one JSON object: wall
/// time, exit status, output, and CMD's `/proc` I/O counters (see the
/// module documentation for why they are exact).
pub fn measure_io(command: &[OsString]) -> Result<()> {
    let (program, args) = command.split_first().context("measure-io needs a command")?;
    let before = ProcIo::read_self()?;
    let started = Instant::now();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    let wall = started.elapsed();
    let after = ProcIo::read_self()?;
    let value = json!({
        "wall_us": wall.as_micros() as u64,
        "status": output.status.code(),
        "wchar": after.wchar - before.wchar,
        "syscw": after.syscw - before.syscw,
        "write_bytes": after.write_bytes - before.write_bytes,
        "cancelled_write_bytes": after.cancelled_write_bytes - before.cancelled_write_bytes,
        "stdout": String::from_utf8_lossy(&output.stdout),
        "stderr": String::from_utf8_lossy(&output.stderr),
    });
    println!("{value}");
    Ok(())
}

/// One measured command.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall_ms: f64,
    wchar: u64,
    syscw: u64,
    write_bytes: u64,
    cancelled_write_bytes: u64,
}

/// Runs `stadtbote` against one server.
struct Stadtbote<'a> {
    exe: &'a Path,
    url: &'a str,
}

impl Stadtbote<'_> {
    fn command(&self, home: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(self.exe);
        command
            .arg("--home")
            .arg(home)
            .args(["--server", self.url, "--lang", "en"])
            .args(args)
            .env_remove("STADTBOTE_OTP")
            .stdin(Stdio::null());
        command
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, home: &Path, args: &[&str]) -> Result<String> {
        let output = self
            .command(home, args)
            .output()
            .with_context(|| format!("starting {}", self.exe.display()))?;
        if !output.status.success() {
            bail!(
                "stadtbote {args:?} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Creates a device and returns its account id (the last line `init` prints).
    fn init(&self, home: &Path, name: &str) -> Result<String> {
        let out = self.ok(home, &["init", "--name", name])?;
        let account = out.lines().last().unwrap_or_default().trim().to_string();
        if account.is_empty() {
            bail!("stadtbote init printed no account id: {out}");
        }
        Ok(account)
    }

    /// Runs a command under the [`measure_io`] wrapper.
    fn measured(&self, home: &Path, args: &[&str]) -> Result<(Sample, String)> {
        let me = std::env::current_exe().context("the bench's own path")?;
        let inner = self.command(home, args);
        let mut wrapper = Command::new(me);
        wrapper.args(["measure-io", "--"]).arg(inner.get_program()).args(inner.get_args());
        wrapper.env_remove("STADTBOTE_OTP").stdin(Stdio::null());
        let output = wrapper.output().context("starting the measure-io wrapper")?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!("measure-io failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        let value: Value = serde_json::from_str(text.trim())
            .with_context(|| format!("measure-io printed {text}"))?;
        if value["status"] != json!(0) {
            bail!("stadtbote {args:?} failed: {}", value["stderr"].as_str().unwrap_or_default());
        }
        let number =
            |name: &str| value[name].as_u64().ok_or_else(|| anyhow!("no {name} in {value}"));
        let sample = Sample {
            wall_ms: number("wall_us")? as f64 / 1000.0,
            wchar: number("wchar")?,
            syscw: number("syscw")?,
            write_bytes: number("write_bytes")?,
            cancelled_write_bytes: number("cancelled_write_bytes")?,
        };
        Ok((sample, value["stdout"].as_str().unwrap_or_default().to_string()))
    }

    /// Messages in a device's history (`history --json` prints one per line).
    fn history_len(&self, home: &Path) -> Result<usize> {
        let out = self.ok(home, &["history", "--json"])?;
        Ok(out.lines().filter(|line| line.starts_with('{')).count())
    }
}

/// The text of message `i` from `from`, `size` characters long.
fn text(from: &str, i: usize, size: usize) -> String {
    let mut text = format!("{from} {i:05}: ");
    let filler = "Die Strassenlaterne vor Hausnummer 12 ist seit gestern dunkel. ";
    while text.len() < size {
        text.push_str(filler);
    }
    text.truncate(size.max(1));
    text
}

/// Total size of the regular files under `dir`, and the largest ones.
fn dir_files(dir: &Path) -> Result<Vec<(String, u64)>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                let name =
                    entry.path().strip_prefix(dir).unwrap_or(&entry.path()).display().to_string();
                files.push((name, meta.len()));
            }
        }
    }
    files.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(files)
}

/// Runs the scenario against the server at `url`.
pub fn run(url: &str, options: &Options) -> Result<Report> {
    let root = tempfile::Builder::new()
        .prefix("stadtbote-client-io.")
        .tempdir_in(&options.dir)
        .with_context(|| format!("creating a directory in {}", options.dir.display()))?;
    let cli = Stadtbote { exe: &options.stadtbote, url };
    // strace prints resolved paths (see `traced`).
    let base = root.path().canonicalize()?;
    let (home_a, home_b) = (base.join("a"), base.join("b"));
    let a = cli.init(&home_a, "Anna")?;
    let b = cli.init(&home_b, "Ben")?;

    // The history: a's half and b's half, sent at the same time.
    let setup = Instant::now();
    let from_a = options.history.div_ceil(2).max(1);
    let from_b = options.history.saturating_sub(from_a);
    cli.ok(&home_a, &["send", &b, &text("Anna", 0, options.size)])?;
    cli.ok(&home_b, &["inbox"])?;
    std::thread::scope(|scope| -> Result<()> {
        let sender_a = scope.spawn(|| {
            (1..from_a).try_for_each(|i| {
                cli.ok(&home_a, &["send", &b, &text("Anna", i, options.size)]).map(drop)
            })
        });
        let sender_b = scope.spawn(|| {
            (0..from_b).try_for_each(|i| {
                cli.ok(&home_b, &["send", &a, &text("Ben", i, options.size)]).map(drop)
            })
        });
        sender_a.join().map_err(|_| anyhow!("the sending thread of a panicked"))??;
        sender_b.join().map_err(|_| anyhow!("the sending thread of b panicked"))??;
        Ok(())
    })?;
    cli.ok(&home_b, &["inbox"])?;
    cli.ok(&home_a, &["inbox"])?;
    let setup_s = setup.elapsed().as_secs_f64();
    let history = cli.history_len(&home_a)?;
    let files_before = dir_files(&home_a)?;

    let (mut sends, mut inboxes) = (Vec::new(), Vec::new());
    for run in 0..options.runs {
        let mine = text("Anna", from_a + run, options.size);
        let (sample, _) = cli.measured(&home_a, &["send", &b, &mine])?;
        sends.push(sample);
        let reply = text("Ben", from_b + run, options.size);
        cli.ok(&home_b, &["send", &a, &reply])?;
        let (sample, out) = cli.measured(&home_a, &["inbox"])?;
        if !out.contains(&reply) {
            bail!("inbox of run {run} did not show the reply: {out}");
        }
        inboxes.push(sample);
    }
    let files_after = dir_files(&home_a)?;

    let mut report = Report::new("client-io");
    report.add("history_messages", history, "messages in a's history before the runs");
    report.add_f("setup_s", setup_s, "s (history built with the binary)");
    report.add("runs", options.runs, "of each command");
    report.add("message_chars", options.size, "characters");
    record(&mut report, "send", &sends);
    record(&mut report, "inbox", &inboxes);
    let total = |files: &[(String, u64)]| files.iter().map(|f| f.1).sum::<u64>();
    report.add("home_bytes_before", total(&files_before), "B (all files of a's home)");
    report.add("home_bytes_after", total(&files_after), "B");
    let largest: Vec<String> =
        files_before.iter().take(4).map(|(name, len)| format!("{name} {len} B")).collect();
    report.note(format!("largest files of a's home before the runs: {}", largest.join(", ")));
    if sends.iter().chain(&inboxes).all(|s| s.write_bytes == 0) {
        report.note(format!(
            "write_bytes was 0 throughout: {} is probably on tmpfs; pass --dir on a disk",
            options.dir.display()
        ));
    }
    if options.strace {
        for (name, args) in [("send", vec!["send", b.as_str(), "traced"]), ("inbox", vec!["inbox"])]
        {
            if name == "inbox" {
                cli.ok(&home_b, &["send", &a, "traced reply"])?;
            }
            let files = traced(&cli, &home_a, &args, root.path())?;
            record_trace(&mut report, name, &files);
        }
    }
    Ok(report)
}

/// Median and p90 of each figure of one command.
fn record(report: &mut Report, name: &str, samples: &[Sample]) {
    let mut column = |f: fn(&Sample) -> f64, figure: &str, unit: &'static str| {
        let mut values: Vec<f64> = samples.iter().map(f).collect();
        report.add_f(&format!("{name}_{figure}_p50"), quantile(&mut values, 0.5), unit);
        report.add_f(&format!("{name}_{figure}_p90"), quantile(&mut values, 0.9), unit);
    };
    column(|s| s.wall_ms, "ms", "ms wall time");
    column(|s| s.wchar as f64, "wchar", "B passed to write calls (files and stdout)");
    column(|s| s.write_bytes as f64, "write_bytes", "B of page cache dirtied (reaches the disk)");
    column(
        |s| s.cancelled_write_bytes as f64,
        "cancelled_write_bytes",
        "B dirtied, then discarded",
    );
    column(|s| s.syscw as f64, "syscw", "write calls");
}

/// Writes, bytes, fsyncs and renames per file of one traced command.
#[derive(Debug, Default, Clone, Copy)]
struct FileTrace {
    writes: u64,
    bytes: u64,
    fsyncs: u64,
    renames: u64,
}

/// Runs one command under `strace -f -y` and sums its calls per file under
/// `home` (names relative to it; `.` is the directory itself).
fn traced(
    cli: &Stadtbote<'_>,
    home: &Path,
    args: &[&str],
    scratch: &Path,
) -> Result<BTreeMap<String, FileTrace>> {
    let log = scratch.join("strace.log");
    let inner = cli.command(home, args);
    let output = Command::new("strace")
        .args(["-f", "-y", "-qq", "-s", "0", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=write,pwrite64,writev,pwritev,fsync,fdatasync,rename,renameat,renameat2",
        ])
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::null())
        .output()
        .context("starting strace (install it, or leave out --strace)")?;
    if !output.status.success() {
        bail!(
            "strace stadtbote {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&log)?;
    let prefix = format!("{}", home.display());
    Ok(parse_strace(&text, &prefix))
}

/// Parses `strace -f -y` output (see [`traced`]); calls split into
/// `<unfinished ...>` and `<... resumed>` lines are joined by pid.
fn parse_strace(text: &str, home: &str) -> BTreeMap<String, FileTrace> {
    let mut files: BTreeMap<String, FileTrace> = BTreeMap::new();
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        // strace pads the pid column (`123  write(…)`).
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        let call = if let Some(start) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_string(), start.to_string());
            continue;
        } else if rest.starts_with("<... ") {
            let Some(begun) = pending.remove(pid) else { continue };
            let tail = rest.split_once("resumed>").map_or("", |(_, t)| t);
            format!("{begun}{tail}")
        } else {
            rest.to_string()
        };
        let Some((name, args)) = call.split_once('(') else { continue };
        // The first path in the arguments (-y prints fd paths as `3</path>`;
        // renames print the new name last, which is the file that now exists).
        let paths: Vec<&str> = args
            .split('<')
            .skip(1)
            .filter_map(|s| s.split_once('>').map(|(p, _)| p))
            .chain(args.split('"').skip(1).step_by(2))
            .filter(|p| p.starts_with(home))
            .collect();
        let Some(path) = (if name.starts_with("rename") { paths.last() } else { paths.first() })
        else {
            continue;
        };
        let relative = path.strip_prefix(home).unwrap_or(path).trim_start_matches('/');
        let entry = files
            .entry(if relative.is_empty() { ".".into() } else { relative.into() })
            .or_default();
        let result: Option<u64> =
            call.rsplit_once(" = ").and_then(|(_, r)| r.split_whitespace().next()?.parse().ok());
        match name {
            "write" | "pwrite64" | "writev" | "pwritev" => {
                entry.writes += 1;
                entry.bytes += result.unwrap_or(0);
            }
            "fsync" | "fdatasync" => entry.fsyncs += 1,
            _ => entry.renames += 1,
        }
    }
    files
}

fn record_trace(report: &mut Report, name: &str, files: &BTreeMap<String, FileTrace>) {
    let sum = |f: fn(&FileTrace) -> u64| files.values().map(f).sum::<u64>();
    report.add(
        &format!("{name}_traced_file_write_bytes"),
        sum(|f| f.bytes),
        "B written to files of the home (strace)",
    );
    report.add(&format!("{name}_traced_fsyncs"), sum(|f| f.fsyncs), "fsync/fdatasync calls");
    report.add(
        &format!("{name}_traced_renames"),
        sum(|f| f.renames),
        "renames (atomic replacements)",
    );
    let detail: Vec<String> = files
        .iter()
        .map(|(file, t)| {
            format!(
                "{file}: {} writes, {} B, {} fsyncs, {} renames",
                t.writes, t.bytes, t.fsyncs, t.renames
            )
        })
        .collect();
    report.note(format!("{name} under strace, per file: {}", detail.join("; ")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_lines_are_summed_per_file() {
        let log = "\
10 write(5</h/a/state.cbor.tmp>, \"\"..., 300) = 300
11 write(5</h/a/state.cbor.tmp>, \"\"..., 200 <unfinished ...>
10 write(1<pipe:[7]>, \"\"..., 12) = 12
11 <... write resumed>) = 200
10 fsync(5</h/a/state.cbor.tmp>) = 0
10 rename(\"/h/a/state.cbor.tmp\", \"/h/a/state.cbor\") = 0
10 fsync(6</h/a>) = 0
10 write(7<socket:[9]>, \"\"..., 50) = 50
9  write(5</h/a/state.cbor.tmp>, \"\"..., 7) = 7
";
        let files = parse_strace(log, "/h/a");
        let tmp = files["state.cbor.tmp"];
        assert_eq!((tmp.writes, tmp.bytes, tmp.fsyncs), (3, 507, 1));
        assert_eq!(files["state.cbor"].renames, 1);
        assert_eq!(files["."].fsyncs, 1);
        assert_eq!(files.len(), 3, "{files:?}");
    }

    #[test]
    fn texts_have_the_asked_length() {
        assert_eq!(text("Anna", 7, 100).len(), 100);
        assert!(text("Ben", 12, 100).starts_with("Ben 00012: "));
    }
}
