//! `stadtbote admin audit [--json] [--verify [--accept-gap]]`: reads the
//! audit log and, with `--verify`, recomputes its hash chain here, requires
//! it to continue from the head this device pinned at its last
//! verification of the same server, states the exact range it checked and
//! pins the new head in `<home>/audit-pins.json`.
//!
//! Why the pin and not the server's anchor decides: the anchor (the last
//! entry removed by `audit_retention_days`) is only the server's word. A
//! server that may claim "everything up to here was pruned" can re-chain an
//! edited log from a made-up anchor. So an anchor beyond the pin is refused,
//! and only an explicit `--accept-gap` re-pins as on first use. The price:
//! an admin who verifies less often than `audit_retention_days` cannot tell
//! honest pruning from a rewrite, and is told so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::{Value, json};
use stadtbote_cli::Client;
use stadtbote_cli::output::{format_utc, safe, safe_json};
use stadtbote_protocol::audit::{
    AuditChainError, AuditEntry, AuditHead, AuditRecord, verify_chain,
};

/// Audit entries requested per page.
const AUDIT_PAGE: u32 = 200;

const DAY_MS: u64 = 86_400_000;

/// What `admin audit` was asked to do.
pub struct AuditArgs {
    /// One JSON object per line.
    pub json: bool,
    /// Verify the chain and move the pin.
    pub verify: bool,
    /// Re-pin as on first use when the log was pruned past the pin.
    pub accept_gap: bool,
    /// Show only entries after this sequence number.
    pub after: u64,
}

/// `admin audit`: pages through the log; with `verify`, verifies and pins
/// (see the module docs), then prints the entries.
pub async fn audit(client: &mut Client, home: &Path, args: AuditArgs) -> Result<()> {
    if args.accept_gap && !args.verify {
        bail!(
            "--accept-gap only applies to a verification: stadtbote admin audit --verify --accept-gap"
        );
    }
    // Verification needs the whole chain from its anchor.
    let cursor = if args.verify { 0 } else { args.after };
    let (records, anchor, head) = fetch(client, cursor).await?;
    if args.verify {
        let verified =
            verify_and_pin(client, home, &records, anchor.as_ref(), head.as_ref(), args.accept_gap)
                .await?;
        if args.json {
            println!("{}", verified.json());
        } else {
            for line in verified.text() {
                println!("{line}");
            }
        }
    }
    for record in records.iter().filter(|r| r.seq > args.after) {
        let hash = hex(&record.hash);
        match (AuditEntry::from_canonical_cbor(&record.entry), args.json) {
            (Ok(e), true) => {
                let value = json!({
                    "seq": e.seq, "at": e.at, "actor": e.actor, "role": e.role,
                    "action": e.action, "target": e.target, "outcome": e.outcome, "hash": hash,
                });
                println!("{}", safe_json(&value.to_string()));
            }
            // Entries are the server's text: shown through `safe`.
            (Ok(e), false) => println!(
                "{:>6} {} {} {} {} {} {}",
                e.seq,
                format_utc(e.at),
                safe(&e.actor),
                safe(&e.role),
                safe(&e.action),
                safe(e.target.as_deref().unwrap_or("-")),
                safe(&e.outcome)
            ),
            (Err(_), true) => {
                println!("{}", json!({ "seq": record.seq, "unreadable": true, "hash": hash }));
            }
            (Err(_), false) => println!("{:>6} (unreadable entry)", record.seq),
        }
    }
    Ok(())
}

/// All records after `cursor`, the anchor of the first page and the head of
/// the last.
async fn fetch(
    client: &mut Client,
    mut cursor: u64,
) -> Result<(Vec<AuditRecord>, Option<AuditHead>, Option<AuditHead>)> {
    let mut records = Vec::new();
    let mut anchor = None;
    let mut head;
    let mut first = true;
    loop {
        let (page, page_head, page_anchor) = client.admin_audit_page(cursor, AUDIT_PAGE).await?;
        if first {
            anchor = page_anchor;
            first = false;
        }
        head = page_head;
        let Some(last) = page.last().map(|r| r.seq) else { break };
        records.extend(page);
        // Reading the log is itself logged, so the head keeps moving; stop
        // at the head of the page just read.
        if head.as_ref().is_none_or(|h| last >= h.seq) || last <= cursor {
            break;
        }
        cursor = last;
    }
    Ok((records, anchor, head))
}

/// The result of a verification that passed.
struct Verified {
    /// First and last sequence number checked, and how many entries.
    range: Option<(u64, u64)>,
    entries: usize,
    anchor: Option<AuditHead>,
    before: Option<Pin>,
    after: Option<AuditHead>,
    /// Entries that could not be checked because `--accept-gap` accepted
    /// that they were pruned after the last verification.
    gap: Option<(u64, u64)>,
}

impl Verified {
    fn trust_on_first_use(&self) -> bool {
        self.before.is_none() || self.gap.is_some()
    }

