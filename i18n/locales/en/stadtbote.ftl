# Stadtbote — English catalog.
#
# Every message here exists in de/stadtbote.ftl with the same id and the
# same arguments (a unit test checks). These English texts are the CLI's
# historic output, byte for byte: scripts and the end-to-end tests read
# them, so change one only together with those tests.
# How to add a message: see i18n/README.md.

## Lines the CLI wraps every failure and warning in

error-line = error: { $message }
warning-line = warning: { $message }
note-line = note: { $message }

## Thread statuses (the --json and command-line values stay English)

status-open = open
status-acknowledged = acknowledged
status-in-progress = in-progress
status-resolved = resolved
status-rejected = rejected
status-reopened = reopened

## Thread kinds

thread-kind-report = report
thread-kind-consult = consult
thread-days = { $days ->
    [one] { $days } day
   *[other] { $days } days
}

## Queued messages (commands/threads.rs)

kept-report = { $error }; the report is kept in the outbox and will be sent by the next command that reaches the server
kept-message = { $error }; the message is kept in the outbox and will be sent by the next command that reaches the server
kept-question = { $error }; the question is kept in the outbox and will be sent by the next command that reaches the server
not-sent-report = the report was not sent; it is kept in the outbox and will be sent by the next command that reaches the server
not-sent-message = the message was not sent; it is kept in the outbox and will be sent by the next command that reaches the server
not-sent-question = the question was not sent; it is kept in the outbox and will be sent by the next command that reaches the server
kept-reply = { $error }; the reply is kept in the outbox and will be sent by the next command that reaches the server
not-sent-reply = the reply was not sent; it is kept in the outbox and will be sent by the next command that reaches the server
unreachable-kept-message = cannot reach the server; the message is kept in the outbox and will be sent by the next command that reaches the server
offline-working-locally = { $error }; working with what this device already has
follow-answer = Follow the answer with: stadtbote chat { $thread }

## stadtbote report / verify / enroll

report-sent = Report sent to { $org } ({ $handle }): category { $category }, department { $department }.
verify-verified = The org key of { $handle } matches and is now verified:
verify-repinned = { $handle } changed its org key; the new key is now pinned and verified:
enroll-enrolled = Enrolled as { $role } of { $department } at { $org } ({ $handle })
enroll-valid-until = The certificate is valid until { $time }.
enroll-pending = Approval by the org admin is pending: citizens' clients accept this device once the org admin's device has countersigned it with the org key (it does so on its next command, or with `stadtbote org approve { $device }`). A later command here tells you when it is approved.

## stadtbote threads

threads-none = No threads.
threads-status-invalid = { $status }; use open, acknowledged, in-progress, resolved, rejected or reopened
threads-messages = { $count } msg
threads-new = *new*
threads-warning = [WARNING: see `stadtbote show`]

## stadtbote show

show-header = Thread { $thread } ({ $kind }) with { $org } ({ $handle })
show-category = Category: { $category } (department { $department })
show-department = Department: { $department }
show-status = Status: { $status }
show-location = Location: { $lat }, { $lon }
show-disappears = Disappears: { $time }
show-warning = WARNING: { $warning }
show-messages = Messages:
show-no-name = (no name)
show-moved = (moved the thread to department { $department })
show-disappears-in = (the thread disappears in { $days } day(s))
show-status-tag = status: { $status }
show-not-accepted = (not accepted)
show-photo = photo ({ $mime }, { $size } bytes): { $saved }
show-photo-saved = saved to { $path }
show-photo-not-saved = not saved
show-history = Status history:
show-history-by = by { $name }
show-saved-photo = saved photo: { $path }
show-photos-not-saved = photos not saved: { $error }
show-photo-not-saved-warning = a photo could not be saved: { $error }

## stadtbote reply / assign / reopen / disappear

reply-sent-status = Reply sent; the thread { $thread } is now { $status }.
reply-sent = Reply sent to thread { $thread }.
reply-unknown-status = unknown status
assign-done = Thread { $thread } is now with department { $department }.
reopen-done = Reopened thread { $thread }.
disappear-at = Thread { $thread } disappears at { $time } on every device and on the server.
disappear-in = Thread { $thread } will disappear in { $days } day(s).

## stadtbote consult / chat

consult-closed = { $org } ({ $handle }) is not holding a consultation right now.
consult-no-hours = No consultation hours are published.
consult-hours = Consultation hours ({ $timezone }):
consult-message-from = Message from { $org }:
consult-not-sent = Your question was not sent; please ask again during the consultation hours.
consult-queued = Your request is queued; staff answer in order of arrival.
chat-start = Chat in thread { $thread } with { $org } ({ $handle }). Type a message and press Enter; /quit or end of input leaves.
chat-not-sent = not sent yet: { $error }
chat-removed = This device was removed from the thread.
chat-photos = { $count } photo(s): see `stadtbote show`
chat-disappears-in = (this thread disappears in { $days } day(s))

## stadtbote init / whoami / send / inbox / link / history / outbox (main.rs)

init-linked = Linked this device to account { $account }
init-waiting = Waiting for approval: run `stadtbote inbox` on the device that showed the code. Until then nobody can write to this device.
init-registered = Registered account { $account }
init-share = Share your account id so that others can write to you:
label-account = account: { $value }
label-device = device: { $value }
label-fingerprint = fingerprint: { $value }
label-name = name: { $value }
send-sent = sent { $id }
send-not-sent = the message was not sent; it is kept in the outbox
inbox-thread-messages = { $count } new message(s) in threads (see `stadtbote threads`)
inbox-none = No new messages.
link-intro = To add another device to account { $account }, run on that device:
link-expires = The code works once and expires at { $time }.
link-keep-secret = Keep it to yourself: it adds a device to your account. This device approves the new one at its next command (e.g. `stadtbote inbox`).
history-none = No messages.
outbox-empty = The outbox is empty.
notice-device-approved-here = notice: this device approved device { $device } (key { $key }) for your account (device list version { $version }).
notice-device-added = notice: a new device { $device } (key { $key }) was added to your account (device list version { $version }). If that was not you, run `stadtbote device remove { $device }`.
history-delivered = delivered
history-sent = sent
history-sent-elsewhere = sent from another device
history-you-to = you -> { $peer }
outbox-to = to { $peer } (not yet sent)
flush-sent-queued-report = sent the queued report; its thread is { $thread }
flush-sent-queued-consult = sent the queued consult; its thread is { $thread }
flush-sent-queued-message = sent a queued message in thread { $thread }
flush-resumed = resumed upload at chunk { $chunk } of { $chunks }
flush-refused-commit = refused a change of members in conversation { $group }: the commit does not add or remove the devices its sender declared to the server, so the server's delivery list would differ from the group. Messages in that conversation sent after it cannot be read here; tell the town's operator.
flush-dropped = a queued message to { $peer } could not be sent and was removed from the outbox: { $error }
flush-kept = { $count } message(s) stay in the outbox for now: { $error }
flush-thread-dropped = a queued { $kind } in thread { $thread } could not be sent and was removed from the outbox: { $error }
flush-thread-kept = { $count } thread message(s) stay in the outbox for now: { $error }
notice-approved = approved staff device { $device } ({ $role } of { $department }) of { $handle } with the org key (staff list version { $version })
notice-refused = the enrolment of device { $device } at { $handle } was not approved: { $reason }
notice-now-approved = This device's enrolment as { $role } of { $department } at { $handle } was approved by the org admin; citizens' clients now accept it.

## Channels a citizen follows (commands/channels.rs, channel_output.rs)

follow-done = Following { $name } ({ $handle })
unfollow-done = No longer following { $name } ({ $handle })
channels-none = Not following any channel.
channels-last-post = last post #{ $seq }
feed-not-following = not following any channel; run `stadtbote follow INVITE` first
feed-none = No new posts.
feed-photos = { $count } photo(s)
reply-to-sent = Your private reply went to { $handle } ({ $department }).

## The mayor's office: stadtbote org … (commands/org.rs)

org-claimed = This device is now the org admin of { $org } ({ $handle }).
org-key-created = The org key was created on this device: { $file }
org-keep-copy = Keep a copy in a safe place: stadtbote org export-key FILE
org-fingerprint-intro = Org key fingerprint (print it on posters and your website):
org-claim-staff = This device is also a staff device of { $handle }: role admin (includes publisher and clerk), department { $department }, where consultations go.
org-claim-can-publish = It can create channels (stadtbote channel create) and discussion groups (stadtbote group create) now.
org-claim-hours-hint = Publish consultation hours with: stadtbote org hours set "Tue 17:00-18:00"; start a session with: stadtbote org hours live on
org-claim-staff-failed = warning: this device could not be made a staff device of { $handle } yet: { $reason }
org-exported = Wrote the org key of { $handle }, encrypted with your passphrase, to { $file }
org-export-import-hint = Import it on another device with: stadtbote org import-key FILE
org-imported = Imported the org key of { $org } ({ $handle }).
org-rotated-compromised = Replaced the org key of { $handle } and revoked the old one (rotation { $sequence }).
org-rotated-old-refused = Clients refuse anything the old key signs from now on.
org-rotated-handover = Handed the org key of { $handle } over to a new key (rotation { $sequence }).
org-rotated-reissued = Re-issued { $count } staff certificate(s) under the new key.
org-rotated-followed = Citizens' clients follow the signed change without a warning.
org-rotated-keep-copy = Keep a copy of the new key in a safe place: stadtbote org export-key FILE
org-rotated-fingerprint = New org key fingerprint (print it on new posters and your website):
org-invitation = Invitation for a { $role } of department { $department } at { $handle }.
org-invitation-run = On the staff member's device, run: stadtbote enroll CODE
org-invitation-expires = The code works once and expires at { $expires }; the certificate is valid until { $valid }.
org-staff-none = No staff devices are enrolled yet.
org-approved = Approved device { $device } as { $role } of { $department } at { $handle } (staff list version { $version }).
org-already-approved = Device { $device } is already an approved staff device of { $handle }.
org-revoked = Revoked device { $device } (revocation list version { $version }).
org-revoked-removed = Removed it from thread { $thread }.
org-2fa-enabled = Org admin actions of { $handle } now need a second factor.
org-2fa-pass = Pass the app's current code with: stadtbote --otp CODE org …
org-no-profile = no profile published yet
org-profile-header = { $org } ({ $handle }), profile version { $version }
org-profile-categories = Categories:
org-profile-hours = Office hours ({ $timezone }): { $hours }
org-profile-no-hours = none
org-auto-reply = Auto-reply: { $reply }
org-profile-consultations = Consultations go to: { $department }
org-live-since = Live since { $time }
org-not-live = Not live
org-fingerprint-of = Org key of { $org } ({ $handle }); citizens compare this fingerprint:
qr-png = QR code (PNG): { $file }
qr-svg = QR code (SVG): { $file }
org-category-added = Added category { $name }: reports go to department { $department }.
org-category-moved = Moved category { $name }: reports go to department { $department }.
org-category-removed = Removed category { $name }.
org-profile-published-of = Published profile version { $version } of { $org } ({ $handle }).
org-hours-set = Office hours of { $org } ({ $timezone }): { $hours }
org-hours-department = Consultations go to department { $department }.
org-live-on = The consultation session of { $org } is live.
org-live-off = The consultation session of { $org } has ended.
org-profile-published = Published profile version { $version }.

## Staff lists (thread_output.rs)

staff-account = account { $account }
staff-until = until { $time }
staff-revoked = REVOKED
staff-expired = expired
staff-unlisted = not on the staff list
staff-valid = valid
staff-pending = PENDING approval (stadtbote org approve { $device })
outbox-thread-entry = { $kind } in thread { $thread } (not yet sent)

## Discussion groups (commands/groups.rs)

group-created = created discussion group { $name }; share its link with `stadtbote group invite`
group-invite = Anyone with this link can join the group; keep it among its intended members:
group-joined = joined { $name }
group-posted = posted
group-removed = removed { $account }
groups-none = This device is in no discussion group.

## Devices and the account (commands/devices.rs, commands/account.rs)

