//! README.md is executable documentation: this module reads the README
//! itself, takes every `$ ` command line of its ```sh blocks (the
//! walkthroughs and the backup example) and runs them, in order, with the
//! real binaries against one fresh server, comparing what they print with
//! the output the README shows. The convention (placeholders, `…`, what is
//! mapped on a test machine) is written down in an HTML comment in the README
//! and implemented here; a failure names the README line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Server, bins};
use crate::municipal::Totp;
use crate::photos;

/// The README as it is in the repository (rebuilt when it changes).
const README: &str = include_str!("../../README.md");

/// What every command may take at most on a loaded test machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// The code the README writes for "the authenticator app's current code".
const OTP_EXAMPLE: &str = "--otp 123456";

/// One `$ ` command of the README with the output shown after it.
#[derive(Debug)]
struct Step {
    /// 1-based README line of the `$ `.
    line: usize,
    /// The command as written (continuation lines joined with newlines),
    /// without the `$ `.
    command: String,
    /// The expected output lines with their README line numbers.
    expected: Vec<(usize, String)>,
}

/// One expected-output line, split into its parts.
#[derive(Debug, Clone)]
enum Part {
    Text(String),
    /// `…` inside a line: any text.
    Any,
    /// A placeholder inside a line: one word.
    Word(String),
}

/// One expected-output line.
#[derive(Debug, Clone)]
enum Pattern {
    /// A line that is only `…`: any number of lines.
    AnyLines,
    /// A line that is only a placeholder: the whole (non-empty) line.
    WholeLine(String),
    Line(Vec<Part>),
}

type Captures = HashMap<String, String>;

/// The placeholders the README declares in its convention comment
/// (`Placeholders: A B C`).
fn placeholders(readme: &str) -> Vec<String> {
    let line = readme.lines().map(str::trim).find_map(|l| l.strip_prefix("Placeholders:")).expect(
        "README.md declares its placeholders in a `Placeholders:` line of its HTML comment",
    );
    let mut names: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    // Longest first, so that a name containing another is found as itself.
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names
}

/// Every `$ ` command of the README's ```sh blocks with its expected output.
fn steps(readme: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_sh = false;
    let mut block_has_commands = false;
    let mut continuing = false;
    for (index, raw) in readme.lines().enumerate() {
        let line = index + 1;
        let text = raw.trim_end();
        if !in_sh {
            if text.trim_start().starts_with("```sh") {
                in_sh = true;
                block_has_commands = false;
                continuing = false;
            }
            continue;
        }
        if text.trim_start().starts_with("```") {
            in_sh = false;
            assert!(
                !continuing,
                "README.md:{line}: a command ends with `\\` before its block ends"
            );
            continue;
        }
        if continuing {
            let step = steps.last_mut().expect("a step is being continued");
            step.command.push('\n');
            step.command.push_str(text);
            continuing = text.ends_with('\\');
            continue;
        }
        if let Some(command) = text.strip_prefix("$ ") {
            block_has_commands = true;
            continuing = command.ends_with('\\');
            steps.push(Step { line, command: command.to_string(), expected: Vec::new() });
        } else if block_has_commands {
            steps.last_mut().expect("a command precedes").expected.push((line, text.to_string()));
        }
    }
    steps
}

/// Where `name` occurs in `text` as a word of its own: not preceded or
/// followed by a letter, digit, `-` or `_`.
fn find_word(text: &str, name: &str, from: usize) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    let mut start = from;
    while let Some(found) = text[start..].find(name) {
        let at = start + found;
        let end = at + name.len();
        let before_ok = text[..at].chars().next_back().is_none_or(|c| !is_word(c));
        let after_ok = text[end..].chars().next().is_none_or(|c| !is_word(c));
        if before_ok && after_ok {
            return Some(at);
        }
        start = at + name.len();
    }
    None
}

