//! The text output of `stadtbote admin stats` and `admin backup` in the
//! user's language: labelled lines with readable numbers ("1.234.567" in
//! German, "1,234,567" in English), sizes with units and times in the local
//! zone. `--json` prints the protocol's fields instead and is not touched
//! here (it is a contract).
//!
//! Every function takes the language explicitly, so the unit tests can
//! check both catalogs side by side (the process-wide language is shared
//! by parallel tests); the CLI passes [`stadtbote_i18n::language`].

use stadtbote_i18n::{Arg, Lang, tr_in};
use stadtbote_protocol::frame::ServerStats;

use crate::backup::BackupSummary;
use crate::output::{format_time_in, safe};

/// `n` with thousands separators: `1.234.567` (de), `1,234,567` (en).
pub fn format_count(n: u64, lang: Lang) -> String {
    let separator = match lang {
        Lang::De => '.',
        Lang::En => ',',
    };
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(digit);
    }
    out
}

/// A size as people read it, with the exact byte count where it is
/// rounded: `512 Bytes`, `1,2 MB (1.234.567 Bytes)` (de);
/// `1.2 MB (1,234,567 bytes)` (en). Decimal units (10^3), one decimal,
/// rounded to nearest.
pub fn format_size(bytes: u64, lang: Lang) -> String {
    let exact = text(
        lang,
        "size-bytes",
        &[
            ("count", Arg::Number(i64::try_from(bytes).unwrap_or(i64::MAX))),
            ("formatted", Arg::Text(format_count(bytes, lang))),
        ],
    );
    const UNITS: [(u64, &str); 4] =
        [(1_000_000_000_000, "TB"), (1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "kB")];
    let Some((factor, unit)) = UNITS.into_iter().find(|(factor, _)| bytes >= *factor) else {
        return exact;
    };
    // Tenths of the unit, rounded to nearest (u128: no overflow).
    let tenths = (u128::from(bytes) * 10 + u128::from(factor) / 2) / u128::from(factor);
    let decimal = match lang {
        Lang::De => ',',
        Lang::En => '.',
    };
    let whole = u64::try_from(tenths / 10).unwrap_or(u64::MAX);
    let rounded = format!("{}{decimal}{} {unit}", format_count(whole, lang), tenths % 10);
    format!("{rounded} ({exact})")
}

fn text(lang: Lang, id: &str, args: &[(&str, Arg)]) -> String {
    tr_in(lang, id, args)
}

/// `label: value` lines with the values in one column (labels are
/// padded by characters, not bytes: German labels have umlauts); with
/// `numbers_right`, values that are plain numbers are right-aligned among
/// themselves.
fn aligned(rows: &[(String, String)], indent: &str, numbers_right: bool) -> Vec<String> {
    let is_number = |value: &str| {
        numbers_right && value.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    };
    let width = rows.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    let number_width = rows
        .iter()
        .filter(|(_, value)| is_number(value))
        .map(|(_, value)| value.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(label, value)| {
            let pad = width - label.chars().count();
            let value_pad = if is_number(value) { number_width - value.chars().count() } else { 0 };
            format!("{indent}{label}:{} {}{value}", " ".repeat(pad), " ".repeat(value_pad))
        })
        .collect()
}