devices-header = Devices of account { $account } (signed list version { $version }, account key { $key }):
devices-this = (this device)
devices-line = added { $added }  key { $key }
devices-no-account-key = This device does not hold the account key: link and remove devices from one that does.
devices-removed = Removed device { $device } from account { $account } (signed list version { $version }). It can no longer log in; other people's apps stop encrypting to it when they next write.
account-delete-confirm = deleting the account removes it, all its devices, their waiting messages and uploads from the server and this device's keys and history from { $home }; this cannot be undone. Run `stadtbote account delete --yes` to confirm
account-deleted = account { $account } deleted on the server: { $devices } device(s), { $envelopes } waiting message(s), { $blobs } upload(s), { $key_packages } KeyPackage(s)
account-deleted-here = deleted from this device ({ $home }):

## Server administration: stadtbote admin … (commands/org.rs)

admin-claimed = This device is now a server admin.
admin-needs-otp = Every admin command now needs the app's current code: stadtbote --otp CODE admin …
admin-create-org-hint = Create an org with: stadtbote --otp CODE admin org create NAME --handle HANDLE
admin-retention-set = Retention of { $kind } is now { $secs } seconds.
admin-org-suspended = Suspended the org { $handle }.
admin-org-resumed = Resumed the org { $handle }.
admin-org-2fa-reset = Turned off the second factor of the org { $handle }.
admin-org-2fa-none = The org { $handle } had no second factor set up; nothing changed.
admin-org-2fa-next = Its org admin now sets up a new secret with: stadtbote org 2fa enable (the old codes no longer work).
admin-org-created = Created the org { $org } ({ $handle }), id { $id }.
admin-org-created-give = Give this one-time code to the org's admin, who runs `stadtbote org claim CODE` on their device.
admin-code-expires = The code expires at { $time }.
admin-no-orgs = No orgs yet.
admin-blocked = { $devices ->
    [one] blocked { $account } ({ $devices } device)
   *[other] blocked { $account } ({ $devices } devices)
}
admin-unblocked = { $devices ->
    [one] unblocked { $account } ({ $devices } device)
   *[other] unblocked { $account } ({ $devices } devices)
}

## Errors of the client library (client-cli/src/error.rs); ids are
## error- plus the variant's name