/// The first placeholder in `text` at or after `from`: (position, name).
fn next_placeholder<'a>(text: &str, from: usize, names: &'a [String]) -> Option<(usize, &'a str)> {
    names
        .iter()
        .filter_map(|n| find_word(text, n, from).map(|at| (at, n.as_str())))
        .min_by_key(|(at, n)| (*at, std::cmp::Reverse(n.len())))
}

/// Runs of spaces count as one space (tables are aligned with spaces).
fn squeeze(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim_end().chars() {
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

fn pattern(text: &str, names: &[String]) -> Pattern {
    let text = squeeze(text);
    if text == "…" {
        return Pattern::AnyLines;
    }
    if let Some(name) = names.iter().find(|n| **n == text) {
        return Pattern::WholeLine(name.clone());
    }
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut pos = 0;
    while pos < text.len() {
        // Searched in the whole line, so that a placeholder's word boundary
        // sees the character before it.
        let ellipsis = text[pos..].find('…').map(|e| pos + e);
        let placeholder = next_placeholder(&text, pos, names);
        let next = match (ellipsis, placeholder) {
            (Some(e), Some((p, _))) if e < p => Some((e, None)),
            (_, Some((p, name))) => Some((p, Some(name))),
            (Some(e), None) => Some((e, None)),
            (None, None) => None,
        };
        let Some((at, name)) = next else {
            literal.push_str(&text[pos..]);
            break;
        };
        literal.push_str(&text[pos..at]);
        if !literal.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut literal)));
        }
        match name {
            Some(name) => {
                parts.push(Part::Word(name.to_string()));
                pos = at + name.len();
            }
            None => {
                parts.push(Part::Any);
                pos = at + '…'.len_utf8();
            }
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Pattern::Line(parts)
}

/// Matches one output line against `parts`, extending `caps`.
fn match_parts(parts: &[Part], text: &str, caps: &Captures) -> Option<Captures> {
    let Some((first, rest)) = parts.split_first() else {
        return text.is_empty().then(|| caps.clone());
    };
    match first {
        Part::Text(literal) => match_parts(rest, text.strip_prefix(literal.as_str())?, caps),
        Part::Any => text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .find_map(|i| match_parts(rest, &text[i..], caps)),
        Part::Word(name) => {
            if let Some(value) = caps.get(name) {
                return match_parts(rest, text.strip_prefix(value.as_str())?, caps);
            }
            let word_end = text.find(char::is_whitespace).unwrap_or(text.len());
            let ends: Vec<usize> =
                text[..word_end].char_indices().map(|(i, c)| i + c.len_utf8()).collect();
            ends.into_iter().rev().find_map(|end| {
                let mut with = caps.clone();
                with.insert(name.clone(), text[..end].to_string());
                match_parts(rest, &text[end..], &with)
            })
        }
    }
}

/// Matches all output `lines` against `patterns`; `reached` records the
/// furthest pattern that matched, to name the README line that did not.
fn match_lines(
    patterns: &[Pattern],
    lines: &[String],
    caps: &Captures,
    at: usize,
    reached: &mut usize,
) -> Option<Captures> {
    *reached = (*reached).max(at);
    let Some((first, rest)) = patterns.split_first() else {
        return lines.is_empty().then(|| caps.clone());
    };
    match first {
        Pattern::AnyLines => (0..=lines.len())
            .find_map(|skip| match_lines(rest, &lines[skip..], caps, at + 1, reached)),
        Pattern::WholeLine(name) => {
            let (line, others) = lines.split_first()?;
            let caps = match caps.get(name) {
                Some(value) if squeeze(value) == *line => caps.clone(),
                Some(_) => return None,
                None if line.is_empty() => return None,
                None => {
                    let mut with = caps.clone();
                    with.insert(name.clone(), line.clone());
                    with
                }
            };
            match_lines(rest, others, &caps, at + 1, reached)
        }
        Pattern::Line(parts) => {
            let (line, others) = lines.split_first()?;
            let caps = match_parts(parts, line, caps)?;
            match_lines(rest, others, &caps, at + 1, reached)
        }
    }
}