/// The text of `admin stats`: the server-wide counts, then one line per
/// org (handles go through [`safe`]; they are checked on the server but
/// come from it).
pub fn stats_text(stats: &ServerStats, lang: Lang) -> String {
    let count = |n: u64| format_count(n, lang);
    let label = |id: &str| text(lang, id, &[]);
    let rows = [
        (label("stats-accounts"), count(stats.accounts)),
        (label("stats-devices"), count(stats.devices)),
        (label("stats-connected"), count(stats.connected)),
        (label("stats-queued"), count(stats.queued_envelopes)),
        (label("stats-stored"), format_size(stats.stored_bytes, lang)),
        (label("stats-channels"), count(stats.channels)),
        (label("stats-channel-posts"), count(stats.channel_posts)),
    ];
    let mut lines = vec![label("stats-title")];
    lines.extend(aligned(&rows, "  ", true));
    lines.push(String::new());
    if stats.orgs.is_empty() {
        lines.push(label("stats-no-orgs"));
        return lines.join("\n");
    }
    let headers = [label("stats-org"), label("stats-org-staff"), label("stats-org-channels")];
    let orgs: Vec<[String; 3]> = stats
        .orgs
        .iter()
        .map(|org| [safe(&org.handle).into_owned(), count(org.staff_devices), count(org.channels)])
        .collect();
    let width = |column: usize| {
        orgs.iter()
            .map(|row| row[column].chars().count())
            .chain([headers[column].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2)];
    let row = |cells: &[String; 3]| {
        let left = format!("{}{}", cells[0], " ".repeat(widths[0] - cells[0].chars().count()));
        let right =
            |i: usize| format!("{}{}", " ".repeat(widths[i] - cells[i].chars().count()), cells[i]);
        format!("{left}  {}  {}", right(1), right(2))
    };
    lines.push(row(&headers));
    lines.extend(orgs.iter().map(row));
    lines.join("\n")
}

/// The text of `admin backup`: where the file is, its size, checksum,
/// whether it is encrypted, and when it was written (`written_at`, Unix
/// ms, shown in `zone`).
pub fn backup_text(
    summary: &BackupSummary,
    written_at: u64,
    zone: &jiff::tz::TimeZone,
    lang: Lang,
) -> String {
    let file = summary.file.display().to_string();
    let label = |id: &str| text(lang, id, &[]);
    let rows = [
        (label("backup-size"), format_size(summary.size, lang)),
        (label("backup-sha256"), summary.sha256.clone()),
        (
            label("backup-encrypted"),
            label(if summary.encrypted { "backup-encrypted-yes" } else { "backup-encrypted-no" }),
        ),
        (label("backup-written-at"), format_time_in(written_at, zone, true)),
    ];
    let mut lines = vec![text(lang, "backup-written", &[("file", Arg::Text(file))])];
    lines.extend(aligned(&rows, "  ", false));
    if !summary.encrypted {
        lines.push(label("backup-plaintext-warning"));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use stadtbote_protocol::frame::OrgStats;

    use super::*;

    #[test]
    fn counts_and_sizes_read_like_numbers_in_each_language() {
        assert_eq!(format_count(0, Lang::De), "0");
        assert_eq!(format_count(999, Lang::De), "999");
        assert_eq!(format_count(1_000, Lang::De), "1.000");
        assert_eq!(format_count(1_234_567, Lang::De), "1.234.567");
        assert_eq!(format_count(1_234_567, Lang::En), "1,234,567");
        assert_eq!(format_count(u64::MAX, Lang::En), "18,446,744,073,709,551,615");
        assert_eq!(format_size(512, Lang::De), "512 Bytes");
        assert_eq!(format_size(1, Lang::En), "1 byte");
        assert_eq!(format_size(1, Lang::De), "1 Byte");
        assert_eq!(format_size(1_234_567, Lang::De), "1,2 MB (1.234.567 Bytes)");
        assert_eq!(format_size(1_234_567, Lang::En), "1.2 MB (1,234,567 bytes)");
        assert_eq!(format_size(999_999, Lang::En), "1,000.0 kB (999,999 bytes)");
        assert_eq!(format_size(2_500_000_000, Lang::De), "2,5 GB (2.500.000.000 Bytes)");
        assert!(format_size(u64::MAX, Lang::En).starts_with("18,446,744.1 TB"));
    }

    fn stats() -> ServerStats {
        ServerStats {
            accounts: 1_204,
            devices: 1_530,
            connected: 17,
            queued_envelopes: 42,
            stored_bytes: 73_400_320,
            channels: 3,
            channel_posts: 118,
            orgs: vec![
                OrgStats { handle: "musterhausen".into(), staff_devices: 4, channels: 2 },
                OrgStats { handle: "goslar".into(), staff_devices: 12, channels: 1 },
            ],
        }
    }

    #[test]
    fn stats_in_german_have_german_labels_units_and_separators() {
        let text = stats_text(&stats(), Lang::De);
        let expected = "\
Serverstatistik (Gesamtzahlen, keine Kennungen)
  Konten:                    1.204
  Geräte:                    1.530
  gerade verbunden:             17
  Nachrichten in Zustellung:    42
  gespeicherte Daten:        73,4 MB (73.400.320 Bytes)
  Kanäle:                        3
  Kanalbeiträge:               118

Org           Mitarbeitergeräte  Kanäle
musterhausen                  4       2
goslar                       12       1";
        assert_eq!(text, expected);
        for english in ["accounts", "queued_envelopes", "stored_bytes", "staff_devices", "bytes"] {
            assert!(!text.contains(english), "{english} in\n{text}");
        }
    }

    #[test]
    fn stats_in_english_are_labelled_too() {
        let text = stats_text(&stats(), Lang::En);
        assert!(text.starts_with("Server statistics (aggregate counts, no ids)\n"), "{text}");
        assert!(text.contains("  Accounts:"), "{text}");
        assert!(text.contains("1,204") && text.contains("73.4 MB (73,400,320 bytes)"), "{text}");
        assert!(text.contains("musterhausen"), "{text}");
        let empty = stats_text(&ServerStats::default(), Lang::De);
        assert!(empty.ends_with("Noch keine Orgs."), "{empty}");
    }

    #[test]
    fn backup_summary_in_german_with_local_time() {
        let summary = BackupSummary {
            file: "/var/backups/stadtbote.sbb".into(),
            size: 265_000,
            sha256: "ab".repeat(32),
            encrypted: true,
        };
        let cet = jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("posix tz");
        // 2026-11-22 10:15:02 UTC.
        let at = 1_795_342_502_000;
        let text = backup_text(&summary, at, &cet, Lang::De);
        let expected = format!(
            "\
Sicherung geschrieben: /var/backups/stadtbote.sbb
  Größe:          265,0 kB (265.000 Bytes)
  SHA-256:        {}
  verschlüsselt:  ja (age)
  geschrieben am: 2026-11-22 11:15:02 CET",
            "ab".repeat(32)
        );
        assert_eq!(text, expected);
        let plain = backup_text(&BackupSummary { encrypted: false, ..summary }, at, &cet, Lang::En);
        assert!(plain.contains("  Encrypted:  NO\n"), "{plain}");
        assert!(plain.contains("2026-11-22 11:15:02 CET"), "{plain}");
        assert!(
            plain.lines().last().is_some_and(|l| l.contains("Keep it at least as safe")),
            "{plain}"
        );
    }
}
