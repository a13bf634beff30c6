#!/usr/bin/env bash
# Nightly backup of the Stadtbote data directory, with rotation.
#
# This script stops the service for the few seconds the archive takes (sled
# must not be copied while it writes), archives the data directory and starts
# the service again. Clients do not lose anything: they reconnect, and unsent
# messages wait in their outbox. The online backup (`stadtbote admin backup
# FILE`) needs the admin's TOTP second factor, which an unattended timer
# cannot provide without weakening it, so it is run by an admin by hand
# (docs/OPERATIONS.md, "Online backup"); this timer stays the offline copy.
#
# What a backup contains: the whole data directory — MLS ciphertext, public
# keys, sealed channel posts, encrypted attachments, random ids and hashes of
# codes (docs/PRIVACY.md), but also keys/ (the pepper and every account's
# shredding key) and the admins' and orgs' TOTP secrets. Deleting an account
# destroys its key on the server; an unencrypted archive keeps it readable
# for as long as the archive exists. So archives are encrypted with age, and
# the script refuses to write an unencrypted one unless told so explicitly
# (--insecure-plaintext, or INSECURE_PLAINTEXT=yes).
#
# Settings (environment, e.g. from /etc/default/stadtbote-backup):
#   AGE_RECIPIENT required: encrypt with `age -r $AGE_RECIPIENT` (public key
#                 from `stadtbote-server backup-key generate --out KEYFILE`,
#                 run on a machine other than this server; keep KEYFILE OFF
#                 this server, e.g. printed in the safe)
#   INSECURE_PLAINTEXT  yes: write an unencrypted archive when AGE_RECIPIENT
#                 is empty (same as the --insecure-plaintext argument)
#   DATA_DIR      default /var/lib/stadtbote
#   BACKUP_DIR    default /var/backups/stadtbote
#   SERVICE       default stadtbote (systemd unit to stop/start)
#   KEEP_DAILY    newest daily archives kept
#   KEEP_WEEKLY   newest Sunday archives kept beyond those
#                 Both default to the server configuration's
#                 backup_keep_daily / backup_keep_weekly (14 and 8), read with
#                 `stadtbote-server backup-rotation`, because /privacy tells
#                 citizens how long a deleted account survives in backups
#                 from those values. Set them here only together with the
#                 configuration.
#   STADTBOTE_SERVER    default /usr/local/bin/stadtbote-server
#   STADTBOTE_CONFIG    default /etc/stadtbote/stadtbote.toml
#
# Copy the archives off the machine (and keep one copy offline) — a backup on
# the same disk does not survive ransomware. See docs/OPERATIONS.md.

set -euo pipefail
umask 077

DATA_DIR=${DATA_DIR:-/var/lib/stadtbote}
BACKUP_DIR=${BACKUP_DIR:-/var/backups/stadtbote}
SERVICE=${SERVICE:-stadtbote}
AGE_RECIPIENT=${AGE_RECIPIENT:-}
INSECURE_PLAINTEXT=${INSECURE_PLAINTEXT:-no}
STADTBOTE_SERVER=${STADTBOTE_SERVER:-/usr/local/bin/stadtbote-server}
export STADTBOTE_CONFIG=${STADTBOTE_CONFIG:-/etc/stadtbote/stadtbote.toml}

log() { echo "stadtbote-backup: $*"; }

for arg in "$@"; do
    case $arg in
        --insecure-plaintext) INSECURE_PLAINTEXT=yes ;;
        *) log "unknown argument $arg (only --insecure-plaintext is known)"; exit 2 ;;
    esac
done

# Refuse before anything is stopped or written.
if [[ -z $AGE_RECIPIENT && $INSECURE_PLAINTEXT != yes ]]; then
    log "refusing to write an unencrypted backup: it would hold the pepper, every" >&2
    log "account's shredding key and the admins' TOTP secrets, so deleted accounts" >&2
    log "would stay readable for as long as the archive is kept." >&2
    log "Add an age recipient: run \`stadtbote-server backup-key generate --out KEYFILE\`" >&2
    log "on a machine other than this server (keep KEYFILE offline), then set" >&2
    log "AGE_RECIPIENT=age1... in /etc/default/stadtbote-backup." >&2
    log "To write an unencrypted archive anyway: INSECURE_PLAINTEXT=yes or --insecure-plaintext." >&2
    exit 1
fi