/// The command with placeholders replaced by captured values, or the
/// placeholders it needs that no earlier output captured.
fn substitute(command: &str, names: &[String], caps: &Captures) -> Result<String, Vec<String>> {
    let mut out = String::new();
    let mut missing = Vec::new();
    let mut from = 0;
    while let Some((at, name)) = next_placeholder(command, from, names) {
        out.push_str(&command[from..at]);
        match caps.get(name) {
            Some(value) => out.push_str(value),
            None => missing.push(name.to_string()),
        }
        from = at + name.len();
    }
    out.push_str(&command[from..]);
    if missing.is_empty() { Ok(out) } else { Err(missing) }
}

/// The files a command passes with `--photo FILE`.
fn photo_args(command: &str) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "--photo")
        .map(|w| w[1].trim_matches('"').to_string())
        .collect()
}

/// The place the README's commands run in: a working directory with the
/// server's data directory as `stadtbote-data`, the binaries on PATH and
/// `/tmp/NAME` homes under it.
struct Workspace {
    server: Server,
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The TOTP secret captured last (`TOTP-SECRET`) and its codes.
    totp: Option<(String, Totp)>,
    /// Every expected-output line of the README with the line of its
    /// command, to say which command should have printed a missing value.
    steps_shown: Vec<(usize, String)>,
}

/// The README line of the first command whose expected output shows `name`.
fn shown_at(shown: &[(usize, String)], name: &str) -> Option<usize> {
    shown.iter().find(|(_, text)| find_word(text, name, 0).is_some()).map(|(line, _)| *line)
}

