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
# What a backup contains: only what the server stores — MLS ciphertext,
# public keys, sealed channel posts, encrypted attachments, random ids and
# SHA-256 hashes of codes (docs/PRIVACY.md). No message can be read from it.
# It does contain admin-claim.code while unclaimed, and it reveals metadata
# (which devices are in which groups), so it is still protected: mode 0600,
# and optionally encrypted with age.
#
# Settings (environment, e.g. from /etc/default/stadtbote-backup):
#   DATA_DIR      default /var/lib/stadtbote
#   BACKUP_DIR    default /var/backups/stadtbote
#   SERVICE       default stadtbote (systemd unit to stop/start)
#   KEEP_DAILY    default 14  (newest daily archives kept)
#   KEEP_WEEKLY   default 8   (newest Sunday archives kept beyond those)
#   AGE_RECIPIENT optional: encrypt with `age -r $AGE_RECIPIENT` (public key;
#                 keep the private key OFF this server, e.g. on paper in the safe)
#
# Copy the archives off the machine (and keep one copy offline) — a backup on
# the same disk does not survive ransomware. See docs/OPERATIONS.md.

set -euo pipefail
umask 077

DATA_DIR=${DATA_DIR:-/var/lib/stadtbote}
BACKUP_DIR=${BACKUP_DIR:-/var/backups/stadtbote}
SERVICE=${SERVICE:-stadtbote}
KEEP_DAILY=${KEEP_DAILY:-14}
KEEP_WEEKLY=${KEEP_WEEKLY:-8}
AGE_RECIPIENT=${AGE_RECIPIENT:-}

log() { echo "stadtbote-backup: $*"; }

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
# made on a Sunday; delete the rest. Names sort by time (YYYYmmdd-HHMM).
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