# Rotation from the server configuration, unless both are set here.
if [[ -z ${KEEP_DAILY:-} || -z ${KEEP_WEEKLY:-} ]]; then
    if [[ -x $STADTBOTE_SERVER ]] && rotation=$("$STADTBOTE_SERVER" backup-rotation); then
        read -r cfg_daily cfg_weekly <<<"$rotation"
    else
        log "cannot read backup_keep_daily/backup_keep_weekly with $STADTBOTE_SERVER; using 14 and 8"
        cfg_daily=14 cfg_weekly=8
    fi
    KEEP_DAILY=${KEEP_DAILY:-$cfg_daily}
    KEEP_WEEKLY=${KEEP_WEEKLY:-$cfg_weekly}
fi
if ! [[ $KEEP_DAILY =~ ^[0-9]+$ && $KEEP_WEEKLY =~ ^[0-9]+$ ]]; then
    log "KEEP_DAILY and KEEP_WEEKLY must be numbers (got '$KEEP_DAILY' '$KEEP_WEEKLY')" >&2
    exit 2
fi
if [[ -z $AGE_RECIPIENT ]]; then
    log "WARNING: writing an UNENCRYPTED backup (--insecure-plaintext)" >&2
fi
log "rotation: keeping $KEEP_DAILY daily and $KEEP_WEEKLY weekly archives"

install -d -m 0700 "$BACKUP_DIR"

# Only one backup at a time (a manual run during the timer's run waits
# up to 10 minutes, then gives up).
exec 9>"$BACKUP_DIR/.lock"
flock -w 600 9 || { log "another backup is running"; exit 1; }

stamp=$(date +%Y%m%d-%H%M)
ext=tar.zst
[[ -n $AGE_RECIPIENT ]] && ext=tar.zst.age
final="$BACKUP_DIR/stadtbote-$stamp.$ext"
tmp="$final.partial"

# --- Consistent archive: stop, tar, start --------------------------------------
was_active=no
# Whatever happens from here on (tar fails, disk full), start the service
# again if it was running, and remove a partial archive.
restart() {
    if [[ $was_active == yes ]]; then
        was_active=restarted
        log "starting $SERVICE"
        systemctl start "$SERVICE"
    fi
}
trap 'rm -f "$tmp"; restart' EXIT
trap 'exit 143' TERM INT HUP
if systemctl is-active --quiet "$SERVICE"; then
    was_active=yes
    log "stopping $SERVICE"
    systemctl stop "$SERVICE"
fi

t0=$(date +%s)
parent=$(dirname "$DATA_DIR")
base=$(basename "$DATA_DIR")
if [[ -n $AGE_RECIPIENT ]]; then
    tar --zstd -C "$parent" --numeric-owner -cpf - "$base" | age -r "$AGE_RECIPIENT" -o "$tmp"
else
    tar --zstd -C "$parent" --numeric-owner -cpf "$tmp" "$base"
fi
restart

chmod 0600 "$tmp"
sync "$tmp"
mv "$tmp" "$final"
log "wrote $final ($(stat -c %s "$final") bytes, service down $(( $(date +%s) - t0 )) s)"

# --- Rotation ---------------------------------------------------------------------
# Keep the newest KEEP_DAILY archives, plus the newest KEEP_WEEKLY of those
# made on a Sunday; delete the rest. Names sort by time (YYYYmmdd-HHMM). An
# account deleted on day D is gone from every archive once the last Sunday
# archive made before D rotates out: after at most
# max(KEEP_DAILY, 7 * KEEP_WEEKLY) + 1 days while the timer runs every night.
mapfile -t all < <(find "$BACKUP_DIR" -maxdepth 1 -type f \
    \( -name 'stadtbote-*.tar.zst' -o -name 'stadtbote-*.tar.zst.age' \) -printf '%f\n' | sort -r)
declare -A keep=()
for f in "${all[@]:0:KEEP_DAILY}"; do keep[$f]=1; done
weekly=0
for f in "${all[@]}"; do
    (( weekly >= KEEP_WEEKLY )) && break
    d=${f#stadtbote-}; d=${d:0:8}
    if [[ $(date -d "$d" +%u) == 7 ]]; then keep[$f]=1; weekly=$((weekly + 1)); fi
done
for f in "${all[@]}"; do
    if [[ -z ${keep[$f]:-} ]]; then log "rotating out $f"; rm -f -- "$BACKUP_DIR/$f"; fi
done