impl Workspace {
    fn new(steps: &[Step]) -> Workspace {
        let server = Server::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        std::fs::create_dir_all(dir.path().join("tmp")).expect("homes dir");
        std::fs::create_dir_all(dir.path().join("user")).expect("user home");
        std::os::unix::fs::symlink(&bins().cli, bin.join("stadtbote")).expect("link stadtbote");
        std::os::unix::fs::symlink(&bins().server, bin.join("stadtbote-server"))
            .expect("link stadtbote-server");
        std::os::unix::fs::symlink(&server.data_dir, dir.path().join("stadtbote-data"))
            .expect("link the data directory");
        let steps_shown = steps
            .iter()
            .flat_map(|s| s.expected.iter().map(|(_, text)| (s.line, text.clone())))
            .collect();
        Workspace { server, dir, bin, totp: None, steps_shown }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The command as the shell runs it here.
    fn localise(&mut self, command: &str) -> String {
        let homes = format!("{}/", self.path().join("tmp").display());
        let mut command = command.replace("/tmp/", &homes);
        if command.contains(OTP_EXAMPLE) {
            let code = match &self.totp {
                Some((_, totp)) => totp.fresh(),
                None => "000000".to_string(),
            };
            command = command.replace(OTP_EXAMPLE, &format!("--otp {code}"));
        }
        command
    }

    /// Runs `command` with `sh` (stdout, stderr, exit status), or says
    /// that it did not finish in time.
    fn run(&self, command: &str) -> Result<(String, String, std::process::ExitStatus), String> {
        let out_path = self.path().join("step.out");
        let err_path = self.path().join("step.err");
        let out = std::fs::File::create(&out_path).expect("step stdout");
        let err = std::fs::File::create(&err_path).expect("step stderr");
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(self.path())
            .env("PATH", path)
            .env("HOME", self.path().join("user"))
            .env("XDG_DATA_HOME", self.path().join("user"))
            .env("STADTBOTE_SERVER", self.server.url())
            // English and UTC times, as the README shows them, whatever
            // the machine's locale and zone.
            .env_remove("LANG")
            .env("TZ", "UTC")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env_remove("LANGUAGE")
            .env_remove("RUST_LOG")
            .env_remove("STADTBOTE_HOME")
            .env_remove("STADTBOTE_OTP")
            .env_remove("STADTBOTE_PASSPHRASE")
            .env_remove("STADTBOTE_CA_CERT")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("run sh");
        let deadline = Instant::now() + STEP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for sh") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {STEP_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read =
            |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        Ok((read(&out_path), read(&err_path), status))
    }

    /// Runs one step: Ok with the new captures, or the failure message.
    fn step(&mut self, step: &Step, names: &[String], caps: &Captures) -> Result<Captures, String> {
        let shown = step.command.replace('\n', " ");
        let at = format!("README.md:{}: `$ {shown}`", step.line);
        let command = substitute(&step.command, names, caps).map_err(|missing| {
            format!(
                "{at} not run: it needs {}",
                missing
                    .iter()
                    .map(|name| match shown_at(&self.steps_shown, name) {
                        Some(line) => format!(
                            "{name}, which the command at README.md:{line} should have printed"
                        ),
                        None => format!("{name}, which no earlier output shows"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        for photo in photo_args(&command) {
            let file = self.path().join(&photo);
            if !file.exists() {
                std::fs::write(&file, photos::jpeg_with_metadata().0).expect("write the photo");
            }
        }
        let command = self.localise(&command);
        let (stdout, stderr, status) = self.run(&command).map_err(|e| format!("{at} {e}"))?;
        let indent = |t: &str| {
            if t.trim().is_empty() {
                return "    (nothing)".to_string();
            }
            t.lines().map(|l| format!("    | {l}")).collect::<Vec<_>>().join("\n")
        };
        if !status.success() {
            return Err(format!(
                "{at} failed ({status}).\n  stderr:\n{}\n  stdout:\n{}",
                indent(&stderr),
                indent(&stdout)
            ));
        }
        if step.expected.is_empty() {
            return Ok(caps.clone());
        }
        let patterns: Vec<Pattern> = step.expected.iter().map(|(_, t)| pattern(t, names)).collect();
        let lines: Vec<String> = stdout.lines().map(squeeze).collect();
        let mut reached = 0;
        let Some(caps) = match_lines(&patterns, &lines, caps, 0, &mut reached) else {
            let detail = match step.expected.get(reached) {
                Some((line, text)) => {
                    format!("README.md:{line} `{text}` matches no line where it should")
                }
                None => "the program printed more lines than README.md shows".to_string(),
            };
            let mut known: Vec<String> = caps.iter().map(|(k, v)| format!("{k}={v}")).collect();
            known.sort();
            return Err(format!(
                "{at}: its output does not match README.md lines {}-{}: {detail}.\n  printed:\n{}\n  stderr:\n{}\n  captured so far: {}",
                step.expected[0].0,
                step.expected[step.expected.len() - 1].0,
                indent(&stdout),
                indent(&stderr),
                known.join(" ")
            ));
        };
        if let Some(secret) = caps.get("TOTP-SECRET")
            && self.totp.as_ref().is_none_or(|(known, _)| known != secret)
        {
            // `Totp` reads its secret from the output format of `admin claim`.
            let printed = format!(
                "otpauth://totp/Stadtbote:readme?secret={secret}\nsecret (base32): {secret}\n"
            );
            self.totp = Some((secret.clone(), Totp::from_output(&printed)));
        }
        Ok(caps)
    }
}

/// The README's convention holds without running anything: every command
/// is a `stadtbote` or `stadtbote-server` command, every placeholder a
/// command uses is captured by the output of an earlier one, and the quick
/// start stays two commands.
#[test]
fn readme_commands_are_well_formed() {
    let names = placeholders(README);
    let steps = steps(README);
    assert!(
        steps.len() > 40,
        "README.md has only {} commands; were the `$ ` lines lost?",
        steps.len()
    );
    let mut captured: Vec<String> = Vec::new();
    for step in &steps {
        let program = step.command.split_whitespace().next().unwrap_or_default();
        assert!(
            program == "stadtbote" || program == "stadtbote-server",
            "README.md:{}: `$ {}` is not a stadtbote or stadtbote-server command",
            step.line,
            step.command
        );
        let mut from = 0;
        while let Some((at, name)) = next_placeholder(&step.command, from, &names) {
            assert!(
                captured.iter().any(|c| c == name),
                "README.md:{}: `$ {}` uses {name}, which no earlier output shows",
                step.line,
                step.command
            );
            from = at + name.len();
        }
        for (_, text) in &step.expected {
            let mut from = 0;
            while let Some((at, name)) = next_placeholder(text, from, &names) {
                captured.push(name.to_string());
                from = at + name.len();
            }
        }
    }
    for name in &names {
        assert!(
            captured.contains(name),
            "README.md declares the placeholder {name} but never shows it in output"
        );
    }
    let quick_start = README
        .split("## Quick start")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README.md has a Quick start section");
    let commands: Vec<&str> = quick_start
        .split("```sh\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .flat_map(str::lines)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        commands,
        ["cargo run --release -p stadtbote-server", "cargo test --workspace"],
        "the quick start is exactly two commands"
    );
}

/// Runs every `$ ` line of README.md in order against one fresh server and
/// compares the output; reports every failing line (a step that needs a
/// value from a failed one is reported as not run).
#[test]
fn readme_walkthroughs_run_as_written() {
    let names = placeholders(README);
    let steps = steps(README);
    let mut workspace = Workspace::new(&steps);
    let mut caps = Captures::new();
    let mut failures = Vec::new();
    for step in &steps {
        match workspace.step(step, &names, &caps) {
            Ok(next) => {
                eprintln!("README.md:{}: ok", step.line);
                caps = next;
            }
            Err(failure) => {
                eprintln!("{}", failure.lines().next().unwrap_or_default());
                failures.push(failure);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} README.md commands failed:\n\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n\n")
    );
}

#[cfg(test)]
mod matching {
    use super::*;

    fn names() -> Vec<String> {
        let mut names =
            vec!["ANNA-ID".to_string(), "CODE".to_string(), "ORG-ADMIN-CODE".to_string()];
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names
    }

    fn matches(expected: &[&str], printed: &[&str]) -> Option<Captures> {
        let patterns: Vec<Pattern> = expected.iter().map(|t| pattern(t, &names())).collect();
        let lines: Vec<String> = printed.iter().map(|l| squeeze(l)).collect();
        match_lines(&patterns, &lines, &Captures::new(), 0, &mut 0)
    }

    #[test]
    fn placeholders_capture_and_must_agree() {
        let caps =
            matches(&["[…] Anna <ANNA-ID>: hi", "ANNA-ID"], &["[x y] Anna <AB12>: hi", "AB12"])
                .expect("matches");
        assert_eq!(caps["ANNA-ID"], "AB12");
        assert!(matches(&["<ANNA-ID>", "ANNA-ID"], &["<AB12>", "AB13"]).is_none());
        // Inside another name, a shorter one is no placeholder.
        let caps = matches(&["ORG-ADMIN-CODE"], &["X-Y Z"]).expect("whole line");
        assert_eq!(caps["ORG-ADMIN-CODE"], "X-Y Z");
        assert!(matches(&["run: org claim CODE now"], &["run: org claim a b now"]).is_none());
    }

    #[test]
    fn ellipsis_lines_and_spaces() {
        assert!(matches(&["a", "…", "d"], &["a", "b", "c", "d"]).is_some());
        assert!(matches(&["a", "…"], &["a"]).is_some());
        assert!(matches(&["a", "d"], &["a", "b", "d"]).is_none());
        assert!(matches(&["a"], &["a", "b"]).is_none());
        assert!(matches(&["x  y …  z"], &["x    y 1 2   z"]).is_some());
    }
}
