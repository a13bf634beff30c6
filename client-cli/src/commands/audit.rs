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
use stadtbote_i18n::tr;
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
        bail!(tr!("audit-accept-gap-needs-verify"));
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
            (Err(_), false) => {
                println!("{}", tr!("audit-unreadable-entry", seq = format!("{:>6}", record.seq)));
            }
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
            Some((from, to)) => {
                out.push(tr!("audit-verified-range", from = from, to = to, entries = self.entries))
            }
            None => out.push(tr!("audit-verified-empty")),
        }
        if let Some(anchor) = &self.anchor {
            out.push(tr!("audit-anchor", seq = anchor.seq, hash = hex(&anchor.hash)));
        }
        match (&self.before, self.gap) {
            (Some(pin), None) => out.push(tr!(
                "audit-continues",
                seq = pin.seq,
                when = pin
                    .verified_at
                    .map(|at| tr!("audit-continues-when", time = format_utc(at)))
                    .unwrap_or_default(),
                hash = pin.hash
            )),
            (Some(pin), Some((from, to))) => out.push(tr!(
                "audit-gap-accepted",
                from = from,
                to = to,
                seq = pin.seq,
                hash = pin.hash
            )),
            (None, _) => out.push(tr!("audit-first-use")),
        }
        match (&self.after, &self.before) {
            (Some(after), Some(before)) => out.push(tr!(
                "audit-pinned-head",
                seq = after.seq,
                hash = hex(&after.hash),
                before = before.seq
            )),
            (Some(after), None) => {
                out.push(tr!("audit-pinned-head-first", seq = after.seq, hash = hex(&after.hash)));
            }
            (None, _) => out.push(tr!("audit-pinned-head-none")),
        }
        out.push(tr!("audit-verify-often"));
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
        Some(pin) => tr!("audit-failed-kept-pin", seq = pin.seq),
        None => tr!("audit-failed-nothing-pinned"),
    };
    anyhow::anyhow!(tr!("audit-failed", seq = error.seq(), error = chain_error(error), kept = kept))
}

/// A chain error in the user's language (the protocol's `Display` is the
/// English text); a kind without a translation in English.
fn chain_error(error: &AuditChainError) -> String {
    use AuditChainError as E;
    match error {
        E::Changed { seq } => tr!("audit-chain-changed", seq = seq),
        E::Missing { seq } => tr!("audit-chain-missing", seq = seq),
        E::Reordered { seq } => tr!("audit-chain-reordered", seq = seq),
        E::BrokenLink { seq } => tr!("audit-chain-broken-link", seq = seq),
        E::HeadMismatch { seq } => tr!("audit-chain-head-mismatch", seq = seq),
        E::PinnedMissing { seq } => tr!("audit-chain-pinned-missing", seq = seq),
        E::PinnedDifferent { seq } => tr!("audit-chain-pinned-different", seq = seq),
        E::PrunedPastPin { pinned, anchor } => {
            tr!("audit-chain-pruned-past-pin", pinned = pinned, anchor = anchor)
        }
        other => other.to_string(),
    }
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
    let when = since.map(|at| tr!("audit-pruned-when", time = format_utc(at))).unwrap_or_default();
    let retention =
        retention_days.map(|days| tr!("audit-pruned-retention", days = days)).unwrap_or_default();
    let judgement = match (since, retention_days) {
        (Some(at), Some(days)) if now_ms().saturating_sub(at) < days.saturating_mul(DAY_MS) => {
            tr!("audit-pruned-recent", days = now_ms().saturating_sub(at) / DAY_MS)
        }
        (Some(at), Some(_)) => {
            tr!("audit-pruned-old", days = now_ms().saturating_sub(at) / DAY_MS)
        }
        _ => String::new(),
    };
    tr!(
        "audit-pruned-past-pin",
        pin = pin,
        when = when,
        cut = cut,
        first = pin.saturating_add(1),
        retention = retention,
        judgement = judgement
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
            bail!(tr!("audit-pin-not-hex", file = path.display(), seq = self.seq));
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
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!(tr!("audit-pins-damaged", file = path.display(), reason = e))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => bail!(tr!("audit-pins-unreadable", file = path.display(), reason = e)),
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

    /// Every `admin audit` text has a German wording of its own (formatted
    /// with `tr_in`: the process-wide language is shared by parallel tests).
    #[test]
    fn audit_texts_are_german_with_lang_de() {
        use stadtbote_i18n::{Catalog, Lang, tr_in};
        let ids: Vec<&String> =
            Catalog::get(Lang::En).ids().iter().filter(|id| id.starts_with("audit-")).collect();
        assert!(ids.len() >= 30, "{ids:?}");
        for id in ids {
            assert!(Catalog::get(Lang::De).has(id), "{id} missing in de");
            if id.ends_with("-when") || id == "audit-pruned-retention" {
                continue;
            }
            assert_ne!(tr_in(Lang::De, id, &[]), tr_in(Lang::En, id, &[]), "{id}");
        }
        let german = tr_in(Lang::De, "audit-failed-kept-pin", &[]);
        assert!(german.starts_with("dieses Gerät behält"), "{german}");
    }
}
