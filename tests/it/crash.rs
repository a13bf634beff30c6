//! Crash safety: the server is killed with SIGKILL twenty times while three
//! senders keep sending to two recipients through the real CLI. Every message
//! the server acknowledged (the CLI printed `sent`) must be delivered exactly
//! once, nothing that was never sent may appear, and after every crash the
//! server must be serving again within five seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{Device, Server, json_lines};

const CYCLES: usize = 20;
const SENDERS: usize = 3;
const RECIPIENTS: usize = 2;

/// Texts addressed to one recipient, by what the CLI reported.
#[derive(Default)]
struct Ledger {
    /// Every text a `send` was started for.
    attempted: BTreeSet<String>,
    /// Texts whose `send` printed `sent` (the server acknowledged them).
    acked: BTreeSet<String>,
}

/// The texts of one `inbox --json` or `history --json` output that came
/// from the senders of this test.
fn texts(stdout: &str) -> Vec<String> {
    json_lines(stdout)
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("crash-"))
        .collect()
}

#[test]
fn every_acked_message_survives_twenty_kill_9_crashes_exactly_once() {
    let mut server = Server::start();
    let recipients: Vec<Device> = (0..RECIPIENTS).map(|_| Device::new(&server)).collect();
    let recipient_ids: Vec<String> =
        recipients.iter().enumerate().map(|(i, d)| d.init(&format!("Empfänger {i}"))).collect();
    let senders: Vec<Device> = (0..SENDERS).map(|_| Device::new(&server)).collect();
    let ledgers: Vec<Mutex<Ledger>> = (0..RECIPIENTS).map(|_| Mutex::default()).collect();
    // Conversations exist before the first crash, so the loop exercises
    // sends (and acks by the recipients), not only group creation.
    for (s, sender) in senders.iter().enumerate() {
        sender.init(&format!("Absender {s}"));
        for (r, id) in recipient_ids.iter().enumerate() {
            let text = format!("crash-setup-{s}-{r}");
            sender.ok(&["send", id, &text]);
            let mut ledger = ledgers[r].lock().unwrap();
            ledger.attempted.insert(text.clone());
            ledger.acked.insert(text);
        }
    }

    let stop = AtomicBool::new(false);
    // Everything each recipient's `inbox` ever showed, duplicates included.
    let shown: Vec<Mutex<Vec<String>>> = (0..RECIPIENTS).map(|_| Mutex::default()).collect();
    let mut restarts = Vec::with_capacity(CYCLES);
    std::thread::scope(|scope| {
        for (s, sender) in senders.iter().enumerate() {
            let (stop, ledgers, recipient_ids) = (&stop, &ledgers, &recipient_ids);
            scope.spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let r = n % RECIPIENTS;
                    let text = format!("crash-{s}-{n}");
                    ledgers[r].lock().unwrap().attempted.insert(text.clone());
                    let out = sender.run(&["send", &recipient_ids[r], &text]);
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    if out.status.success() && stdout.lines().any(|l| l.starts_with("sent ")) {
                        ledgers[r].lock().unwrap().acked.insert(text);
                    }
                    n += 1;
                }
            });
        }
        // Recipients read (and acknowledge) while the server crashes too.
        for (r, recipient) in recipients.iter().enumerate() {
            let (stop, shown) = (&stop, &shown);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let out = recipient.run(&["inbox", "--json"]);
                    if out.status.success() {
                        shown[r]
                            .lock()
                            .unwrap()
                            .extend(texts(&String::from_utf8_lossy(&out.stdout)));
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
            });
        }
        for cycle in 0..CYCLES {
            // Vary the moment of the crash relative to the senders' requests.
            std::thread::sleep(Duration::from_millis(400 + 37 * (cycle as u64 % 7)));
            server.kill();
            let started = Instant::now();
            server.restart();
            restarts.push(started.elapsed());
        }
        stop.store(true, Ordering::Relaxed);
    });

    for (cycle, took) in restarts.iter().enumerate() {
        assert!(*took < Duration::from_secs(5), "restart {cycle} took {took:?}");
    }
    // Whatever is still queued on a sender goes out now (`inbox` flushes the
    // outbox first); afterwards no outbox holds anything.
    for sender in &senders {
        sender.ok(&["inbox"]);
        let left = json_lines(&sender.ok(&["outbox", "--json"]));
        assert!(left.is_empty(), "messages left in an outbox: {left:?}");
    }
    let mut total_acked = 0;
    for (r, recipient) in recipients.iter().enumerate() {
        let final_inbox = recipient.ok(&["inbox", "--json"]);
        let mut shown = shown[r].lock().unwrap().clone();
        shown.extend(texts(&final_inbox));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for text in &shown {
            *counts.entry(text.as_str()).or_default() += 1;
        }
        let ledger = ledgers[r].lock().unwrap();
        total_acked += ledger.acked.len();
        for text in &ledger.acked {
            assert_eq!(counts.get(text.as_str()), Some(&1), "acked {text} not shown exactly once");
        }
        for (text, count) in &counts {
            assert!(ledger.attempted.contains(*text), "{text} was never sent");
            assert_eq!(*count, 1, "{text} shown {count} times");
        }
        // The stored history agrees: one entry per message.
        let history = recipient.ok(&["history", "--json"]);
        let mut in_history = texts(&history);
        in_history.sort();
        let mut expected: Vec<String> = counts.keys().map(|t| (*t).to_owned()).collect();
        expected.sort();
        assert_eq!(in_history, expected, "history of recipient {r}");
    }
    let slowest = restarts.iter().max().copied().unwrap_or_default();
    eprintln!(
        "crash test: {CYCLES} kill -9 cycles, {total_acked} acked messages, slowest restart {slowest:?}"
    );
    assert!(total_acked > SENDERS * RECIPIENTS, "the senders got messages through between crashes");
}