error-unreachable = cannot reach the server at { $url }
error-server-busy = the server at { $url } refused the connection: { $reason }; try again later
error-invalid-link-code = the link code is unknown, already used or expired; create a new one with `stadtbote link` on a device of the account
error-unknown-account = unknown account id { $account }
error-invalid-account-id = { $text } is not a valid account id (expected 26 base32 characters)
error-not-initialised = { $home } holds no Stadtbote identity; run `stadtbote init` first
error-already-initialised = { $home } is already initialised with a Stadtbote identity
error-locked = another stadtbote command is using { $home }; try again when it has finished
error-photo-too-large = photo { $path } is { $size }; the limit is { $limit }
error-unsupported-photo = cannot send { $path }: { $reason }
error-attachment-quota-exceeded = the server's attachment storage for this account is full; try again when earlier photos have expired
error-attachment-unavailable = the attachment is no longer on the server (attachments expire); ask the sender to send it again
error-invalid = invalid { $what }: { $reason }
error-invalid-code-text = this is not a valid { $what }; copy it exactly as it was printed
error-not-server-admin = this device is not a server admin; run `stadtbote admin claim CODE` with the code from the server's data directory
error-forbidden = not allowed: { $reason }
error-second-factor-required = { $reason }; pass --otp CODE (the current code of your authenticator app) or set STADTBOTE_OTP
error-org-suspended = this org is suspended by the server's operator; its services are unavailable until it is resumed
error-handle-taken = the handle { $handle } is already taken; choose another
error-not-org-admin = this device is not an org admin; run `stadtbote org claim CODE`
error-not-admin-of = this device is not the admin of { $handle }
error-several-orgs = this device administers several orgs ({ $orgs }); choose one with --org HANDLE
error-unknown-org = there is no org with the handle { $handle } on this server
error-org-not-set-up = the org { $handle } is not set up yet (no org key or profile published)
error-org-key-changed = the org key of { $handle } has CHANGED: pinned { $pinned }, the server now presents { $presented }; this may be an attack. Nothing was sent. Compare the fingerprint on the town's poster and, only if it shows the new key, run `stadtbote verify { $handle } FINGERPRINT`
error-fingerprint-mismatch = the fingerprint does NOT match the org key pinned for { $handle } ({ $pinned }); do not trust messages claiming to come from { $handle } until this is resolved
error-unknown-category = { $handle } has no category { $category }; valid categories: { $valid }
error-no-staff-enrolled = no staff device of department { $department } is enrolled at { $handle }, so nobody there could read this; nothing was sent. { $handle }'s org admin enrols one with `stadtbote org invite-staff --department { $department } --role clerk` (then `stadtbote enroll CODE` on that device), or makes the org admin's own device staff there with `stadtbote org enroll-self --department { $department }`
error-staff-awaiting-approval = the staff devices of department { $department } at { $handle } are waiting for the org admin's approval (every staff device needs the org key's countersignature); the message stays queued and is sent once one is approved
error-no-staff-reachable = no staff device of department { $department } can be reached right now: none has key packages on the server yet (a staff device uploads them whenever it runs a command, e.g. `stadtbote threads`)
error-unknown-thread = no thread { $thread } on this device (see `stadtbote threads`)
error-removed-from-thread = this device is no longer a member of thread { $thread }
error-not-in-department = this device is not staff of department { $department }, which thread { $thread } is assigned to
error-not-staff = only staff of { $handle } can do this; enrol this device with `stadtbote enroll CODE` (a code from `stadtbote org invite-staff` on { $handle }'s org admin device)
error-photo-not-sent = a photo could not be uploaded: { $reason }
error-invalid-invite-code = this is not a valid invitation code
error-wrong-passphrase = wrong passphrase, or the key file is damaged
error-empty-passphrase = the passphrase must not be empty
error-passphrase-mismatch = the passphrases do not match
error-unknown-channel = no channel { $channel } on this device (see `stadtbote channels` or `stadtbote channel list`)
error-outdated-invite = this invite link is outdated: the channel has a new key; ask the town for the current invite link
error-not-publisher = this device is not a certified publisher of { $handle }; ask the org admin for `org invite-staff --role publisher` (on the org admin's own device, run `stadtbote org enroll-self`)
error-replies-off = { $channel } does not take replies
error-unknown-group = no discussion group { $group } on this device (see `stadtbote groups`)
error-awaiting-approval = this device waits for approval: run `stadtbote inbox` on the device that showed the link code, then try again here
error-unknown-device = no device { $device } on this account's device list (see `stadtbote device list`)
error-server = the server refused the request: { $body }
error-status-needs-reason = setting the status { $status } requires --reason
error-status-staff-only = only staff can set a status; a citizen can only reopen a resolved or rejected report (stadtbote reopen)
error-status-citizen-only = only the citizen who opened the thread can reopen it
error-status-not-allowed = the status cannot change from { $from } to { $to }
error-photo-unreadable = cannot read the photo { $path }: { $reason }
error-corrupt-file = the local file { $file } is corrupt ({ $reason }); restore it from a backup or move it away
error-removed-from-conversation = this device is no longer a member of the conversation with { $account }
error-not-yet-added = the conversation with { $account } already exists and this device has not been added to it yet; it is added when a member of the conversation next sends a message
error-commit-conflict = the conversation with { $peer } kept changing; gave up after { $attempts } attempts
error-waiting-for-earlier-message = an earlier message to the same account has not been sent yet
error-not-connected = not connected to the server
error-attachment-refused-too-large = the server refuses attachments this large ({ $size } encrypted); its operator has set a lower limit
error-attachment-corrupt = the attachment cannot be used: { $reason }
error-code-refused = the { $what } was refused: { $detail } (codes work once and expire)
error-invalid-org-data = the directory entry of { $handle } does not verify: { $reason }
error-staff-list-rolled-back = refusing the directory of { $handle }: the server offered { $offered } of its staff list, but this device has already seen version { $seen }; the server may be hiding staff changes such as revocations. Nothing was sent; try again later, and tell the town if this persists
error-refuse-uncertified = refusing to send: device { $device } in thread { $thread } has no valid staff certificate from { $handle }
error-member-awaiting-approval = not sending yet: device { $device } in thread { $thread } is a staff device of { $handle } whose enrolment waits for the org admin's approval (every staff device now needs the org key's countersignature); the message stays queued and is sent once the org admin's device has approved it
error-key-package-mismatch = refusing to send: the server handed out a key package for device { $device } that does not match its staff certificate from { $handle }
error-thread-conflict = the thread kept changing; gave up after { $attempts } attempts
error-no-passphrase = no passphrase: set { $env } or run the command in a terminal
error-not-an-export-file = this is not a Stadtbote org key file
error-revocation-list-withheld = the server withheld the current revocation list of { $handle }: this device has verified version { $pinned }, the server offered { $presented }. It may be hiding a revoked (lost or stolen) publisher device, so no posts are shown. Try again later or from another network, and tell the town if this persists
error-posts-withheld = the server withheld post(s) { $posts } although they are younger than the channel's retention; they were not skipped and later posts wait for them: run `stadtbote feed` again later, and tell the town if this persists
error-removed-from-group = this device is no longer a member of discussion group { $group }
error-not-staff-anywhere = only certified staff can create discussion groups; enrol this device with `stadtbote enroll CODE` first (on an org admin's device, run `stadtbote org enroll-self`)
error-group-link-refused = this join link is not valid (any more); the group's link is replaced when a member is removed, ask a member for the current one
error-group-info-outdated = the group's join information is out of date; ask a member to run `stadtbote group invite`
error-link-code-without-secret = this link code lacks the part made on your other device; run `stadtbote link` there again (with this version) and use the new code
error-no-device-list = account { $account } has not published a signed device list yet, so none of its devices can be trusted; it appears once one of its devices runs a current version of stadtbote
error-no-account-key = this device does not hold the account key; run this on the account's first device or one linked with a current version (`stadtbote device list` shows the devices)
error-remove-own-device = this is the device you are using; remove it from another device, or delete the whole account with `stadtbote account delete`
error-invalid-server-url = invalid server URL { $url }: { $reason }
error-connection-lost = lost the connection to the server at { $url }: { $reason }
error-protocol = the server at { $url } sent an unexpected answer: { $reason }
error-io = cannot { $action } { $file }: { $source }
error-thread-id-taken = the new thread's id is taken
error-channel-conflict = the channel kept changing; gave up after { $attempts } attempts
error-group-conflict = the group kept changing; gave up after { $attempts } attempts
error-group-member-ambiguous = { $member } matches several members; use the account id
error-unknown-group-member = no member { $member } in this group (give an account id or a display name seen in the group)
error-device-list = refusing the device list of account { $account }: { $reason }. The server may be trying to add a device to that account; nothing was sent to its devices
error-plaintext-backup-refused = refused to write an unencrypted backup: it would hold the server's pepper, every account's shredding key and the admins' TOTP secrets, so deleted accounts would become readable again. Create an age key on a machine other than the server with `stadtbote-server backup-key generate --out KEYFILE` (keep KEYFILE offline), then either add the printed age1… recipient to `backup_recipients` in the server configuration or pass `--recipient age1…`; to write an unencrypted backup anyway, add --insecure-plaintext

## Photos a citizen or clerk sends (metadata.rs, attachments.rs); they
## follow "cannot send FILE: " or "cannot read the photo FILE: "

photo-refused-format = it is not a JPEG, PNG, HEIC or WebP photo; convert it to JPEG and try again
photo-refused-jpeg-damaged = the JPEG file is damaged ({ $detail }); export the photo again from the app that made it
photo-refused-jpeg-feature = the JPEG file uses a feature that cannot be cleaned of hidden data; convert it to a standard JPEG and try again
photo-refused-png-damaged = the PNG file is damaged ({ $detail }); export the picture again from the app that made it
photo-refused-png-feature = the PNG file uses a feature that cannot be cleaned of hidden data; convert it to JPEG and try again
photo-refused-heic-damaged = the HEIC file is damaged ({ $detail }); export the photo again, or convert it to JPEG
photo-refused-heic-feature = the HEIC file cannot be cleaned of hidden data ({ $detail }); convert it to JPEG and try again
photo-refused-webp-damaged = the WebP file is damaged ({ $detail }); export the picture again, or convert it to JPEG
photo-unreadable-missing = there is no such file
photo-unreadable-permission = permission denied
photo-unreadable-not-a-file = it is a directory or device, not a file
show-heic-hint-saved = this is a HEIC photo (iPhone): many viewers and web browsers cannot display it; open the saved file with the Photos app, a recent image viewer, or convert it to JPEG
show-heic-hint-not-saved = this is a HEIC photo (iPhone): many viewers and web browsers cannot display it; save it with `stadtbote show THREAD --save DIR` and open it with the Photos app, a recent image viewer, or convert it to JPEG

## stadtbote org info (org_info.rs; --json stays English)

org-info-fingerprint = fingerprint: { $fingerprint }
org-info-verification = verification: { $trust }
org-info-key-rotations = key rotations: { $count } (each signed by the key before it)
org-info-offline = offline: the server cannot be reached; this is the profile as last verified on this device
org-info-no-profile = profile: none published yet
org-info-no-categories = categories: none yet
org-info-categories = categories:
org-info-category = { $name } -> department { $department }
org-info-consultations = consultations: department { $department }
org-info-no-hours = office hours: none published
org-info-hours = office hours ({ $timezone }):
org-info-auto-reply = auto-reply: { $reply }
org-info-live = live: yes, since { $since } (ask with: stadtbote consult { $handle } "QUESTION")
org-info-not-live = live: no (consultations are answered during a live session)
org-info-no-channels = channels: none published
org-info-channels = channels:
org-info-profile-version = profile version { $version }, signed { $time }
org-info-compare = compare it with the town's poster or website, then run: stadtbote verify { $handle } "{ $fingerprint }"
org-info-trust-verified = verified (the fingerprint was compared, or this device holds the org key)
org-info-trust-pinned = pinned on first contact, not compared yet; { $compare }
org-info-trust-first-seen-pinned = first seen now and pinned on this device; { $compare }
org-info-trust-first-seen-unpinned = first seen now, not pinned (this device has no account yet: after `stadtbote init`, the first command that contacts { $handle } pins the key); compare it with the town's poster or website
org-info-trust-rotated = changed by a key rotation the previous key ({ $previous }) signed; now pinned
org-info-trust-rotated-verified = changed by a key rotation the previous key ({ $previous }) signed; now pinned and still verified
org-info-no-contact = cannot reach the server and this device has not contacted { $handle } before; run the command again when the server can be reached

## stadtbote org claim / enroll-self / hours set / poster (commands/org.rs)

org-claim-not-staff-yet = the org { $handle } is claimed, but this device is not its staff device yet; run: stadtbote org enroll-self
org-enroll-self-already = This device already is a staff device of { $handle }: role admin, department { $department }.
org-enroll-self-done = This device is now a staff device of { $handle }: role admin (includes publisher and clerk), department { $department }.
org-hours-unstaffed = no approved staff device of department { $department } yet, so consultations cannot be sent; invite one with `stadtbote org invite-staff --department { $department } --role clerk` (then `stadtbote enroll CODE` on that device), or make this device staff there with `stadtbote org enroll-self --department { $department }`
poster-written = Wrote the notice-board poster of { $town } ({ $handle }) to { $file } (A4 portrait, { $format }).
poster-channel-on-it = Channel on it: { $name } ({ $channel })
poster-no-channel-on-it = No channel on it (--no-channel).
poster-fingerprint-on-it = Fingerprint on it: { $fingerprint }
poster-no-channel-created = this device created no channel of { $handle }, so there is no invite link for the poster; create one with `stadtbote channel create NAME` (on a publisher's device, then run `org poster` there), or pass --no-channel for a poster with the fingerprint only
poster-channel-other-org = channel { $channel } was created for another org than the server now names { $handle }; pass --channel CHANNEL-ID of a current channel or --no-channel
poster-channel-not-of-org = channel { $channel } belongs to { $owner }, not to { $handle }; pass the channel of { $handle } or leave out --org
poster-no-org = this device neither administers an org nor created a channel; run `org poster` on the device that ran `channel create`, or pass --org HANDLE --no-channel for a poster with the fingerprint only
poster-several-orgs = this device created channels of several orgs ({ $orgs }); pass --org HANDLE
error-poster-unknown-format = cannot tell which format to write for { $file }: the file name must end in .pdf or .svg

## Channels this device publishes to (commands/channels.rs)

channel-list-none = This device publishes to no channel.
channel-posted = posted #{ $seq }
channel-created = created
channel-rotated = rotated
channel-invite-header = Channel { $name } { $what }: { $channel }
channel-invite-follow = Followers run `stadtbote follow LINK` with this invite link:
channel-rotate-named = channel { $name } ({ $channel })
channel-rotate-unnamed = channel { $channel }
channel-rotate-needs-yes = rotating the key of { $what } cuts every follower off: they read no new post until they follow the new invite link. Nothing was changed; to rotate from a script, add --yes
channel-rotate-explain = Rotating gives { $what } a new key. Every follower stops receiving new posts until they follow the new invite link, which this command prints (with a QR code); publish it where your followers found the old one (notice board, website).
channel-rotate-ask = Rotate the key now? [y/N]
channel-rotate-declined = the channel key was not rotated; nothing was changed

## stadtbote admin batch / shell (commands/admin_session.rs)

admin-session-unbalanced-quotes = unbalanced quotes
admin-session-nested = `batch` and `shell` cannot be run inside a session
admin-session-ended = the admin session ended: the server closed the connection (it closes connections that stay silent for its idle timeout, 5 minutes by default); start again with a new code: stadtbote --otp CODE admin shell (or batch)
admin-batch-read-line = cannot read line { $line } of the input: { $error }
admin-batch-line = line { $line }: { $error }
admin-batch-stopped = line { $line }: { $error }; stopped there ({ $ran } command(s) before it ran)
admin-shell-intro = Admin shell: type admin commands as after `stadtbote admin` (e.g. `stats`, `org list`); `help` lists them, `exit` or Ctrl-D leaves. The session ends after 5 minutes without a command.
admin-shell-read = cannot read the input: { $error }


## TLS (tls_trust.rs): why a certificate or a handshake failed

error-untrusted-certificate = TLS: the server's certificate is not trusted: { $reason } (server { $url }; for a town's own CA pass --ca-cert FILE)
error-tls = TLS handshake with the server at { $url } failed: { $reason }
error-ca-cert = cannot use CA certificate { $path }: { $reason }
tls-ca-missing = the file does not exist
tls-ca-permission = the file cannot be read (permission denied)
tls-ca-unreadable = the file cannot be read
tls-ca-not-pem = it is not a PEM certificate file (BEGIN CERTIFICATE … END CERTIFICATE)
tls-ca-no-certificate = no PEM certificate (BEGIN CERTIFICATE) found
tls-ca-bad-certificate = a certificate in it cannot be read (is it an X.509 certificate?)
tls-cert-unknown-issuer = it is not signed by a certificate authority this device trusts
tls-cert-wrong-name = it is made out for another server name than the one in the URL
tls-cert-expired = it has expired
tls-cert-not-yet-valid = it is not valid yet (check this computer's date and time)
tls-cert-revoked = it was revoked
tls-cert-bad-signature = its signature is not valid
tls-cert-malformed = it is malformed
tls-cert-unsupported-algorithm = it is signed with an algorithm this client does not support
tls-cert-self-signed = it is a self-signed (CA) certificate this device does not trust
tls-cert-wrong-usage = it is not meant for a TLS server (extended key usage)
tls-cert-failed = it failed verification
tls-not-tls = the server does not speak TLS on this port (for a server without TLS use ws://)
tls-refused = the server refused the secure connection
tls-incompatible = the server offers no TLS version or cipher this client accepts
tls-no-certificate = the server presented no certificate
tls-failed = the connection could not be secured

## stadtbote assign / reopen: the department or reason (main.rs)

assign-department-twice = the department was given twice; give it once, either as `stadtbote assign THREAD DEPARTMENT` or with --department DEPARTMENT
assign-department-missing = `assign` needs the department: stadtbote assign THREAD DEPARTMENT (or --department DEPARTMENT)
reopen-reason-twice = the reason was given twice; give it once, either as `stadtbote reopen THREAD REASON` or with --reason REASON
reopen-reason-missing = `reopen` needs the reason: stadtbote reopen THREAD REASON (or --reason REASON)

## stadtbote org revoke / 2fa enable, admin claim (commands/org.rs)

org-revoke-not-staff = device { $device } holds no certificate of { $handle }
org-revoke-not-removed = could not remove it from thread { $thread } now ({ $error }); every member removes it before their next message
second-factor-add = Add this second factor to your authenticator app (shown only now, not stored here):
second-factor-secret = secret (base32): { $secret }

## stadtbote org approve (commands/org.rs)

org-approve-refused = did not approve device { $device }: { $reason }

## Prompts

prompt-passphrase = Passphrase for the org key file:
prompt-passphrase-repeat = Repeat the passphrase:

## Help texts (client-cli/src/help_text.rs): message help-PATH is the
## about text of the command at PATH (help alone: the program), its
## attributes the help of the command's arguments by argument id. English
## entries equal the derive doc comments (a CLI test compares them).

help-heading-usage = Usage:
help-heading-arguments = Arguments
help-heading-options = Options
help-heading-commands = Commands
help-value-command = COMMAND
help-flag-help = Print help
help-flag-version = Print version
help = End-to-end encrypted messages for towns and their citizens
    .home = Directory holding this device's keys and messages
    .server = WebSocket URL of the Stadtbote server
    .ca_cert = Extra CA certificate (PEM) to trust for wss:// besides the built-in roots, e.g. a town's own CA or a self-signed server certificate
    .otp = Second-factor code (TOTP, from your authenticator app) for admin and org-admin commands; sent right after login
    .lang = Language of messages and help: de or en (default: from LC_ALL, LC_MESSAGES or LANG; English when unset, C or POSIX)
help-init = Create this device: register a new account, or join one with a link code
    .name = Display name sent along with your messages (only recipients see it)
    .link = Link code from `stadtbote link` on a device of an existing account
help-whoami = Show this device's account, device id and key fingerprint (offline)
    .json = One JSON object
help-send = Send a text message to an account
    .account = The recipient's account id
    .text = The message
help-inbox = Fetch and show new messages
    .json = One JSON object per message
help-link = Create a one-time code to link another device to this account
help-device = This account's signed device list: show it, remove a lost device
help-device-list = Show the devices on this account's signed device list
    .json = One JSON object
help-device-remove = Remove a device (a lost or stolen phone) from this account: it can no longer log in, and other people's clients stop encrypting to it
    .device = The device id, as `stadtbote device list` shows it
help-history = Show sent and received messages stored on this device
    .account = Only the conversation with this account
    .json = One JSON object per message
    .sync = Fetch new messages and receipts from the server first
help-outbox = Show messages the server has not acknowledged yet
    .json = One JSON object per message
help-admin = Server administration: claim admin rights, orgs, statistics, blocking
help-admin-claim = Become a server admin with the code in DATA_DIR/admin-claim.code; prints the TOTP secret (as an otpauth:// URI) for your authenticator app. Every later admin command needs --otp CODE
    .code = The code
help-admin-retention = Show or change the retention periods in force
help-admin-retention-show = Every retention period in force
    .json = One JSON object per period
help-admin-retention-set = Change one period, e.g. `envelopes 7d`
    .kind = envelopes, attachments, uploads, link-codes, org-claim-codes, channel-posts-max or audit
    .duration = A duration such as 30d, 12h, 90m or 3600s
help-admin-audit = Read the audit log of admin and org-admin actions
    .json = One JSON object per entry
    .verify = Recompute the hash chain here and compare with the head pinned by the last verification; fails naming the first bad entry
    .accept_gap = With --verify: when the log was pruned past the head pinned by the last verification, accept that the removed entries cannot be checked and pin the server's log as on first use
    .after = Show only entries after this sequence number
help-admin-org = Create or list orgs
help-admin-org-create = Create an org and print a one-time code for its admin
    .name = The org's name, e.g. "Stadt Goslar"
    .handle = Its handle: 2-32 of a-z, 0-9 and -
help-admin-org-list = List the server's orgs
    .json = One JSON object per org
help-admin-org-suspend = Suspend an org: its directory entry, staff enrolment, org-admin actions and channel posts are refused until it is resumed
    .handle = The org's handle
help-admin-org-resume = Lift a suspension
    .handle = The org's handle
help-admin-org-reset-2fa = Turn off an org's second factor after its admin lost the authenticator; the org admin then runs `stadtbote org 2fa enable` again to set up a new secret
    .handle = The org's handle
help-admin-stats = Server-wide aggregate counts (no ids; orgs by handle)
    .json = The counts as one JSON object
help-admin-block = Block every device of an account: it can no longer log in or make requests
    .account = The account id
help-admin-backup = Download an online, consistent backup of the whole server to FILE (mode 0600), encrypted to the server's backup recipients and every --recipient; refused when there is none, unless --insecure-plaintext
    .file = Where to write the backup
    .recipients = Extra age recipient (age1…) to encrypt to; repeatable
    .insecure_plaintext = Write an unencrypted backup when no recipient is configured or given. It holds the pepper, every account's shredding key and the admins' TOTP secrets: keep it at least as safe as the server
    .json = Print the result as one JSON object
help-admin-unblock = Lift a block
    .account = The account id
help-org = Run an org (a town) from this device: key, profile, hours, staff
    .org = The org, when this device administers several
help-org-claim = Become the org's admin with the code from `admin org create`; creates the org key on this device
    .code = The org-admin code
help-org-export-key = Write the org key, encrypted with a passphrase, to FILE
    .file = Where
help-org-import-key = Read an org key written by `org export-key`
    .file = The file
help-org-rotate-key = Replace the org key with a new one, signed by the current key (handover, e.g. after an election); citizens' clients follow it without a warning. Staff certificates are re-issued under the new key
    .compromised = The current key may be in other hands (a stolen laptop): revoke it, so that clients refuse anything it signs later
help-org-category = Report categories and the departments they go to
help-org-category-add = Add a category (or move it to another department)
    .name = Its name as citizens see it, e.g. "Straßenschaden"
    .department = The department its reports go to
help-org-category-remove = Remove a category
    .name = Its name
help-org-hours = Consultation hours
help-org-hours-set = Set the weekly consultation slots, e.g. "Tue 17:00-18:00"
    .slots = One or more slots
    .auto_reply = Shown to citizens who ask outside a live session
    .department = The department that answers consultations (default: the one they go to now, at first the default department buergermeister, which the org admin's device is staff of)
help-org-hours-live = Start (on) or end (off) a live consultation session
    .state = on or off
help-org-fingerprint = Print the org key's fingerprint and write its QR code (PNG and SVG)
    .out = Directory for the QR code files (default: HOME/qr, under --home)
help-org-invite-staff = Create a one-time invitation for a staff device
    .department = The department, e.g. bauhof
    .role = The role
    .expires_hours = Hours the code can be redeemed
help-org-staff = List the org's certified staff devices
    .json = One JSON object per device
help-org-approve = Approve a pending staff enrolment with the org key (the org admin's device also approves pending enrolments automatically on every command that connects, except a second binding of an invitation already used; see `org staff`)
    .device = The device id (as shown by `org staff`)
help-org-revoke = Revoke a staff device's certificate
    .device = The device id
help-org-show = Show the org's published profile
    .json = One JSON object
help-org-2fa = The second factor for the org's admin actions
help-org-2fa-enable = Require a TOTP code for this org's admin actions; prints the secret (as an otpauth:// URI) for your authenticator app
help-enroll = Enrol this device as staff of an org with an invitation code
    .code = The code from `stadtbote org invite-staff`
help-verify = Mark an org's key as verified after comparing its fingerprint (or QR code content) with the town's poster or website
    .handle = The org's handle
    .fingerprint = The fingerprint as printed, e.g. "3f2a 91c0 …"
help-report = Report a problem (road damage, a broken lamp…) to an org
    .handle = The org's handle
    .category = The category, as the org names it
    .photos = A photo (JPEG, PNG, HEIC or WebP; its metadata except the orientation is removed before it is encrypted)
    .location = Where, in degrees: LAT,LON
    .text = What is wrong
help-threads = List report and consultation threads (syncs first when possible)
    .status = Only threads with this status
    .department = Only threads of this department
    .consult = Only consultations, in order of arrival (the queue)
    .json = One JSON object per thread
help-show = Show a thread: messages, location, status history; saves photos
    .thread = The thread id (or an unambiguous prefix of it)
    .json = One JSON object
    .save = Save photos here (default: HOME/photos/THREAD/)
help-reply = Reply in a thread; staff can also set its status
    .thread = The thread id
    .text = The reply (optional with --template: added below the template's text)
    .template = Staff: start the reply with this reply template of the thread's department ("Textbaustein", see `org template list`)
    .photos = A photo to attach
    .status = New status (staff only)
    .reason = Why (required for resolved and rejected)
    .as_me = Staff: show your own name instead of the org's
help-assign = Move a thread to another department (staff): `assign THREAD DEPARTMENT` (or `--department DEPARTMENT`)
    .thread = The thread id
    .department = The new department
    .department_flag = The new department (the same as the positional argument)
help-reopen = Reopen a resolved or rejected report (the citizen who opened it): `reopen THREAD REASON` (or `--reason REASON`)
    .thread = The thread id
    .reason = Why
    .reason_flag = Why (the same as the positional argument)
help-consult = Ask an org during its consultation hours. Outside them the question is not sent: the hours are printed and the exit code is 3
    .handle = The org's handle
    .text = The question
help-chat = Chat live in a thread: prints incoming messages, sends each line
    .thread = The thread id
help-channel = Broadcast channels this device publishes to (staff publishers)
help-channel-create = Create a broadcast channel (publisher or admin staff devices)
    .name = The channel's name, e.g. "Amtsblatt"
    .description = A longer description
    .retention_days = Days the server keeps each post
    .replies = Whether followers may reply privately
    .org = The org, when this device is staff of several
    .json = One JSON object
    .out = Where to write the QR code (default: HOME/qr, under --home)
help-channel-list = List the channels this device publishes to
    .json = One JSON object per channel
help-channel-post = Post to a channel
    .channel = The channel id (or an unambiguous prefix)
    .text = The text
    .photos = A photo (JPEG, PNG, HEIC or WebP; its metadata except the orientation is removed before it is encrypted)
help-channel-rotate = Give a channel a new key; old invite links stop working for new posts, so every follower must follow the new link. Asks first on a terminal; scripts must add --yes
    .channel = The channel id
    .out = Where to write the QR code (default: HOME/qr, under --home)
    .json = One JSON object
    .yes = Rotate without asking (required without a terminal)
help-follow = Follow a channel with its invite link (no account needed)
    .invite = The invite link (`stadtbote:channel:…`)
help-unfollow = Stop following a channel
    .channel = The channel id (or an unambiguous prefix)
help-channels = List the channels this home follows
    .json = One JSON object per channel
help-feed = Show new, verified posts of followed channels
    .channel = Only this channel
    .follow = Keep running and print new posts as they arrive
    .json = One JSON object per post or warning
help-reply-to = Reply privately to a channel post (opens a thread with the town)
    .channel = The channel id
    .post = The post number
    .text = The reply
help-group = Discussion groups: create (staff), invite, join, post, read, remove (moderators)
help-group-create = Create a discussion group (certified staff devices)
    .name = The group's name
    .org = The org, when this device is staff of several
help-group-invite = Print the group's current join link (any member)
    .group = The group id (or an unambiguous prefix, or its name)
help-group-join = Join a group with its link
    .link = The join link (`stadtbote:group:…`)
help-group-post = Post to a group
    .group = The group id
    .text = The text
help-group-read = Show the group's posts not shown before
    .group = The group id
    .json = One JSON object per post
help-group-remove = Remove a member and replace the join link (staff moderators)
    .group = The group id
    .member = Account id (or unique prefix) or display name seen in the group
help-groups = List the discussion groups this device is in (offline)
    .json = One JSON object per group
help-disappear = Make a thread disappear DAYS days from now, on every device and the server
    .thread = The thread id
    .days = Days from now (at least 1)
help-server-info = Show who runs the server, what it stores and for how long, and where its source code is (from the server's /privacy statement; no account needed)
    .json = The server's JSON statement, unchanged
help-account = Your rights over your account: see everything the server stores about it, or delete it
help-account-export = Show everything the server holds about this account
    .json = One JSON object
help-account-delete = Delete this account on the server and on this device, for good
    .yes = Confirm: the account, its devices and their waiting messages and uploads are deleted and cannot be restored
help-web-sign = Sign the web app's bundle (write its manifest and the release signature), or create a release key with --new-key
    .dir = The bundle directory (e.g. web/dist)
    .key = The release key's secret file
    .new_key = Create a new release key: the secret in FILE (mode 0600), the public half in FILE.pub
    .app_version = The app version (default: the build information's `version`, else this program's version)
    .build_info = Compiler and tool versions of the build (JSON object or name=value lines)
    .root = The file the server serves at /
    .json = One JSON object
help-web-verify = Check that a server serves exactly the signed web app: fetches it as a browser would and compares every file with the signed manifest. Exit code 0: genuine; 1: differs or not signed; 4: server not reached
    .url = The server's address, e.g. https://stadtbote.musterhausen.de
    .key = The release key to expect (64 hex digits or a .pub file; default: the project's)
    .json = One JSON object per check
    .watch = Repeat the check every SECONDS seconds and print one line per check
    .checks = With --watch: stop after N checks (default: never)
    .state = Remember the newest verified version in FILE, so that a rollback is noticed across runs
help-admin-batch = Run several admin commands within one login (one --otp code): one command per line of standard input, written as after `stadtbote admin` (e.g. `org list`); blank lines and `#` comments are skipped. Stops at the first failure, naming its line, with exit code 1. Example: stadtbote admin --otp CODE batch < commands.txt
help-admin-shell = An interactive admin prompt: run admin commands one after another within one login (one --otp code); `exit` or Ctrl-D leaves. The server ends the session after 5 minutes without a command
help-org-poster = Write a printable A4 poster for the notice board (PDF or SVG)
    .out = The file to write: FILE.pdf or FILE.svg
    .channel = The channel whose invite goes on the poster (id or unambiguous prefix, see `channel list`; default: the first channel this device created for the org)
    .no_channel = A poster with the fingerprint only, without a channel
help-org-info = Show any org's verified public profile: name, key fingerprint and how far this device trusts it, categories and their departments, consultation hours, live state and channels. Needs no admin rights and works before `stadtbote init` (then nothing is stored)
    .handle = The org's handle, e.g. goslar
    .json = One JSON object (fields below)
help-org-enroll-self = Make this device, which holds the org key, a certified staff device of its org (role admin, which includes publisher and clerk), so that it can create channels and discussion groups and answer consultations. `org claim` does this already; use it for an org claimed with an older version, or for another department
    .department = The department (default: the one consultations go to)

## Command-line parse errors (client-cli/src/parse_error.rs)
parse-error = error: { $message }
parse-unknown-argument = unknown option { $arg }
parse-unknown-command = unknown command { $command }
parse-missing-argument = missing: { $arg }
parse-missing-command = a command is missing
parse-invalid-value = invalid value { $value } for { $arg }
parse-value-validation = invalid value { $value } for { $arg }
parse-argument-conflict = { $arg } cannot be used together with { $prior }
parse-wrong-number-of-values = wrong number of values for { $arg }
parse-no-equals = { $arg } needs its value after an equals sign
parse-invalid-utf8 = an argument is not valid UTF-8 text
parse-valid-values = possible values: { $values }
parse-suggestion = did you mean: { $suggestion }
parse-help-hint = For more information, try '--help'.

## Durations and server-info (commands/org.rs, commands/server_info.rs)
duration-unknown-unit = unknown duration unit in { $text }; use s, m, h or d, e.g. 30d
duration-invalid = { $text } is not a duration like 30d, 12h, 90m or 3600s
duration-too-long = the duration { $text } is too long
server-url-scheme = server URL { $url } must start with ws:// or wss://
server-url-no-host = server URL { $url } has no usable host
server-info-unreachable = cannot reach the server at { $url }: { $reason }
server-info-timed-out = cannot reach the server at { $url }: timed out
server-info-too-large = the answer from { $url } is too large

## ---------------------------------------------------------------------------
## Issue 14 "German", client-side leftovers (branch s7-german)
## ---------------------------------------------------------------------------

## Sizes and `admin stats` / `admin backup` (client-cli/src/admin_output.rs)
size-bytes = { $count ->
        [one] { $formatted } byte
       *[other] { $formatted } bytes
    }
stats-title = Server statistics (aggregate counts, no ids)
stats-accounts = Accounts
stats-devices = Devices
stats-connected = Connected now
stats-queued = Messages being delivered
stats-stored = Stored data
stats-channels = Channels
stats-channel-posts = Channel posts
stats-no-orgs = No orgs yet.
stats-org = Org
stats-org-staff = Staff devices
stats-org-channels = Channels
backup-written = Backup written to { $file }
backup-size = Size
backup-sha256 = SHA-256
backup-encrypted = Encrypted
backup-encrypted-yes = yes (age)
backup-encrypted-no = NO
backup-written-at = Written at
backup-plaintext-warning = Warning: this backup is not encrypted; it holds the server's pepper, every account's shredding key and the admins' TOTP secrets. Keep it at least as safe as the server itself.

## Help texts: what clap would otherwise append in English (client-cli/src/help_text.rs)
help-value-default = [default: { $value }]
help-value-possible = [possible values: { $values }]
help-value-aliases = [aliases: { $aliases }]
help-value-env = [env: { $name }]
help-value-options = [OPTIONS]
help-flag-help-command = Print this message or the help of the given subcommand(s)
help-flag-help-command-argument = Print help for the subcommand(s)
after-org-info = { "" }JSON fields (stable; times in Unix milliseconds, UTC):
    { "  " }handle, org, name         the org's handle, id and name
    { "  " }fingerprint               the org key's fingerprint (compare with the town's poster)
    { "  " }verification              "verified" (the fingerprint was compared with `stadtbote verify`, or
    { "  " }                          this device holds the org key), "pinned" (pinned on first contact),
    { "  " }                          "first_seen" (seen for the first time now) or "rotated" (changed
    { "  " }                          now by a rotation the previously pinned key signed)
    { "  " }pinned                    whether this device keeps the key pinned (false without an account)
    { "  " }fingerprint_verified      whether the pinned key was compared with the poster
    { "  " }previous_fingerprint      the key pinned before, when verification is "rotated", else null
    { "  " }key_rotations             signed key rotations the org made
    { "  " }offline                   true when the server could not be reached (the cached profile)
    { "  " }profile_version, updated_at
    { "  " }categories                [{"{"}name, department{"}"}]
    { "  " }departments               every department the profile names
    { "  " }consult_department        the department consultations go to
    { "  " }timezone                  the time zone of the office hours
    { "  " }office_hours              [{"{"}department, slots: ["Tue 17:00-18:00", ...]{"}"}]
    { "  " }auto_reply                the org's message outside live sessions, or null
    { "  " }live, live_since          whether a consultation session is live, since when
    { "  " }channels                  ids of channels the profile lists (hex)
    { "  " }legal                     the Impressum and privacy notice, or null: {"{"}impressum, controller, dpo,
    { "  " }                          purposes, retention, recipients, rights{"}"} ("" where not given)
    { "  " }reply_templates           [{"{"}department, name, text{"}"}]

## Inner errors: what failed and what to do (client-cli/src/inner_error.rs,
## error_text.rs); the technical phrase in parentheses stays English
inner-mls-malformed = the encrypted data is damaged (malformed MLS data); ask the sender to send it again
inner-mls-invalid-key-package = a device offered keys that are not valid (invalid key package); it can be added once it runs a current version of stadtbote
inner-mls-invalid-credential = a member's device is not a valid Stadtbote device (invalid member credential); nothing was sent to it
inner-mls-rejected = an encrypted message failed its checks and was not accepted (MLS message rejected); ask the sender to send it again
inner-mls-unknown-group = this device does not have the keys of this conversation (unknown group); it gets them when a member of the conversation next sends a message
inner-mls-group-exists = this conversation already exists on this device (group already exists); run the command again
inner-mls-not-a-member = this device is no longer a member of this conversation (not a member of the group)
inner-mls-pending-commit = an earlier change to this conversation is not finished yet (pending commit); run the command again
inner-mls-nothing-to-commit = there is nobody to add or remove
inner-mls-corrupt-state = the encryption state stored on this device is damaged (corrupt MLS state); restore the home directory from a backup, or set this device up again
inner-mls-membership-mismatch = a member's change to the conversation does not do what it declares to the server, so it was refused (membership mismatch); tell the town if this persists
inner-mls-internal = the encryption library failed (internal MLS error); run the command again, and report the problem if it persists
inner-mls-other = encryption layer: { $detail }
inner-attachment-too-large = the photo is too large to encrypt ({ $size }; the limit is { $limit }); send a smaller photo
inner-attachment-invalid-key = the photo's key in the message is damaged; ask the sender to send the photo again
inner-attachment-decryption-failed = the photo could not be decrypted (damaged, altered or not the right key); ask the sender to send it again
inner-attachment-misuse = the photo could not be encrypted (internal error: attachment encryptor used out of order); run the command again
inner-attachment-other = attachment encryption: { $detail }
inner-channel-what = { $what ->
        [key] the channel key
        [invite-link] the channel's invite link
        [metadata] the channel's description
        [last-post] the channel's last post
        [post] a channel post
        [group-info] the group's join information
       *[group-link] the group's join link
    }
inner-channel-what-other = the channel's { $what }
error-channel-data = { $what } does not verify: { $reason }
inner-channel-undecryptable = it cannot be decrypted (wrong channel key, or it was altered); if the town gave the channel a new key, follow it again with the current invite link
inner-channel-forged = it is not signed by a certified publisher of the org, so it is not shown; tell the town
inner-channel-revoked = it is signed by a publisher device the org has revoked (lost or stolen), so it is not shown
inner-channel-out-of-order = post { $found } does not follow post { $expected } (reordered or inserted); run the command again later, and tell the town if this persists
inner-channel-malformed = it is damaged (malformed { $detail }); if you copied it, check that it is complete, otherwise tell the town
inner-io = { $kind ->
        [not-found] it does not exist
        [permission-denied] permission denied; check who owns it and its permissions
        [already-exists] it already exists; choose another name or move it away
        [storage-full] the disk is full; free some space and run the command again
        [read-only] the file system is read-only
        [is-a-directory] it is a directory, not a file
       *[not-a-directory] a part of the path is not a directory
    }
error-qr = cannot draw the QR code ({ $detail }); run the command again, and report the problem if it persists

## Other admin output (thread_output.rs, commands/org.rs)
admin-org-claimed = claimed
admin-org-unclaimed = unclaimed
admin-org-created-at = created { $time }
admin-org-suspended-mark = SUSPENDED
org-staff-revoked-unseen = { $device }  (certificate not seen on this device)  REVOKED
error-no-data-dir = cannot determine a data directory for this user; pass --home DIR

## Reasons for a lost connection or an unexpected answer (error_text.rs)
reason-unexpected-answer = unexpected answer { $name }
reason-no-answer = no answer to { $request } in time
reason-send-timed-out = sending { $request } timed out
reason-server-closed = the server closed the connection
reason-too-many-events = too many unsolicited events
reason-pow-interrupted = proof-of-work was interrupted
reason-other-account = the server logged this device into another account
reason-backup-too-long = the backup is longer than announced
reason-backup-mismatch = the downloaded backup does not match its size or SHA-256
reason-upload-chunks = the server claims more chunks than the upload has

## Kinds of one-time codes and the channel list (error_text.rs, channel_output.rs)
code-kind = { $what ->
        [staff-invitation] staff invitation code
        [link] link code
        [invitation] invitation code
        [org-admin] org-admin code
       *[admin-claim] admin claim code
    }
channel-published-line = { $channel }  { $name } ({ $handle })  key epoch { $epoch }, last post #{ $seq }

## Poster PDF with an embedded font (client-cli/src/poster.rs, poster/font.rs)
error-poster-not-in-font = the PDF's font (DejaVu Sans) has no glyph for the character { $character } in { $text }; change the text or write the poster as SVG, which leaves the font to the viewer (--out FILE.svg)
error-poster-font = the poster font { $font } cannot be embedded in the PDF: { $reason }

## Server refusals, by their reason code (issue 14 "German": codes on the wire; client-cli/src/refusal_text.rs).
## One id per RefusalReason: refusal- and the wire name with - for _. The texts equal the server's English ones.
refusal-unauthenticated = log in or register first
refusal-already-authenticated = this connection is already authenticated
refusal-auth-failed = authentication failed
refusal-pow-invalid = proof-of-work does not meet the difficulty
refusal-device-blocked = this device is blocked
refusal-device-removed = this device was removed from its account, or the account was deleted
refusal-admin-role-held = a device of this account is a server admin or an org's admin; hand the role over to another account before deleting this one
refusal-link-code-invalid = link code unknown, used or expired
refusal-code-unknown = unknown code
refusal-code-expired = code expired
refusal-code-used = code already used
refusal-invitation-unknown = unknown invitation code
refusal-invitation-expired = invitation code expired
refusal-invitation-used = invitation code already used
refusal-admin-claim-code-invalid = unknown or already used admin claim code
refusal-admin-claim-needs-secret = an admin claim needs a TOTP secret (update the stadtbote client)
refusal-second-factor-missing = this action needs a second factor (the current TOTP code)
refusal-second-factor-wrong-code = second factor refused: wrong code
refusal-second-factor-replayed = second factor refused: code already used, wait for the next one
refusal-second-factor-superseded = second factor refused: this code is older than the last one used (a later code was already accepted); wait for the next code
refusal-second-factor-not-set-up = second factor refused: no TOTP secret is set up for this admin
refusal-server-admin-only = only a server admin may do this
refusal-no-admin-role = this device has no admin role
refusal-org-admin-device-only = only the org's admin device may do this
refusal-publishers-only = only the org's publishers may do this
refusal-org-staff-only = only staff of an org can make a group of that org
refusal-moderators-only = only the group's moderators (staff of its org) can end a discussion group
refusal-org-not-claimed = the org has not been claimed yet
refusal-enrol-org-not-claimed = the org is not claimed
refusal-org-already-claimed = the org has already been claimed
refusal-org-suspended = this org is suspended by the server's operator
refusal-device-revoked = this device is on the org's revocation list
refusal-group-link-invalid = invalid or replaced group link
refusal-device-list-other-key = the device list is signed by another account key
refusal-unknown-account = no such account
refusal-unknown-group = no such group
refusal-not-a-member = this device is not a member of the group (or there is no such group)
refusal-unknown-org = no such org
refusal-unknown-blob = no such attachment, or it is not complete
refusal-unknown-channel = no such channel
refusal-handle-taken = this handle is already taken
refusal-rate-limited = too many requests
refusal-quota-exceeded = the account's attachment storage quota is used up; nothing was stored
refusal-listener-limit = too many connections listen without an account, from this address or on this server; retry later, or log in on this connection first
refusal-message-too-large = message exceeds the message limit
refusal-post-too-large = post exceeds the channel post limit (max_message_bytes minus metadata and framing)
refusal-group-too-large = group would exceed max_group_devices
refusal-too-many-listens = a connection may listen to at most max_channel_listens channels
refusal-too-many-backup-recipients = at most 16 recipients
refusal-storage-unavailable = storage unavailable; nothing was stored
refusal-unavailable = temporarily unavailable; retry later
refusal-internal = internal error
refusal-stale-epoch = another commit was already accepted for this epoch
refusal-stale-post = another post was stored first; fetch the newer posts and retry
refusal-org-changed-meanwhile = the org key, its rotation chain, the profile or the staff list changed meanwhile (versions must increase); fetch the org and try again
refusal-retention-out-of-range = a retention period must be between 60 seconds and ten years
refusal-retention-whole-days = this retention period is counted in whole days
refusal-retention-unknown-kind = unknown retention kind (envelopes, attachments, uploads, link-codes, org-claim-codes, channel-posts-max, audit)
refusal-org-name-invalid = the org name must be 1-100 characters without control characters
refusal-channel-retention-out-of-range = retention_days must be between 1 and max_channel_retention_days
refusal-invitation-expiry-invalid = the invitation must expire in the future and within max_invite_ttl_secs
refusal-plaintext-backup-refused = refusing to write an unencrypted backup: it would hold the pepper, every account's shredding key and the admins' TOTP secrets. Add an age recipient (`stadtbote-server backup-key generate --out KEYFILE` on a machine other than the server, then `backup_recipients` in the server configuration or `--recipient age1…`), or pass --insecure-plaintext
refusal-backup-recipient-invalid = a recipient is not an age1… public key
refusal-backup-unknown = unknown backup
refusal-backup-unknown-or-unfinished = unknown or unfinished backup
refusal-backup-not-finished = the backup is not finished
refusal-request-not-supported = request not supported by this server
refusal-admin-action-not-supported = admin action not supported by this server
refusal-push-not-enabled = this server sends no push notifications (none configured)
refusal-push-endpoint-not-allowed = this push service is not on the server's list of allowed push services
refusal-push-subscription-invalid = invalid push subscription (endpoint URL, p256dh key or auth secret)

## The privacy statement's retention table (issue 14 "German": keys on the wire; `server-info`, `admin retention show`).
## privacy-item-KEY and privacy-retention-KEY for each stored row's key, privacy-never-KEY for each
## never-stored row, privacy-period-KIND for each retention period; the texts equal the server's English ones.
privacy-operator = Operator:     { $value }
privacy-contact = Contact:      { $value }
privacy-source-code = Source code:  { $value }
privacy-not-configured = not configured by the operator
privacy-stored-heading = Stored, and for how long:
privacy-stored-row = { $item }: { $retention }
privacy-never-heading = Never stored: { $items }
privacy-retention-heading = Retention in force:
privacy-periods-heading = Retention periods:
privacy-period-row = { $kind }: { $secs } s ({ $what }; set by { $source })
privacy-period-line = { $kind } { $secs } s  ({ $what }; set by { $source })
privacy-source-config = config
privacy-source-admin = admin
privacy-duration-secs = { $secs } seconds
privacy-duration-minutes = { $secs } seconds ({ $minutes } minutes)
privacy-duration-days = { $secs } seconds ({ $days } days)
privacy-item-accounts = accounts
privacy-retention-accounts = until the account is deleted
privacy-item-devices = devices
privacy-retention-devices = until the device or its account is deleted
privacy-item-key-packages = key packages
privacy-retention-key-packages = one-time packages until claimed by someone starting a conversation; the last-resort package until the device replaces it
privacy-item-groups = groups
privacy-retention-groups = while the group exists
privacy-item-group-expiry = group expiry
privacy-retention-group-expiry = while the group exists
privacy-item-group-join-info = group join info
privacy-retention-group-join-info = while the group exists; replaced when a member stores a new one
privacy-item-envelopes = envelopes
privacy-retention-envelopes = deleted as soon as the receiving device acknowledges it; undelivered envelopes are deleted after { $secs }
privacy-item-link-codes = link codes
privacy-retention-link-codes = until used, at most { $secs }
privacy-item-device-lists = device lists
privacy-retention-device-lists = until the account publishes a newer list or is deleted
privacy-item-link-slots = link slots
privacy-retention-link-slots = until taken, at most { $secs }
privacy-item-audit-log = audit log
privacy-retention-audit-log = { $secs }
privacy-item-server-admins = server admins
privacy-retention-server-admins = until the admin is removed
privacy-item-admin-and-org-claim-codes = admin and org claim codes
privacy-retention-admin-and-org-claim-codes = the admin claim code until used; org-admin codes until used or expired (at most { $secs }), the record one further lifetime so that late attempts are told the code expired
privacy-item-organisations = organisations
privacy-retention-organisations = while the organisation exists
privacy-item-org-profiles = org profiles
privacy-retention-org-profiles = until replaced by a newer version
privacy-item-staff-certificates = staff certificates
privacy-retention-staff-certificates = while the organisation exists; revoked and expired certificates are no longer shown
privacy-item-staff-invitations = staff invitations
privacy-retention-staff-invitations = until it expires (at most { $secs } after it was issued), the record one further lifetime so that late attempts are told the code expired
privacy-item-revocation-lists = revocation lists
privacy-retention-revocation-lists = until replaced by a newer version
privacy-item-attachments = attachments
privacy-retention-attachments = deleted { $secs } after the upload finished; unfinished uploads after { $upload_secs }
privacy-item-channels = channels
privacy-retention-channels = while the channel exists
privacy-item-second-factor-secrets = second-factor secrets
privacy-retention-second-factor-secrets = until the admin is removed (`stadtbote-server admin-reset`) or the org's second factor is reset or turned off
privacy-item-shredding-keys = shredding keys
privacy-retention-shredding-keys = the pepper while the server exists; an account's key until the account is deleted
privacy-item-staged-backups = staged backups
privacy-retention-staged-backups = deleted after the download, at the latest after { $secs }
privacy-item-backups = backups
privacy-retention-backups = a deleted account stays in the archives made before its deletion until they are rotated out: at most { $secs } ({ $daily } daily and { $weekly } weekly archives are kept)
privacy-item-channel-posts = channel posts
privacy-retention-channel-posts = deleted after the channel's retention, which the org sets per channel, at most { $days } days ({ $secs })
privacy-never-ip-addresses = IP addresses
privacy-never-display-names = display names
privacy-never-message-content = message content
privacy-never-phone-numbers = phone numbers, e-mail addresses and address books
privacy-never-senders = senders of stored messages
privacy-never-follower-lists = channel subscriber and follower lists
privacy-never-read-receipts = read receipts
privacy-never-analytics = per-reader analytics
privacy-period-envelopes = encrypted messages waiting for delivery
privacy-period-attachments = encrypted attachments after upload
privacy-period-uploads = unfinished attachment uploads
privacy-period-link-codes = codes for linking a new device
privacy-period-org-claim-codes = one-time codes for claiming an org
privacy-period-channel-posts-max = broadcast channel posts (longest a channel may choose)
privacy-period-audit = audit log of admin actions (pseudonymised)
privacy-period-staff-invitations = staff invitation records: valid at most max_invite_ttl_secs, deleted one further lifetime after they expire
privacy-period-envelope-log-segments = bytes of acknowledged or deleted envelopes stay in their envelope-log segment file about this long (longer while an older envelope still queued keeps the segment)
privacy-period-staged-backups = online backups staged on the server for download (deleted after the download, at the latest after this)
privacy-period-backups = nightly backup archives: how long a deleted account survives in them (backup_keep_daily, backup_keep_weekly)

## ClientError::Invalid: what was given and why it was refused
## (client-cli/src/invalid_input.rs), and `admin audit` (commands/audit.rs)
invalid-what = { $what ->
        [text] text
        [department] department
        [own-enrolment] staff enrolment of this device
        [office-hours] office hours
        [handle] handle
        [org-key-file] org key file
        [org-key] org key
        [category] category
        [channel-name] channel name
        [retention] retention
        [post] post
        [post-number] post number
        [group-name] group name
        [member] member
        [device-id] device id
       *[device] device
    }
invalid-reason-empty = it is empty
invalid-reason-must-not-be-empty = must not be empty
invalid-reason-at-least-one = must be at least 1
invalid-reason-at-least-one-day = it must be at least 1 day
invalid-reason-location = { $problem } (expected LAT,LON in degrees, e.g. 51.9061,10.4291)
invalid-location-problem = { $what ->
        [missing-comma] missing comma
        [latitude-not-a-number] latitude is not a number
        [longitude-not-a-number] longitude is not a number
        [latitude-range] latitude must be between -90 and 90
       *[longitude-range] longitude must be between -180 and 180
    }
invalid-reason-goes-with-status = it goes with --status
invalid-reason-only-staff-on-behalf = only staff reply on behalf of the org
invalid-reason-already-with = the thread is already with { $department }
invalid-format = { $what ->
        [handle] invalid handle (2-32 of a-z, 0-9, -)
        [department] invalid department (1-64 of a-z, 0-9, -, _)
       *[office-hours] invalid office hours (expected e.g. "Tue 17:00-18:00")
    }
invalid-reason-slot = { $slot }: { $reason }
invalid-reason-no-slot = give at least one slot, e.g. "Tue 17:00-18:00"
invalid-reason-other-key-held = this device already holds another key for { $handle }
invalid-reason-not-pinned-key = its key is not the key this device pinned for { $handle }
invalid-reason-server-key-not-ours = the server's key for { $handle } is not this device's org key; fetch the org again or import the current key
invalid-reason-category-format = 1-64 characters without control characters or surrounding spaces
invalid-reason-no-such-category = { $name } does not exist
invalid-reason-no-such-post = { $channel } has no post #{ $seq }
invalid-reason-name-length = must be 1 to { $max } characters
invalid-reason-own-account = a moderator cannot remove their own account
invalid-reason-not-a-device-id = { $text } is not a device id
invalid-reason-already-approved = the device is already approved
invalid-reason-no-pending-enrolment = no pending enrolment of this device is in the org directory
audit-accept-gap-needs-verify = --accept-gap only applies to a verification: stadtbote admin audit --verify --accept-gap
audit-unreadable-entry = { $seq } (unreadable entry)
audit-verified-range = audit log verified: checked seq { $from } to { $to } ({ $entries } entries)
audit-verified-empty = audit log verified: no entries to check
audit-anchor = entries up to seq { $seq } were removed by retention; the chain starts from that entry's hash { $hash }
audit-continues = it continues from the head pinned at seq { $seq } by the last verification{ $when }: { $hash }
audit-continues-when = {" "}({ $time })
audit-gap-accepted = not checked: seq { $from } to { $to }, removed after the head pinned at seq { $seq } ({ $hash }); the gap was accepted with --accept-gap, so from here on this is trust on first use again
audit-first-use = trust on first use: no earlier verification of this server is pinned on this device, so the entries are taken as the server shows them; from now on the log must continue from the head pinned now
audit-pinned-head = pinned head: seq { $seq } { $hash } (before: seq { $before })
audit-pinned-head-first = pinned head: seq { $seq } { $hash } (before: none)
audit-pinned-head-none = pinned head: none (the log is empty)
audit-verify-often = the server removes audit entries older than audit_retention_days (see `stadtbote admin retention show`): verify at least that often, or entries made in between can be removed unchecked
audit-failed = audit log verification failed at seq { $seq }: { $error }; { $kept }
audit-failed-kept-pin = this device keeps the head pinned at seq { $seq }
audit-failed-nothing-pinned = nothing was pinned
audit-pruned-when = {" "}on { $time }
audit-pruned-retention = {" "}({ $days } days on this server)
audit-pruned-recent = The last verification was { $days } day(s) ago, sooner than entries are removed: honest pruning cannot explain this, so treat the log as rewritten and the server as compromised.{" "}
audit-pruned-old = The last verification was { $days } day(s) ago, longer than entries are kept: this may be honest pruning, but it cannot be proven.{" "}
audit-pruned-past-pin = audit log rewritten or pruned past the last verification: this device pinned seq { $pin }{ $when }, but the server's log now starts after seq { $cut } and claims that everything up to it was removed by retention, so seq { $first } to { $cut } cannot be checked. The server removes audit entries older than audit_retention_days{ $retention }; a gap between two verifications longer than that cannot be proven honest. { $judgement }Nothing was pinned. Compare the pinned head with other admins' and with a backup of the server's data; to accept the gap and check the log from now on as on first use, run: stadtbote --otp CODE admin audit --verify --accept-gap
audit-pin-not-hex = { $file } is damaged (the pin of seq { $seq } is not hex); restore it from a backup
audit-pins-damaged = { $file } is damaged: { $reason }
audit-pins-unreadable = cannot read { $file }: { $reason }
audit-chain-changed = audit entry { $seq } was changed
audit-chain-missing = audit entry { $seq } is missing
audit-chain-reordered = audit entry { $seq } is out of order
audit-chain-broken-link = audit entry { $seq } does not link to the entry before it
audit-chain-head-mismatch = the reported head { $seq } does not match the log
audit-chain-pinned-missing = the pinned head { $seq } is missing: the log was truncated
audit-chain-pinned-different = entry { $seq } differs from the pinned head: the log was rewritten
audit-chain-pruned-past-pin = the log starts after seq { $anchor } but the pinned head is seq { $pinned }: rewritten or pruned past the last verification
devices-not-a-device-id = { $device } is not a device id (see `stadtbote device list`)

## web-sign and web-verify (issue 17: the signed web app and its independent verifier; commands/web.rs)
web-sign-io = cannot read or write { $path }: { $reason }
web-sign-key-exists = { $path } already exists; a release key is never overwritten (choose another file name)
web-sign-not-a-key = { $path } is not a web release secret key (create one with: stadtbote web-sign --new-key FILE)
web-sign-key-too-open = { $path } can be read by other users; restrict it with: chmod 600 { $path }
web-sign-bad-file = { $path } cannot be part of the web app (a symbolic link, or a name with characters a manifest does not allow); remove or rename it
web-sign-bad-build-info = { $path } is not build information (a JSON object of strings, or name=value lines)
web-sign-manifest = the manifest cannot be made: { $reason }
web-sign-key-created = Release key created: { $path } (secret; mode 0600)
web-sign-key-public = Public half: { $path } (configure it as web_release_key, or give it to web-verify --key)
web-sign-key-keep-offline = Keep the secret file offline and backed up: whoever has it can sign a web app that every check accepts.
web-sign-usage = web-sign needs the bundle directory and --key FILE: stadtbote web-sign DIR --key FILE (or --new-key FILE to create a key)
web-sign-signed = { $count ->
    [one] Signed { $count } file of version { $version } in { $dir }.
   *[other] Signed { $count } files of version { $version } in { $dir }.
}
web-verify-label-fingerprint = Fingerprint (Prüfsumme): { $value }
web-verify-label-key = Signed with: { $value }
web-verify-label-build = Build: { $name } { $value }
web-verify-key-release = the Stadtbote release key { $fingerprint }
web-verify-key-own = a town's own key { $fingerprint }
web-verify-bad-key = { $key } is neither a release key (64 hex digits) nor a file holding one
web-verify-bad-url = { $url } is not a server address; give it as https://HOST (or http://HOST:PORT)
web-verify-state-damaged = { $path } is damaged; remove it (the next check records the version it verifies)
web-verify-ok = { $count ->
    [one] OK: { $url } serves the signed web app, version { $version } ({ $count } file compared byte for byte).
   *[other] OK: { $url } serves the signed web app, version { $version } ({ $count } files compared byte for byte).
}
web-verify-differs = { $count ->
    [one] FAIL: { $url } serves a web app that differs from its signed manifest (version { $version }, fingerprint { $fingerprint }), { $count } difference:
   *[other] FAIL: { $url } serves a web app that differs from its signed manifest (version { $version }, fingerprint { $fingerprint }), { $count } differences:
}
web-verify-diff-missing = { $path }: listed in the manifest, but not served
web-verify-diff-extra = { $path }: served and loaded by the app, but not in the manifest
web-verify-diff-unlisted = { $path }: referenced by the app, but neither in the manifest nor served
web-verify-diff-other-origin = { $path }: the app loads this from another server
web-verify-diff-size = { $path }: { $actual } bytes served, the manifest says { $expected }
web-verify-diff-hash = { $path }: other content than signed (SHA-256 { $actual }, the manifest says { $expected })
web-verify-rolled-back = FAIL: { $url } serves version { $version }, older than version { $newest } verified before (an older release was put back)
web-verify-invalid = FAIL: the web app's manifest on { $url } does not verify (expected: signed with { $key }): { $reason }
web-verify-manifest-missing = the server serves no manifest (/stadtbote-web-manifest.json)
web-verify-manifest-unsigned = the manifest is not signed (no /stadtbote-web-manifest.sig)
web-verify-manifest-wrong-key = the manifest is signed by another key, { $found } (if the town builds its own app, give its key with --key)
web-verify-manifest-bad-signature = the signature does not match the manifest
web-verify-manifest-unknown-version = the manifest has format version { $version }, which this program does not know (update stadtbote)
web-verify-manifest-malformed = the manifest is malformed ({ $reason })
web-verify-net-connect = { $url }: { $reason }
web-verify-net-tls = { $url }: TLS failed: { $reason }
web-verify-net-timeout = { $url } did not answer in time
web-verify-net-too-large = { $url } sent more than a web app can be
web-verify-unreachable = NETWORK: the check could not be done, the server was not reached: { $reason } (this is not a sign of tampering; try again)
web-verify-watch-ok = { $time } OK { $fingerprint } version { $version }
web-verify-watch-differs = { $count ->
    [one] { $time } FAIL { $fingerprint } { $count } difference, first: { $first }
   *[other] { $time } FAIL { $fingerprint } { $count } differences, first: { $first }
}
web-verify-watch-rolled-back = { $time } FAIL { $fingerprint } version { $version } is older than version { $newest } seen before
web-verify-watch-invalid = { $time } FAIL - { $reason }
web-verify-watch-unreachable = { $time } NETWORK - { $reason }

## web: the web app in the browser (crate stadtbote-web). The app's Rust side
## renders these texts; the rows of the server's privacy statement come from
## privacy-item-KEY, privacy-retention-KEY and privacy-never-KEY.
web-app-name = Stadtbote
web-nav-label = Main navigation
web-nav-about = About this service
web-lang-label = Language
web-lang-de = Deutsch
web-lang-en = English
web-about-heading = About this service
web-about-intro = With Stadtbote you write to your town hall and the town hall writes to you: reports with a photo, questions in the consultation hour, news from the town.
web-about-encryption = Everything you write is encrypted on your device and decrypted only on the devices of the people responsible. Not even the town's server can read it.
web-about-no-number = You need no phone number and no e-mail address. This page loads nothing from other providers and sets no cookies.
web-about-coming = Reports, messages and the consultation hour in the browser follow in the next version of this app. Until then, use the command-line program "stadtbote".
web-server-heading = Who runs this service and what the server stores
web-server-loading = Loading the server's statement …
web-server-failed = The server's statement could not be loaded ({ $reason }). Reload the page; if that does not help, the server may be unreachable right now.
web-operator = Operator
web-contact = Privacy contact
web-source-code = Source code
web-public-url = Address of this service
web-stored-heading = What is stored, and for how long
web-never-heading = What is never stored
web-limits-heading = Limits
web-limit-attachment = Largest file (such as a photo): { $size }
web-limit-quota = Storage for files per account: { $size }
web-size-mib = { $mib } MiB
web-size-bytes = { $bytes } bytes
web-build-heading = This app
web-build-version = Version
web-build-rustc = Compiler
web-build-wasm-bindgen = wasm-bindgen
web-build-unknown = unknown
web-build-failed = The build information of this app could not be loaded ({ $reason }).
web-not-found-heading = Page not found
web-not-found-text = The app does not know this address.
web-back-home = To the start page
web-footer = End-to-end encrypted. No phone number, no advertising, no third parties.
web-error-http = the server answered { $status }
web-error-network = no connection to the server
web-error-format = unexpected answer from the server

## s9-a11y: language, Easy Read, accessibility of the web app (issue 16,
## items 7 and 8). The Easy Read texts (web-easy-*) are shown for
## "Leichte Sprache", a German standard; the English ones are kept for
## translators and follow the same rules (short sentences, one statement
## per sentence, hard words explained).
web-skip-link = Skip to content
web-lang-easy = Leichte Sprache
web-footer-nav-label = More pages
web-footer-accessibility = Accessibility statement
web-footer-about = About this service
web-route-announced = New page: { $title }
web-guide-heading = How to use Stadtbote
web-guide-switch = At the top of every page you choose the language: Deutsch, Leichte Sprache (easy German) or English. The app remembers your choice on this device only.
web-guide-keyboard = Everything works with the keyboard. The Tab key takes you to the next link or button, the Enter key opens it. The link "Skip to content" at the very top takes you straight to the page's text.
web-guide-times = The app shows times and dates in your device's time zone and format.
web-guide-statement = At the bottom of every page you find the accessibility statement. It says what is not yet accessible and where you can report barriers.
web-easy-heading = Stadtbote in Easy Read
web-easy-what-heading = What is Stadtbote?
web-easy-what-1 = Stadtbote is a program for messages.
web-easy-what-2 = With Stadtbote you write to the town hall.
web-easy-what-3 = The town hall are the people who work for your town.
web-easy-what-4 = For example you can write: There is a hole in the road.
web-easy-what-5 = You can also send a photo.
web-easy-what-6 = The town hall writes back to you.
web-easy-secret-heading = Your messages are secret
web-easy-secret-1 = Your messages are encrypted.
web-easy-secret-2 = Encrypted means: The message is like in a safe.
web-easy-secret-3 = Only the right people have the key to the safe.
web-easy-secret-4 = Only these people can read your message.
web-easy-secret-5 = You do not need a phone number.
web-easy-secret-6 = You do not need an e-mail address.
web-easy-use-heading = How to use this page
web-easy-use-1 = At the top of the page you can choose the language.
web-easy-use-2 = There is German, easy German and English.
web-easy-use-3 = You can use the page with the keyboard only.
web-easy-use-4 = The Tab key takes you to the next link.
web-easy-use-5 = The Enter key opens the link.
web-easy-use-6 = At the very bottom of the page there is a link. The link is called: Accessibility statement.
web-easy-use-7 = Accessible means: Everybody can use the page well. People with disabilities too.
web-easy-use-8 = The statement says what does not work well yet. And who you can write to.
web-easy-soon-heading = What comes next
web-easy-soon-1 = You cannot write a message on this page yet.
web-easy-soon-2 = That comes soon.
web-a11y-heading = Accessibility statement
web-a11y-intro = { $operator } wants everybody to be able to use this web app well. This statement applies to the Stadtbote web app at this address. It follows the German accessibility regulation (BITV 2.0) and the European Union's model statement.
web-a11y-operator-unknown = The operator of this service
web-a11y-status-heading = How accessible is the web app?
web-a11y-status = The web app is partially accessible. It meets the requirements of BITV 2.0 (WCAG 2.1, level AA) only in part: the content named below is not yet accessible.
web-a11y-gaps-heading = What is not yet accessible, and why
web-a11y-gap-dgs = The explanations on the start page are not yet available in German Sign Language. The videos have not been made yet.
web-a11y-gap-easy = Only the explanations on the start page are available in Leichte Sprache (easy German) so far.
web-a11y-gap-features = Reports, messages and the consultation hour are not yet in the web app; they follow in the next version and will be assessed then. The command-line program "stadtbote" is not covered by this statement.
web-a11y-method-heading = How we assessed it
web-a11y-method = This statement is based on a self-assessment of { $date }: every page was checked automatically in every language with axe-core { $axe }, in a browser at phone width (360 pixels) and computer width (1280 pixels). We also checked by hand that everything works with the keyboard, the focus order and the colour contrasts. The statement was last reviewed on { $date }.
web-a11y-feedback-heading = Report a barrier
web-a11y-feedback = Did you find a barrier, or do you need content in another form? Write to us. We will answer as soon as we can.
web-a11y-feedback-contact = Contact
web-a11y-contact-unknown = The operator has not given a contact yet.
web-a11y-enforcement-heading = Enforcement procedure
web-a11y-enforcement = If you get no answer or no satisfactory answer to your report, you can turn to the conciliation body. The procedure is free of charge, and you need no lawyer.
web-a11y-enforcement-body = Responsible body
web-a11y-enforcement-federal = Schlichtungsstelle nach dem Behindertengleichstellungsgesetz (§ 16 BGG), the conciliation body at the Federal Government Commissioner for Matters relating to Persons with Disabilities, Mauerstraße 53, 10117 Berlin
web-a11y-enforcement-land = For towns and municipalities, the conciliation or enforcement body of their federal state is often responsible. Ask the operator at the contact above which body it is.
web-a11y-loading = Loading the operator's details …

## s9-push (issue 18.5): the push subscription row of the privacy statement
## (server/src/privacy.rs)
privacy-item-push-subscriptions = push subscriptions
privacy-retention-push-subscriptions = until notifications are turned off, the push service says the subscription is gone, the device or account is deleted, or after { $secs } without use

## s9-links: app links (issue 16 item 4; client-cli/src/app_links.rs, the
## web app's link screens in web/src/views/link.rs)
error-app-link = this link cannot be used: { $reason }; copy the whole link (or scan the QR code) and try again
app-link-length = empty or too long to be a Stadtbote link
app-link-not-a-link = not a Stadtbote link (expected https://…/#v1/… or stadtbote:…)
app-link-no-fragment = the web address has no #v1/… part (was it cut off?)
app-link-unknown-version = unknown link version (this app reads v1; update it)
app-link-unknown-kind = unknown link kind (expected org, channel or group)
app-link-wrong-kind = this link is of kind { $found }; a link of kind { $expected } is needed here
app-link-malformed = the { $kind } link is damaged (cut off or mistyped)
app-link-url = The same link as a web address (opens the app in a browser; the QR code carries it):
app-link-org-url = The town's web address with its key (opens the app in a browser; the QR code carries it):
web-link-invalid-heading = This link cannot be used
web-link-invalid-next = Copy the whole link again, or scan the QR code once more.
web-link-town-heading = Town
web-link-town-loading = Loading the town and checking its key …
web-link-town = Town
web-link-handle = Handle
web-link-fingerprint = Key fingerprint
web-link-verified = verified
web-link-verified-text = The town's key matches the link (the QR code on its poster), and its profile is signed with that key.
web-link-pinned = This browser has stored the key: a different key for this town will be reported from now on.
web-link-already-pinned = This browser had stored this key before.
web-link-not-saved = This browser could not store the key (private window, another tab of this app, or no space); the check above still holds.
web-link-rotated = The town has changed its key since the poster was printed; the key in the link signed the change.
web-link-town-coming = Reports, consultation hours and the town's channels follow in this app soon.
web-link-warning-heading = Warning: this town could not be verified
web-link-warning-next = Do not send anything to this town here, and tell the town administration (by phone or in person) what you saw.
web-link-mismatch-unknown = The server knows no town with the handle { $handle }.
web-link-mismatch-other = The server answered for a different town.
web-link-mismatch-not-set-up = The town has not set up its key yet.
web-link-mismatch-key = The server shows a different key (fingerprint { $presented }) than the link. The link or the server is not genuine.
web-link-mismatch-profile = The town's profile is not signed with its key.
web-link-mismatch-pinned = This browser stored a different key for this town before (fingerprint { $pinned }), and that key did not sign a change.
web-link-failed = The town could not be loaded (no connection to the server). Reload the page to try again.
web-link-channel-heading = Invitation to a channel
web-link-channel-text = This link invites you to follow a channel of { $handle }.
web-link-channel-coming = Following a channel in the browser comes with the channel screen of this app. Until then: stadtbote follow LINK in the Stadtbote program.
web-link-group-heading = Invitation to a discussion group
web-link-group-text = This link lets you join a discussion group of { $handle }.
web-link-group-coming = Joining a group in the browser comes with the group screen of this app. Until then: stadtbote group join LINK in the Stadtbote program.

## s9-webcheck: the web app's start-up self-check (issue 17.4), what the
## About page shows of it, and installing the app (issue 16.9).
web-integrity-warning-heading = Warning: this app differs from the signed release
web-integrity-differs = These files of the app do not match the signed manifest:
web-integrity-invalid = This app's manifest is not validly signed: { $reason }.
web-integrity-more = and { $count } more
web-integrity-file-missing = { $path } is missing
web-integrity-file-unlisted = { $path } is not in the manifest
web-integrity-file-other-origin = { $path } is on another server
web-integrity-file-changed = { $path } has other content
web-integrity-error-missing = the server serves no manifest
web-integrity-error-unsigned = the manifest is not signed
web-integrity-error-wrong-key = the manifest is signed by another key ({ $key })
web-integrity-error-bad-signature = the manifest's signature is invalid
web-integrity-error-malformed = the manifest is damaged
web-integrity-advice = Do not enter anything confidential in this app for now. Please tell the town (contact under "About this service"): the server does not serve exactly the verified app.
web-integrity-verify = Check independently, from another computer: stadtbote web-verify { $url }
web-release-heading = Checking this app
web-release-checking = The app is checking its files …
web-release-unchecked = The app could not check its files ({ $reason }).
web-release-genuine = This app's files match the signed manifest.
web-release-differs = This app's files do NOT match the signed manifest (see the warning above).
web-release-invalid = This app's manifest is not validly signed: { $reason }.
web-release-version = Version (manifest)
web-release-fingerprint = Checksum (Prüfsumme)
web-release-signer = Signed by
web-release-signer-project = the Stadtbote project (release key { $key })
web-release-signer-operator = the operator's own key ({ $key })
web-release-limit = This check runs in your browser and comes from the same server as the app. A server that deliberately serves altered code can alter this check too; the reliable check is "stadtbote web-verify" from another computer.
web-keys-heading = Your keys stay in this browser
web-keys-browser-data = This device's keys live only in this browser's data. If you clear the browser data (or the browser clears it), the keys are lost and you can no longer read your earlier messages – unless you have linked another device to your account.
web-install-ios = On an iPhone or iPad: tap "Share", then "Add to Home Screen". Otherwise Safari deletes this app's data after 7 days without a visit, and with it this device's keys.
web-install-other = You can install Stadtbote like an app (in the browser's menu: "Install app" or "Add to Home screen"). The installed app also starts without a connection.

## s10-follow: the channel screen in the browser (issue 16, channels) –
## follow a channel without an account, read posts live, warnings for
## withheld or forged posts.
web-channel-heading = Channel
web-channel-from = A channel of { $handle }. Every post is decrypted in this browser and its signature checked.
web-channel-status-connecting = Connecting to the server …
web-channel-status-live = Connected – new posts appear here at once.
web-channel-status-reconnecting = Connection lost – reconnecting
web-channel-status-stopped = This channel cannot be shown.
web-channel-status-unfollowed = You no longer follow this channel. This browser has deleted its key.
web-channel-failed-unknown = This server does not have this channel (any more). Ask the town for the current link.
web-channel-failed-forged = Warning: what the server says about this channel does not match the town's key in the link. This may be an attack. Nothing is shown. Compare the fingerprint with the town's notice.
web-channel-failed-outdated = This link is outdated: the channel has a new key. Ask the town for the current link.
web-channel-failed-lists = Warning: the server withholds the town's current revocation list. It might be hiding a stolen device, so no posts are shown. Try again later.
web-channel-failed-storage = This browser cannot store the channel (private window or storage full).
web-channel-warning-withheld = Warning: the server withholds post { $posts } although it cannot have expired yet. Later posts are shown once it arrives. Tell the town if this persists.
web-channel-warning-forged = Warning: post { $posts } is not signed by { $handle } (forged) and is not shown.
web-channel-warning-altered = Warning: post { $posts } was altered or is damaged and is not shown.
web-channel-warning-rotated = The channel has a new key (from post { $posts }). Ask the town for the new link.
web-channel-warning-revoked = Warning: post { $posts } was signed with a revoked (lost or stolen) device of the town and is not shown.
web-channel-note-expired = Older posts ({ $posts }) have expired and were deleted.
web-channel-posts = Posts
web-channel-loading = Loading posts …
web-channel-none = No posts yet.
web-channel-post-label = Post { $seq }
web-channel-photo-alt = Photo { $number } of post { $seq }
web-channel-photo-loading = Loading photo { $number } …
web-channel-photo-failed = Photo { $number } cannot be shown.
web-channel-unfollow = Unfollow channel
web-followed-heading = Your channels

## s11-orgdata: the town's legal pages and reply templates in its signed
## profile (issue 16, items 5 and 6; client-cli/src/org_legal.rs,
## client-cli/src/commands/org_legal.rs, web/src/views/town.rs).
org-legal-impressum = Impressum (legal notice):
org-legal-controller = Privacy notice – controller:
org-legal-dpo = Privacy notice – data-protection officer:
org-legal-purposes = Privacy notice – purposes and legal basis:
org-legal-retention = Privacy notice – how long data is kept:
org-legal-recipients = Privacy notice – recipients:
org-legal-rights = Privacy notice – your rights:
org-legal-none = legal pages: none published (the org admin sets them with `stadtbote org legal set`)
org-legal-set = Legal pages of { $org } set:
org-legal-incomplete = the privacy notice needs at least --controller, --purposes and --retention (GDPR Art. 13); set the missing parts with `stadtbote org legal set`.
org-legal-shown = Citizens see them with `stadtbote org info { $handle }` and on the town's page in the web app.
org-legal-read-failed = cannot read { $file }
org-legal-not-utf8 = { $file } is not UTF-8 text; save it as UTF-8 and run the command again.
org-templates-none = reply templates: none
org-templates-heading = reply templates (department/name: text):
org-template-added = Reply template "{ $name }" for department { $department } added.
org-template-replaced = Reply template "{ $name }" for department { $department } replaced.
org-template-removed = Reply template "{ $name }" of department { $department } removed.
org-template-use = Staff use it with: stadtbote reply THREAD --template { $name }
org-template-no-text = give the template's text or --file FILE.
org-template-unknown = the thread's department { $department } has no reply template "{ $name }" (it has: { $names }); see `stadtbote org template list`.
org-template-not-found = department { $department } has no reply template "{ $name }" (it has: { $names }).
web-town-categories = Report categories
web-town-categories-text = You can report to the town about:
web-town-no-categories = The town has not published any report categories yet.
web-town-hours = Consultation hours
web-town-live = A consultation session is live now (since { $time }).
web-town-not-live = No consultation session is live right now.
web-town-hours-zone = Weekly, in the town's local time ({ $zone }):
web-town-no-hours = The town has not published consultation hours yet.
web-town-auto-reply = The town's answer outside the session
web-town-channels = Channels
web-town-channels-text = The town publishes { $count } channel(s). Follow one with the link or QR code the town gives out.
web-town-no-channels = The town does not publish any channels yet.
web-town-impressum = Impressum (legal notice)
web-town-no-impressum = The town has not published an Impressum in this app yet.
web-town-privacy = Privacy notice
web-town-privacy-text = The town's information under Art. 13 GDPR:
web-town-no-privacy = The town has not published a privacy notice in this app yet.
web-town-controller = Controller
web-town-dpo = Data-protection officer
web-town-purposes = Purposes and legal basis
web-town-retention = How long data is kept
web-town-recipients = Recipients
web-town-rights = Your rights
web-town-signed = Everything on this page comes from the town's profile signed with its key and checked in this browser; the server cannot change it.
web-town-report-coming = Sending reports from this app follows soon.
web-weekday-mon = Monday
web-weekday-tue = Tuesday
web-weekday-wed = Wednesday
web-weekday-thu = Thursday
web-weekday-fri = Friday
web-weekday-sat = Saturday
web-weekday-sun = Sunday

## s11-orgdata: help texts of `org legal`, `org template` and `reply --template`
help-org-legal = The town's Impressum and privacy notice (GDPR Art. 13) in its signed profile
help-org-legal-set = Set the town's Impressum and privacy notice (GDPR Art. 13) in its signed profile, each from a text file (UTF-8; an empty file removes the part). Give only the parts to change; the others stay. Citizens' apps show them from the verified profile
    .impressum = Impressum: who runs the service, address, contact, representative
    .controller = Controller (Art. 13(1)(a)): name, postal address, contact
    .dpo = Data-protection officer (Art. 13(1)(b)): contact
    .purposes = Purposes of the processing and its legal basis (Art. 13(1)(c))
    .retention = How long data is kept (Art. 13(2)(a))
    .recipients = Recipients of the data (Art. 13(1)(e))
    .rights = The citizens' rights, including the complaint to the supervisory authority (Art. 13(2)(b)-(d))
help-org-legal-show = Show the legal pages of the org's published profile
    .json = One JSON object
help-org-template = The departments' reply templates ("Textbausteine") in the signed profile
help-org-template-add = Add a reply template ("Textbaustein") for a department, or replace the one of that name; staff use it with `reply THREAD --template NAME`
    .name = Its short name, e.g. erledigt (1-32 of a-z, 0-9, -, _)
    .department = The department whose staff use it, e.g. bauhof
    .text = The reply text (or --file)
    .file = Read the reply text from this file (UTF-8)
help-org-template-list = List the reply templates of the org's published profile
    .department = Only this department's
    .json = One JSON object per template
help-org-template-remove = Remove a reply template
    .name = Its name
    .department = Its department