    fn text(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.range {
            Some((from, to)) => out.push(format!(
                "audit log verified: checked seq {from} to {to} ({} entries)",
                self.entries
            )),
            None => out.push("audit log verified: no entries to check".to_owned()),
        }
        if let Some(anchor) = &self.anchor {
            out.push(format!(
                "entries up to seq {} were removed by retention; the chain starts from that entry's hash {}",
                anchor.seq,
                hex(&anchor.hash)
            ));
        }
        match (&self.before, self.gap) {
            (Some(pin), None) => out.push(format!(
                "it continues from the head pinned at seq {} by the last verification{}: {}",
                pin.seq,
                pin.verified_at.map(|at| format!(" ({})", format_utc(at))).unwrap_or_default(),
                pin.hash
            )),
            (Some(pin), Some((from, to))) => out.push(format!(
                "not checked: seq {from} to {to}, removed after the head pinned at seq {} ({}); \
                 the gap was accepted with --accept-gap, so from here on this is trust on first use again",
                pin.seq, pin.hash
            )),
            (None, _) => out.push(
                "trust on first use: no earlier verification of this server is pinned on this \
                 device, so the entries are taken as the server shows them; from now on the log \
                 must continue from the head pinned now"
                    .to_owned(),
            ),
        }
        match (&self.after, &self.before) {
            (Some(after), Some(before)) => out.push(format!(
                "pinned head: seq {} {} (before: seq {})",
                after.seq,
                hex(&after.hash),
                before.seq
            )),
            (Some(after), None) => out.push(format!(
                "pinned head: seq {} {} (before: none)",
                after.seq,
                hex(&after.hash)
            )),
            (None, _) => out.push("pinned head: none (the log is empty)".to_owned()),
        }
        out.push(
            "the server removes audit entries older than audit_retention_days (see `stadtbote admin \
             retention show`): verify at least that often, or entries made in between can be \
             removed unchecked"
                .to_owned(),
        );
        out
    }

    fn json(&self) -> Value {
        let head = |h: &AuditHead| json!({ "seq": h.seq, "hash": hex(&h.hash) });
        json!({ "verification": {
            "from": self.range.map(|(from, _)| from),
            "to": self.range.map(|(_, to)| to),
            "entries": self.entries,
            "anchor": self.anchor.as_ref().map(head),
            "pinned_before": self.before.as_ref().map(|p| json!({
                "seq": p.seq, "hash": p.hash, "verified_at": p.verified_at,
            })),
            "pinned_after": self.after.as_ref().map(head),
            "trust_on_first_use": self.trust_on_first_use(),
            "not_checked": self.gap.map(|(from, to)| json!({ "from": from, "to": to })),
        }})
    }
}

/// Verifies `records` against the head pinned for this server and pins the
/// new head. Nothing is pinned when verification fails.
async fn verify_and_pin(
    client: &mut Client,
    home: &Path,
    records: &[AuditRecord],
    anchor: Option<&AuditHead>,
    head: Option<&AuditHead>,
    accept_gap: bool,
) -> Result<Verified> {
    let server = client.server_url().to_string();
    let path = AuditPins::path(home);
    let mut pins = AuditPins::load(&path)?;
    let before = pins.0.get(&server).cloned();
    let pinned = before.as_ref().map(|p| p.head(&path)).transpose()?;
    let (verified, gap) = match verify_chain(records, anchor, head, pinned.as_ref()) {
        Ok(verified) => (verified, None),
        Err(AuditChainError::PrunedPastPin { pinned: pin, anchor: cut }) if accept_gap => {
            let verified = verify_chain(records, anchor, head, None)
                .map_err(|e| failed(&e, before.as_ref()))?;
            (verified, Some((pin.saturating_add(1), cut)))
        }
        Err(AuditChainError::PrunedPastPin { pinned: pin, anchor: cut }) => {
            let retention_days = audit_retention_days(client).await;
            bail!(pruned_past_pin(pin, cut, before.as_ref(), retention_days));
        }
        Err(e) => return Err(failed(&e, before.as_ref())),
    };
    if let Some(head) = &verified {
        pins.0.insert(
            server,
            Pin { seq: head.seq, hash: hex(&head.hash), verified_at: Some(now_ms()) },
        );
        pins.save(&path)?;
    }
    let range = match (records.first(), &verified) {
        (Some(first), Some(last)) => Some((first.seq, last.seq)),
        _ => None,
    };
    Ok(Verified {
        range,
        entries: records.len(),
        anchor: anchor.cloned(),
        before,
        after: verified,
        gap,
    })
}

fn failed(error: &AuditChainError, before: Option<&Pin>) -> anyhow::Error {
    let kept = match before {
        Some(pin) => format!("this device keeps the head pinned at seq {}", pin.seq),
        None => "nothing was pinned".to_owned(),
    };
    anyhow::anyhow!("audit log verification failed at seq {}: {error}; {kept}", error.seq())
}

/// The refusal of an anchor beyond the pin: what happened, what it can
/// mean, and what to do next.
fn pruned_past_pin(
    pin: u64,
    cut: u64,
    before: Option<&Pin>,
    retention_days: Option<u64>,
) -> String {
    let since = before.and_then(|p| p.verified_at);
    let when = since.map(|at| format!(" on {}", format_utc(at))).unwrap_or_default();
    let retention =
        retention_days.map(|days| format!(" ({days} days on this server)")).unwrap_or_default();
    let judgement = match (since, retention_days) {
        (Some(at), Some(days)) if now_ms().saturating_sub(at) < days.saturating_mul(DAY_MS) => {
            format!(
                "The last verification was {} day(s) ago, sooner than entries are removed: honest \
                 pruning cannot explain this, so treat the log as rewritten and the server as \
                 compromised. ",
                now_ms().saturating_sub(at) / DAY_MS
            )
        }
        (Some(at), Some(_)) => format!(
            "The last verification was {} day(s) ago, longer than entries are kept: this may be \
             honest pruning, but it cannot be proven. ",
            now_ms().saturating_sub(at) / DAY_MS
        ),
        _ => String::new(),
    };
    format!(
        "audit log rewritten or pruned past the last verification: this device pinned seq {pin}{when}, \
         but the server's log now starts after seq {cut} and claims that everything up to it was \
         removed by retention, so seq {} to {cut} cannot be checked. The server removes audit entries \
         older than audit_retention_days{retention}; a gap between two verifications longer than that \
         cannot be proven honest. {judgement}Nothing was pinned. Compare the pinned head with other \
         admins' and with a backup of the server's data; to accept the gap and check the log from now \
         on as on first use, run: stadtbote --otp CODE admin audit --verify --accept-gap",
        pin.saturating_add(1)
    )
}

/// The server's `audit_retention_days`, if it says (for the message only).
async fn audit_retention_days(client: &mut Client) -> Option<u64> {
    let periods = client.admin_retention(None).await.ok()?;
    periods.iter().find(|p| p.kind == "audit").map(|p| p.secs / 86_400)
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A head pinned by a verification.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Pin {
    seq: u64,
    /// Lowercase hex of the chain hash.
    hash: String,
    /// When it was pinned (Unix ms); absent in pins of older versions.
    #[serde(default)]
    verified_at: Option<u64>,
}

impl Pin {
    fn head(&self, path: &Path) -> Result<AuditHead> {
        let Ok(hash) = data_encoding::HEXLOWER.decode(self.hash.as_bytes()) else {
            bail!(
                "{} is damaged (the pin of seq {} is not hex); restore it from a backup",
                path.display(),
                self.seq
            );
        };
        Ok(AuditHead { seq: self.seq, hash: hash.into() })
    }
}

/// A pin as stored: the current object, or the `[seq, hash]` pair older
/// versions wrote (read, and rewritten as an object on the next pin).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum StoredPin {
    Current(Pin),
    Pair(u64, String),
}

/// Audit heads pinned by `admin audit --verify`, per server URL, in
/// `<home>/audit-pins.json`.
#[derive(Default)]
struct AuditPins(BTreeMap<String, Pin>);

impl AuditPins {
    fn path(home: &Path) -> PathBuf {
        home.join("audit-pins.json")
    }

    fn load(path: &Path) -> Result<Self> {
        let stored: BTreeMap<String, StoredPin> = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is damaged: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => bail!("cannot read {}: {e}", path.display()),
        };
        Ok(Self(
            stored
                .into_iter()
                .map(|(server, pin)| {
                    let pin = match pin {
                        StoredPin::Current(pin) => pin,
                        StoredPin::Pair(seq, hash) => Pin { seq, hash, verified_at: None },
                    };
                    (server, pin)
                })
                .collect(),
        ))
    }

    fn save(&self, path: &Path) -> Result<()> {
        // Written whole and renamed, so a crash never leaves half a pin.
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.0)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_of_older_versions_are_read() {
        let dir = std::env::temp_dir().join(format!("audit-pins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let path = AuditPins::path(&dir);
        std::fs::write(&path, br#"{"ws://a/v1/ws": [7, "00ff"]}"#).ok();
        let pins = AuditPins::load(&path).ok().unwrap_or_default();
        let pin = pins.0.get("ws://a/v1/ws").cloned();
        assert_eq!(pin.as_ref().map(|p| (p.seq, p.hash.as_str())), Some((7, "00ff")));
        let head = pin.map(|p| p.head(&path).ok());
        assert_eq!(head.flatten().map(|h| h.hash.to_vec()), Some(vec![0, 255]));
        assert!(pins.save(&path).is_ok());
        let again = AuditPins::load(&path).ok().unwrap_or_default();
        assert_eq!(again.0.get("ws://a/v1/ws").map(|p| p.seq), Some(7));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_refusal_says_what_happened_and_what_to_do() {
        let message = pruned_past_pin(12, 15, None, Some(400));
        for part in [
            "rewritten or pruned past the last verification",
            "seq 12",
            "seq 13 to 15",
            "audit_retention_days (400 days on this server)",
            "--accept-gap",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
        let recent = Pin { seq: 12, hash: "00".into(), verified_at: Some(now_ms()) };
        assert!(pruned_past_pin(12, 15, Some(&recent), Some(400)).contains("compromised"));
        let old = Pin { seq: 12, hash: "00".into(), verified_at: Some(0) };
        assert!(pruned_past_pin(12, 15, Some(&old), Some(400)).contains("cannot be proven"));
    }
}
