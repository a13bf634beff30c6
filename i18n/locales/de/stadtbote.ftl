# Stadtbote — deutscher Katalog (die Referenz: Deutsch zuerst).
#
# Jede Nachricht hier steht mit derselben Id und denselben Argumenten auch
# in en/stadtbote.ftl (ein Unit-Test prüft das).
# Wie man eine Nachricht hinzufügt: siehe i18n/README.md.

## Zeilen, in die die CLI jeden Fehler und jede Warnung setzt

error-line = Fehler: { $message }
warning-line = Warnung: { $message }
note-line = Hinweis: { $message }

## Status eines Vorgangs (in --json und auf der Kommandozeile bleiben sie englisch)

status-open = eingegangen
status-acknowledged = bestätigt
status-in-progress = in Bearbeitung
status-resolved = erledigt
status-rejected = abgelehnt
status-reopened = wieder eröffnet

## Arten von Vorgängen

thread-kind-report = Meldung
thread-kind-consult = Sprechstunde
thread-days = { $days ->
    [one] { $days } Tag
   *[other] { $days } Tage
}

## Nachrichten in der Warteschlange (commands/threads.rs)

kept-report = { $error }; die Meldung bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
kept-message = { $error }; die Nachricht bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
kept-question = { $error }; die Frage bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
not-sent-report = die Meldung wurde nicht gesendet; sie bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
not-sent-message = die Nachricht wurde nicht gesendet; sie bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
not-sent-question = die Frage wurde nicht gesendet; sie bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
kept-reply = { $error }; die Antwort bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
not-sent-reply = die Antwort wurde nicht gesendet; sie bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
unreachable-kept-message = der Server ist nicht erreichbar; die Nachricht bleibt im Postausgang und wird mit dem nächsten Befehl gesendet, der den Server erreicht
offline-working-locally = { $error }; es wird mit dem gearbeitet, was dieses Gerät schon hat
follow-answer = Die Antwort verfolgen Sie mit: stadtbote chat { $thread }

## stadtbote report / verify / enroll

report-sent = Meldung gesendet an { $org } ({ $handle }): Kategorie { $category }, Abteilung { $department }.
verify-verified = Der Org-Schlüssel von { $handle } stimmt überein und ist jetzt bestätigt:
verify-repinned = { $handle } hat seinen Org-Schlüssel gewechselt; der neue Schlüssel ist jetzt gespeichert und bestätigt:
enroll-enrolled = Angemeldet als { $role } von { $department } bei { $org } ({ $handle })
enroll-valid-until = Das Zertifikat gilt bis { $time }.
enroll-pending = Die Freigabe durch den Org-Admin steht noch aus: Die Apps der Bürgerinnen und Bürger nehmen dieses Gerät an, sobald das Gerät des Org-Admins es mit dem Org-Schlüssel gegengezeichnet hat (das geschieht bei dessen nächstem Befehl oder mit `stadtbote org approve { $device }`). Ein späterer Befehl hier sagt Ihnen, wenn es freigegeben ist.

## stadtbote threads

threads-none = Keine Vorgänge.
threads-status-invalid = { $status }; erlaubt sind open, acknowledged, in-progress, resolved, rejected oder reopened
threads-messages = { $count } Nachr.
threads-new = *neu*
threads-warning = [WARNUNG: siehe `stadtbote show`]

## stadtbote show

show-header = Vorgang { $thread } ({ $kind }) mit { $org } ({ $handle })
show-category = Kategorie: { $category } (Abteilung { $department })
show-department = Abteilung: { $department }
show-status = Status: { $status }
show-location = Ort: { $lat }, { $lon }
show-disappears = Verschwindet: { $time }
show-warning = WARNUNG: { $warning }
show-messages = Nachrichten:
show-no-name = (ohne Namen)
show-moved = (hat den Vorgang an die Abteilung { $department } abgegeben)
show-disappears-in = (der Vorgang verschwindet in { $days } Tag(en))
show-status-tag = Status: { $status }
show-not-accepted = (nicht angenommen)
show-photo = Foto ({ $mime }, { $size } Bytes): { $saved }
show-photo-saved = gespeichert unter { $path }
show-photo-not-saved = nicht gespeichert
show-history = Statusverlauf:
show-history-by = von { $name }
show-saved-photo = Foto gespeichert: { $path }
show-photos-not-saved = Fotos nicht gespeichert: { $error }
show-photo-not-saved-warning = ein Foto konnte nicht gespeichert werden: { $error }

## stadtbote reply / assign / reopen / disappear

reply-sent-status = Antwort gesendet; der Vorgang { $thread } ist jetzt { $status }.
reply-sent = Antwort an Vorgang { $thread } gesendet.
reply-unknown-status = unbekannter Status
assign-done = Vorgang { $thread } liegt jetzt bei der Abteilung { $department }.
reopen-done = Vorgang { $thread } wieder eröffnet.
disappear-at = Vorgang { $thread } verschwindet am { $time } auf jedem Gerät und auf dem Server.
disappear-in = Vorgang { $thread } verschwindet in { $days } Tag(en).

## stadtbote consult / chat

consult-closed = { $org } ({ $handle }) hält gerade keine Sprechstunde.
consult-no-hours = Es sind keine Sprechzeiten veröffentlicht.
consult-hours = Sprechzeiten ({ $timezone }):
consult-message-from = Nachricht von { $org }:
consult-not-sent = Ihre Frage wurde nicht gesendet; bitte fragen Sie während der Sprechzeiten noch einmal.
consult-queued = Ihre Anfrage steht in der Warteschlange; die Mitarbeitenden antworten in der Reihenfolge des Eingangs.
chat-start = Chat im Vorgang { $thread } mit { $org } ({ $handle }). Nachricht tippen und Enter drücken; /quit oder Ende der Eingabe beendet.
chat-not-sent = noch nicht gesendet: { $error }
chat-removed = Dieses Gerät wurde aus dem Vorgang entfernt.
chat-photos = { $count } Foto(s): siehe `stadtbote show`
chat-disappears-in = (dieser Vorgang verschwindet in { $days } Tag(en))

## stadtbote init / whoami / send / inbox / link / history / outbox (main.rs)

init-linked = Dieses Gerät ist mit dem Konto { $account } verbunden
init-waiting = Warte auf Freigabe: Führen Sie `stadtbote inbox` auf dem Gerät aus, das den Code angezeigt hat. Bis dahin kann niemand diesem Gerät schreiben.
init-registered = Konto { $account } registriert
init-share = Geben Sie Ihre Konto-Id weiter, damit andere Ihnen schreiben können:
label-account = Konto: { $value }
label-device = Gerät: { $value }
label-fingerprint = Fingerabdruck: { $value }
label-name = Name: { $value }
send-sent = gesendet { $id }
send-not-sent = die Nachricht wurde nicht gesendet; sie bleibt im Postausgang
inbox-thread-messages = { $count } neue Nachricht(en) in Vorgängen (siehe `stadtbote threads`)
inbox-none = Keine neuen Nachrichten.
link-intro = Um ein weiteres Gerät zum Konto { $account } hinzuzufügen, führen Sie auf diesem Gerät aus:
link-expires = Der Code gilt einmal und läuft am { $time } ab.
link-keep-secret = Behalten Sie ihn für sich: Er fügt Ihrem Konto ein Gerät hinzu. Dieses Gerät gibt das neue bei seinem nächsten Befehl frei (z. B. `stadtbote inbox`).
history-none = Keine Nachrichten.
outbox-empty = Der Postausgang ist leer.
notice-device-approved-here = Hinweis: dieses Gerät hat das Gerät { $device } (Schlüssel { $key }) für Ihr Konto freigegeben (Geräteliste Version { $version }).
notice-device-added = Hinweis: ein neues Gerät { $device } (Schlüssel { $key }) wurde Ihrem Konto hinzugefügt (Geräteliste Version { $version }). Wenn Sie das nicht waren, führen Sie `stadtbote device remove { $device }` aus.
history-delivered = zugestellt
history-sent = gesendet
history-sent-elsewhere = von einem anderen Gerät gesendet
history-you-to = Sie -> { $peer }
outbox-to = an { $peer } (noch nicht gesendet)
flush-sent-queued-report = die wartende Meldung wurde gesendet; ihr Vorgang ist { $thread }
flush-sent-queued-consult = die wartende Sprechstundenanfrage wurde gesendet; ihr Vorgang ist { $thread }
flush-sent-queued-message = eine wartende Nachricht im Vorgang { $thread } wurde gesendet
flush-resumed = Hochladen bei Teil { $chunk } von { $chunks } fortgesetzt
flush-refused-commit = eine Änderung der Mitglieder in der Unterhaltung { $group } wurde abgelehnt: der Commit fügt nicht die Geräte hinzu oder entfernt sie, die sein Absender dem Server angegeben hat, sodass die Zustellliste des Servers von der Gruppe abweichen würde. Danach gesendete Nachrichten dieser Unterhaltung können hier nicht gelesen werden; sagen Sie es dem Betreiber des Servers der Gemeinde.
flush-dropped = eine wartende Nachricht an { $peer } konnte nicht gesendet werden und wurde aus dem Postausgang entfernt: { $error }
flush-kept = { $count } Nachricht(en) bleiben vorerst im Postausgang: { $error }
flush-thread-dropped = eine wartende Nachricht ({ $kind }) im Vorgang { $thread } konnte nicht gesendet werden und wurde aus dem Postausgang entfernt: { $error }
flush-thread-kept = { $count } Nachricht(en) in Vorgängen bleiben vorerst im Postausgang: { $error }
notice-approved = Gerät { $device } ({ $role } von { $department }) von { $handle } mit dem Org-Schlüssel freigegeben (Mitarbeiterliste Version { $version })
notice-refused = die Anmeldung des Geräts { $device } bei { $handle } wurde nicht freigegeben: { $reason }
notice-now-approved = Die Anmeldung dieses Geräts als { $role } von { $department } bei { $handle } wurde vom Org-Admin freigegeben; die Apps der Bürgerinnen und Bürger nehmen es jetzt an.

## Kanäle, denen jemand folgt (commands/channels.rs, channel_output.rs)

follow-done = Sie folgen jetzt { $name } ({ $handle })
unfollow-done = Sie folgen { $name } ({ $handle }) nicht mehr
channels-none = Sie folgen keinem Kanal.
channels-last-post = letzter Beitrag #{ $seq }
feed-not-following = Sie folgen keinem Kanal; führen Sie zuerst `stadtbote follow EINLADUNG` aus
feed-none = Keine neuen Beiträge.
feed-photos = { $count } Foto(s)
reply-to-sent = Ihre private Antwort ging an { $handle } ({ $department }).

## Das Bürgermeisteramt: stadtbote org … (commands/org.rs)

org-claimed = Dieses Gerät ist jetzt der Org-Admin von { $org } ({ $handle }).
org-key-created = Der Org-Schlüssel wurde auf diesem Gerät erzeugt: { $file }
org-keep-copy = Bewahren Sie eine Kopie an einem sicheren Ort auf: stadtbote org export-key DATEI
org-fingerprint-intro = Fingerabdruck des Org-Schlüssels (drucken Sie ihn auf Aushänge und Ihre Website):
org-claim-staff = Dieses Gerät ist außerdem ein Mitarbeitergerät von { $handle }: Rolle Admin (mit Veröffentlichen und Sachbearbeitung), Abteilung { $department }, an die Sprechstunden gehen.
org-claim-can-publish = Es kann jetzt Kanäle (stadtbote channel create) und Diskussionsgruppen (stadtbote group create) anlegen.
org-claim-hours-hint = Sprechzeiten veröffentlichen mit: stadtbote org hours set "Tue 17:00-18:00"; eine Sprechstunde beginnen mit: stadtbote org hours live on
org-claim-staff-failed = Warnung: Dieses Gerät konnte noch nicht zum Mitarbeitergerät von { $handle } gemacht werden: { $reason }
org-exported = Der Org-Schlüssel von { $handle } wurde mit Ihrer Passphrase verschlüsselt nach { $file } geschrieben
org-export-import-hint = Auf einem anderen Gerät einlesen mit: stadtbote org import-key DATEI
org-imported = Der Org-Schlüssel von { $org } ({ $handle }) wurde eingelesen.
org-rotated-compromised = Der Org-Schlüssel von { $handle } wurde ersetzt und der alte widerrufen (Wechsel { $sequence }).
org-rotated-old-refused = Die Apps lehnen ab jetzt alles ab, was der alte Schlüssel signiert.
org-rotated-handover = Der Org-Schlüssel von { $handle } wurde an einen neuen Schlüssel übergeben (Wechsel { $sequence }).
org-rotated-reissued = { $count } Mitarbeiterzertifikat(e) unter dem neuen Schlüssel neu ausgestellt.
org-rotated-followed = Die Apps der Bürgerinnen und Bürger folgen dem signierten Wechsel ohne Warnung.
org-rotated-keep-copy = Bewahren Sie eine Kopie des neuen Schlüssels an einem sicheren Ort auf: stadtbote org export-key DATEI
org-rotated-fingerprint = Fingerabdruck des neuen Org-Schlüssels (drucken Sie ihn auf neue Aushänge und Ihre Website):
org-invitation = Einladung für { $role } der Abteilung { $department } bei { $handle }.
org-invitation-run = Auf dem Gerät der oder des Mitarbeitenden ausführen: stadtbote enroll CODE
org-invitation-expires = Der Code gilt einmal und läuft am { $expires } ab; das Zertifikat gilt bis { $valid }.
org-staff-none = Es sind noch keine Geräte von Mitarbeitenden angemeldet.
org-approved = Gerät { $device } als { $role } von { $department } bei { $handle } freigegeben (Mitarbeiterliste Version { $version }).
org-already-approved = Gerät { $device } ist schon ein freigegebenes Gerät von Mitarbeitenden von { $handle }.
org-revoked = Gerät { $device } widerrufen (Widerrufsliste Version { $version }).
org-revoked-removed = Aus dem Vorgang { $thread } entfernt.
org-2fa-enabled = Org-Admin-Aktionen von { $handle } brauchen jetzt einen zweiten Faktor.
org-2fa-pass = Geben Sie den aktuellen Code der App so mit: stadtbote --otp CODE org …
org-no-profile = noch kein Profil veröffentlicht
org-profile-header = { $org } ({ $handle }), Profilversion { $version }
org-profile-categories = Kategorien:
org-profile-hours = Sprechzeiten ({ $timezone }): { $hours }
org-profile-no-hours = keine
org-auto-reply = Automatische Antwort: { $reply }
org-profile-consultations = Sprechstunden-Anfragen gehen an: { $department }
org-live-since = Sprechstunde läuft seit { $time }
org-not-live = Keine laufende Sprechstunde
org-fingerprint-of = Org-Schlüssel von { $org } ({ $handle }); diesen Fingerabdruck vergleichen die Bürgerinnen und Bürger:
qr-png = QR-Code (PNG): { $file }
qr-svg = QR-Code (SVG): { $file }
org-category-added = Kategorie { $name } hinzugefügt: Meldungen gehen an die Abteilung { $department }.
org-category-moved = Kategorie { $name } verschoben: Meldungen gehen an die Abteilung { $department }.
org-category-removed = Kategorie { $name } entfernt.
org-profile-published-of = Profilversion { $version } von { $org } ({ $handle }) veröffentlicht.
org-hours-set = Sprechzeiten von { $org } ({ $timezone }): { $hours }
org-hours-department = Sprechstunden-Anfragen gehen an die Abteilung { $department }.
org-live-on = Die Sprechstunde von { $org } läuft.
org-live-off = Die Sprechstunde von { $org } ist beendet.
org-profile-published = Profilversion { $version } veröffentlicht.

## Mitarbeiterlisten (thread_output.rs)

staff-account = Konto { $account }
staff-until = bis { $time }
staff-revoked = WIDERRUFEN
staff-expired = abgelaufen
staff-unlisted = nicht auf der Mitarbeiterliste
staff-valid = gültig
staff-pending = wartet auf FREIGABE (stadtbote org approve { $device })
outbox-thread-entry = { $kind } im Vorgang { $thread } (noch nicht gesendet)

## Diskussionsgruppen (commands/groups.rs)

group-created = Diskussionsgruppe { $name } angelegt; ihren Link gibt `stadtbote group invite` aus
group-invite = Wer diesen Link hat, kann der Gruppe beitreten; geben Sie ihn nur den vorgesehenen Mitgliedern:
group-joined = beigetreten: { $name }
group-posted = veröffentlicht
group-removed = entfernt: { $account }
groups-none = Dieses Gerät ist in keiner Diskussionsgruppe.

## Geräte und Konto (commands/devices.rs, commands/account.rs)

devices-header = Geräte des Kontos { $account } (signierte Liste Version { $version }, Kontoschlüssel { $key }):
devices-this = (dieses Gerät)
devices-line = hinzugefügt { $added }  Schlüssel { $key }
devices-no-account-key = Dieses Gerät hat den Kontoschlüssel nicht: verknüpfen und entfernen Sie Geräte von einem Gerät aus, das ihn hat.
devices-removed = Gerät { $device } aus dem Konto { $account } entfernt (signierte Liste Version { $version }). Es kann sich nicht mehr anmelden; die Apps anderer verschlüsseln nicht mehr für es, wenn sie das nächste Mal schreiben.
account-delete-confirm = das Löschen des Kontos entfernt es, alle seine Geräte, ihre wartenden Nachrichten und Uploads vom Server und die Schlüssel und den Verlauf dieses Geräts aus { $home }; das kann nicht rückgängig gemacht werden. Bestätigen Sie mit `stadtbote account delete --yes`
account-deleted = Konto { $account } auf dem Server gelöscht: { $devices } Gerät(e), { $envelopes } wartende Nachricht(en), { $blobs } Upload(s), { $key_packages } KeyPackage(s)
account-deleted-here = von diesem Gerät gelöscht ({ $home }):

## Serververwaltung: stadtbote admin … (commands/org.rs)

admin-claimed = Dieses Gerät ist jetzt Server-Admin.
admin-needs-otp = Jeder Admin-Befehl braucht jetzt den aktuellen Code der App: stadtbote --otp CODE admin …
admin-create-org-hint = Eine Org legen Sie so an: stadtbote --otp CODE admin org create NAME --handle KURZNAME
admin-retention-set = Die Aufbewahrungsfrist für { $kind } beträgt jetzt { $secs } Sekunden.
admin-org-suspended = Die Org { $handle } ist gesperrt.
admin-org-resumed = Die Org { $handle } ist wieder freigegeben.
admin-org-2fa-reset = Der zweite Faktor der Org { $handle } ist abgeschaltet.
admin-org-2fa-none = Die Org { $handle } hatte keinen zweiten Faktor eingerichtet; nichts geändert.
admin-org-2fa-next = Ihr Org-Admin richtet jetzt mit stadtbote org 2fa enable ein neues Geheimnis ein (die alten Codes gelten nicht mehr).
admin-org-created = Org { $org } ({ $handle }) angelegt, Id { $id }.
admin-org-created-give = Geben Sie diesen Einmal-Code dem Admin der Org, der auf seinem Gerät `stadtbote org claim CODE` ausführt.
admin-code-expires = Der Code läuft am { $time } ab.
admin-no-orgs = Noch keine Orgs.
admin-blocked = { $devices ->
    [one] { $account } gesperrt ({ $devices } Gerät)
   *[other] { $account } gesperrt ({ $devices } Geräte)
}
admin-unblocked = { $devices ->
    [one] Sperre von { $account } aufgehoben ({ $devices } Gerät)
   *[other] Sperre von { $account } aufgehoben ({ $devices } Geräte)
}

## Fehler der Client-Bibliothek (client-cli/src/error.rs); Ids sind
## error- plus der Name der Variante

error-unreachable = der Server unter { $url } ist nicht erreichbar
error-server-busy = der Server unter { $url } hat die Verbindung abgelehnt: { $reason }; versuchen Sie es später noch einmal
error-invalid-link-code = der Verknüpfungscode ist unbekannt, schon benutzt oder abgelaufen; erzeugen Sie mit `stadtbote link` auf einem Gerät des Kontos einen neuen
error-unknown-account = unbekannte Konto-Id { $account }
error-invalid-account-id = { $text } ist keine gültige Konto-Id (erwartet: 26 Base32-Zeichen)
error-not-initialised = { $home } enthält keine Stadtbote-Identität; führen Sie zuerst `stadtbote init` aus
error-already-initialised = { $home } enthält schon eine Stadtbote-Identität
error-locked = ein anderer stadtbote-Befehl benutzt { $home }; versuchen Sie es noch einmal, wenn er fertig ist
error-photo-too-large = das Foto { $path } ist { $size } groß; erlaubt sind { $limit }
error-unsupported-photo = { $path } kann nicht gesendet werden: { $reason }
error-attachment-quota-exceeded = der Speicher des Servers für Anhänge dieses Kontos ist voll; versuchen Sie es noch einmal, wenn ältere Fotos abgelaufen sind
error-attachment-unavailable = der Anhang ist nicht mehr auf dem Server (Anhänge laufen ab); bitten Sie den Absender, ihn noch einmal zu senden
error-invalid = ungültige Angabe für { $what }: { $reason }
error-invalid-code-text = das ist kein gültiger Code ({ $what }); kopieren Sie ihn genau so, wie er ausgegeben wurde
error-not-server-admin = dieses Gerät ist kein Server-Admin; führen Sie `stadtbote admin claim CODE` mit dem Code aus dem Datenverzeichnis des Servers aus
error-forbidden = nicht erlaubt: { $reason }
error-second-factor-required = { $reason }; geben Sie --otp CODE an (den aktuellen Code Ihrer Authenticator-App) oder setzen Sie STADTBOTE_OTP
error-org-suspended = diese Org ist vom Betreiber des Servers gesperrt; ihre Dienste sind nicht verfügbar, bis sie wieder freigegeben ist
error-handle-taken = der Kurzname { $handle } ist schon vergeben; wählen Sie einen anderen
error-not-org-admin = dieses Gerät ist kein Org-Admin; führen Sie `stadtbote org claim CODE` aus
error-not-admin-of = dieses Gerät ist nicht der Admin von { $handle }
error-several-orgs = dieses Gerät verwaltet mehrere Orgs ({ $orgs }); wählen Sie eine mit --org HANDLE
error-unknown-org = auf diesem Server gibt es keine Org mit dem Kurznamen { $handle }
error-org-not-set-up = die Org { $handle } ist noch nicht eingerichtet (kein Org-Schlüssel oder Profil veröffentlicht)
error-org-key-changed = der Org-Schlüssel von { $handle } hat sich GEÄNDERT: gespeichert ist { $pinned }, der Server zeigt jetzt { $presented }; das kann ein Angriff sein. Es wurde nichts gesendet. Vergleichen Sie den Fingerabdruck auf dem Aushang der Gemeinde und führen Sie nur dann, wenn er den neuen Schlüssel zeigt, `stadtbote verify { $handle } FINGERABDRUCK` aus
error-fingerprint-mismatch = der Fingerabdruck stimmt NICHT mit dem für { $handle } gespeicherten Org-Schlüssel ({ $pinned }) überein; trauen Sie Nachrichten, die angeblich von { $handle } kommen, nicht, bis das geklärt ist
error-unknown-category = { $handle } hat keine Kategorie { $category }; gültige Kategorien: { $valid }
error-no-staff-enrolled = bei { $handle } ist kein Mitarbeitergerät der Abteilung { $department } eingerichtet, niemand dort könnte dies lesen; es wurde nichts gesendet. Der Org-Admin von { $handle } richtet eines ein mit `stadtbote org invite-staff --department { $department } --role clerk` (danach `stadtbote enroll CODE` auf jenem Gerät) oder macht sein eigenes Gerät dort zum Mitarbeitergerät mit `stadtbote org enroll-self --department { $department }`
error-staff-awaiting-approval = die Geräte der Abteilung { $department } bei { $handle } warten auf die Freigabe durch den Org-Admin (jedes Mitarbeitergerät braucht die Gegenzeichnung des Org-Schlüssels); die Nachricht bleibt in der Warteschlange und wird gesendet, sobald eines freigegeben ist
error-no-staff-reachable = kein Mitarbeitergerät der Abteilung { $department } ist gerade erreichbar: noch keines hat Schlüsselpakete auf dem Server (ein Mitarbeitergerät lädt sie bei jedem Befehl hoch, z. B. `stadtbote threads`)
error-unknown-thread = kein Vorgang { $thread } auf diesem Gerät (siehe `stadtbote threads`)
error-removed-from-thread = dieses Gerät gehört nicht mehr zum Vorgang { $thread }
error-not-in-department = dieses Gerät gehört nicht zur Abteilung { $department }, bei der der Vorgang { $thread } liegt
error-not-staff = nur Mitarbeitende von { $handle } können dies tun; richten Sie dieses Gerät mit `stadtbote enroll CODE` ein (einen Code erzeugt `stadtbote org invite-staff` auf dem Org-Admin-Gerät von { $handle })
error-photo-not-sent = ein Foto konnte nicht hochgeladen werden: { $reason }
error-invalid-invite-code = das ist kein gültiger Einladungscode
error-wrong-passphrase = falsche Passphrase, oder die Schlüsseldatei ist beschädigt
error-empty-passphrase = die Passphrase darf nicht leer sein
error-passphrase-mismatch = die Passphrasen stimmen nicht überein
error-unknown-channel = kein Kanal { $channel } auf diesem Gerät (siehe `stadtbote channels` oder `stadtbote channel list`)
error-outdated-invite = dieser Einladungslink ist veraltet: der Kanal hat einen neuen Schlüssel; fragen Sie die Gemeinde nach dem aktuellen Einladungslink
error-not-publisher = dieses Gerät ist kein zertifiziertes Veröffentlichungsgerät von { $handle }; bitten Sie den Org-Admin um `org invite-staff --role publisher` (auf dem eigenen Gerät des Org-Admins: `stadtbote org enroll-self`)
error-replies-off = { $channel } nimmt keine Antworten an
error-unknown-group = keine Diskussionsgruppe { $group } auf diesem Gerät (siehe `stadtbote groups`)
error-awaiting-approval = dieses Gerät wartet auf Freigabe: führen Sie `stadtbote inbox` auf dem Gerät aus, das den Verknüpfungscode angezeigt hat, und versuchen Sie es dann hier noch einmal
error-unknown-device = kein Gerät { $device } in der Geräteliste dieses Kontos (siehe `stadtbote device list`)
error-server = der Server hat die Anfrage abgelehnt: { $body }
error-status-needs-reason = der Status { $status } braucht --reason (eine Begründung)
error-status-staff-only = nur Mitarbeitende können einen Status setzen; Bürgerinnen und Bürger können nur eine erledigte oder abgelehnte Meldung wieder eröffnen (stadtbote reopen)
error-status-citizen-only = nur die Person, die den Vorgang eröffnet hat, kann ihn wieder eröffnen
error-status-not-allowed = der Status kann nicht von { $from } auf { $to } wechseln
error-photo-unreadable = das Foto { $path } kann nicht gelesen werden: { $reason }
error-corrupt-file = die lokale Datei { $file } ist beschädigt ({ $reason }); stellen Sie sie aus einer Sicherung wieder her oder verschieben Sie sie
error-removed-from-conversation = dieses Gerät gehört nicht mehr zur Unterhaltung mit { $account }
error-not-yet-added = die Unterhaltung mit { $account } besteht schon, und dieses Gerät ist ihr noch nicht hinzugefügt; das geschieht, wenn ein Mitglied der Unterhaltung das nächste Mal eine Nachricht sendet
error-commit-conflict = die Unterhaltung mit { $peer } hat sich ständig geändert; nach { $attempts } Versuchen aufgegeben
error-waiting-for-earlier-message = eine frühere Nachricht an dasselbe Konto ist noch nicht gesendet
error-not-connected = nicht mit dem Server verbunden
error-attachment-refused-too-large = der Server nimmt so große Anhänge nicht an ({ $size } verschlüsselt); sein Betreiber hat eine niedrigere Grenze gesetzt
error-attachment-corrupt = der Anhang ist nicht verwendbar: { $reason }
error-code-refused = der Code ({ $what }) wurde abgelehnt: { $detail } (Codes gelten einmal und laufen ab)
error-invalid-org-data = der Verzeichniseintrag von { $handle } lässt sich nicht prüfen: { $reason }
error-staff-list-rolled-back = das Verzeichnis von { $handle } wird abgelehnt: der Server bot { $offered } seiner Mitarbeiterliste an, aber dieses Gerät hat schon Version { $seen } gesehen; der Server verbirgt vielleicht Änderungen wie Widerrufe. Es wurde nichts gesendet; versuchen Sie es später noch einmal und sagen Sie es der Gemeinde, wenn es so bleibt
error-refuse-uncertified = Senden abgelehnt: das Gerät { $device } im Vorgang { $thread } hat kein gültiges Mitarbeiterzertifikat von { $handle }
error-member-awaiting-approval = noch nicht gesendet: das Gerät { $device } im Vorgang { $thread } ist ein Gerät von Mitarbeitenden von { $handle }, dessen Anmeldung auf die Freigabe durch den Org-Admin wartet (jedes Mitarbeitergerät braucht jetzt die Gegenzeichnung des Org-Schlüssels); die Nachricht bleibt in der Warteschlange und wird gesendet, sobald das Gerät des Org-Admins es freigegeben hat
error-key-package-mismatch = Senden abgelehnt: der Server gab für das Gerät { $device } ein KeyPackage heraus, das nicht zu seinem Mitarbeiterzertifikat von { $handle } passt
error-thread-conflict = der Vorgang hat sich ständig geändert; nach { $attempts } Versuchen aufgegeben
error-no-passphrase = keine Passphrase: setzen Sie { $env } oder führen Sie den Befehl in einem Terminal aus
error-not-an-export-file = das ist keine Stadtbote-Org-Schlüsseldatei
error-revocation-list-withheld = der Server hält die aktuelle Widerrufsliste von { $handle } zurück: dieses Gerät hat Version { $pinned } geprüft, der Server bot { $presented } an. Er verbirgt vielleicht ein widerrufenes (verlorenes oder gestohlenes) Gerät mit Veröffentlichungsrecht, deshalb werden keine Beiträge gezeigt. Versuchen Sie es später oder aus einem anderen Netz noch einmal und sagen Sie es der Gemeinde, wenn es so bleibt
error-posts-withheld = der Server hält Beiträge { $posts } zurück, obwohl sie jünger als die Aufbewahrungsfrist des Kanals sind; sie wurden nicht übersprungen, und spätere Beiträge warten auf sie: führen Sie `stadtbote feed` später noch einmal aus und sagen Sie es der Gemeinde, wenn es so bleibt
error-removed-from-group = dieses Gerät gehört nicht mehr zur Diskussionsgruppe { $group }
error-not-staff-anywhere = nur zertifizierte Mitarbeitende können Diskussionsgruppen anlegen; richten Sie dieses Gerät zuerst mit `stadtbote enroll CODE` ein (auf einem Org-Admin-Gerät: `stadtbote org enroll-self`)
error-group-link-refused = dieser Beitrittslink ist nicht (mehr) gültig; der Link der Gruppe wird ersetzt, wenn ein Mitglied entfernt wird, fragen Sie ein Mitglied nach dem aktuellen
error-group-info-outdated = die Beitrittsinformation der Gruppe ist veraltet; bitten Sie ein Mitglied, `stadtbote group invite` auszuführen
error-link-code-without-secret = diesem Verknüpfungscode fehlt der Teil, der auf Ihrem anderen Gerät erzeugt wurde; führen Sie dort `stadtbote link` noch einmal aus (mit dieser Version) und verwenden Sie den neuen Code
error-no-device-list = das Konto { $account } hat noch keine signierte Geräteliste veröffentlicht, daher kann keinem seiner Geräte vertraut werden; sie erscheint, sobald eines seiner Geräte eine aktuelle Version von stadtbote benutzt
error-no-account-key = dieses Gerät hat den Kontoschlüssel nicht; führen Sie das auf dem ersten Gerät des Kontos aus oder auf einem, das mit einer aktuellen Version verknüpft wurde (`stadtbote device list` zeigt die Geräte)
error-remove-own-device = das ist das Gerät, das Sie gerade benutzen; entfernen Sie es von einem anderen Gerät aus oder löschen Sie das ganze Konto mit `stadtbote account delete`
error-invalid-server-url = ungültige Server-Adresse { $url }: { $reason }
error-connection-lost = die Verbindung zum Server { $url } ist abgebrochen: { $reason }
error-protocol = der Server { $url } hat unerwartet geantwortet: { $reason }
error-io = { $file } kann nicht { $action ->
        [read] gelesen
        [write] geschrieben
        [create] angelegt
        [delete] gelöscht
        [remove] entfernt
        [open] geöffnet
        [lock] gesperrt
        [sync] auf die Platte geschrieben
        [find] gefunden
        [encode] kodiert
       *[other] verarbeitet
    } werden: { $source }
error-thread-id-taken = die Kennung des neuen Vorgangs ist schon vergeben
error-channel-conflict = der Kanal hat sich ständig geändert; nach { $attempts } Versuchen aufgegeben
error-group-conflict = die Gruppe hat sich ständig geändert; nach { $attempts } Versuchen aufgegeben
error-group-member-ambiguous = { $member } passt auf mehrere Mitglieder; geben Sie die Konto-ID an
error-unknown-group-member = kein Mitglied { $member } in dieser Gruppe (geben Sie eine Konto-ID oder einen in der Gruppe gezeigten Namen an)
error-device-list = die Geräteliste des Kontos { $account } wird abgelehnt: { $reason }. Der Server versucht möglicherweise, diesem Konto ein Gerät hinzuzufügen; an seine Geräte wurde nichts gesendet
error-plaintext-backup-refused = eine unverschlüsselte Sicherung wird nicht geschrieben: Sie enthielte den Pepper des Servers, den Löschschlüssel jedes Kontos und die TOTP-Geheimnisse der Admins, gelöschte Konten würden also wieder lesbar. Erzeugen Sie auf einem anderen Rechner als dem Server einen age-Schlüssel mit `stadtbote-server backup-key generate --out KEYFILE` (KEYFILE offline aufbewahren) und tragen Sie dann den ausgegebenen Empfänger age1… in `backup_recipients` der Serverkonfiguration ein oder geben Sie `--recipient age1…` an; um dennoch unverschlüsselt zu sichern, fügen Sie --insecure-plaintext hinzu

## Fotos, die Bürgerinnen, Bürger oder Mitarbeitende senden (metadata.rs,
## attachments.rs); sie folgen auf „DATEI kann nicht gesendet werden: “
## oder „das Foto DATEI kann nicht gelesen werden: “

photo-refused-format = es ist kein JPEG-, PNG-, HEIC- oder WebP-Foto; wandeln Sie es in JPEG um und versuchen Sie es noch einmal
photo-refused-jpeg-damaged = die JPEG-Datei ist beschädigt ({ $detail }); exportieren Sie das Foto noch einmal aus der App, mit der es aufgenommen wurde
photo-refused-jpeg-feature = die JPEG-Datei nutzt eine Funktion, aus der sich versteckte Daten nicht entfernen lassen; wandeln Sie sie in ein gewöhnliches JPEG um und versuchen Sie es noch einmal
photo-refused-png-damaged = die PNG-Datei ist beschädigt ({ $detail }); exportieren Sie das Bild noch einmal aus der App, mit der es erstellt wurde
photo-refused-png-feature = die PNG-Datei nutzt eine Funktion, aus der sich versteckte Daten nicht entfernen lassen; wandeln Sie sie in JPEG um und versuchen Sie es noch einmal
photo-refused-heic-damaged = die HEIC-Datei ist beschädigt ({ $detail }); exportieren Sie das Foto noch einmal oder wandeln Sie es in JPEG um
photo-refused-heic-feature = aus der HEIC-Datei lassen sich versteckte Daten nicht entfernen ({ $detail }); wandeln Sie sie in JPEG um und versuchen Sie es noch einmal
photo-refused-webp-damaged = die WebP-Datei ist beschädigt ({ $detail }); exportieren Sie das Bild noch einmal oder wandeln Sie es in JPEG um
photo-unreadable-missing = diese Datei gibt es nicht
photo-unreadable-permission = keine Berechtigung zum Lesen
photo-unreadable-not-a-file = das ist ein Verzeichnis oder Gerät, keine Datei
show-heic-hint-saved = das ist ein HEIC-Foto (iPhone): viele Bildbetrachter und Webbrowser können es nicht anzeigen; öffnen Sie die gespeicherte Datei mit der Fotos-App oder einem aktuellen Bildbetrachter, oder wandeln Sie sie in JPEG um
show-heic-hint-not-saved = das ist ein HEIC-Foto (iPhone): viele Bildbetrachter und Webbrowser können es nicht anzeigen; speichern Sie es mit `stadtbote show VORGANG --save VERZEICHNIS` und öffnen Sie es mit der Fotos-App oder einem aktuellen Bildbetrachter, oder wandeln Sie es in JPEG um

## stadtbote org info (org_info.rs; --json bleibt englisch)

org-info-fingerprint = Fingerabdruck: { $fingerprint }
org-info-verification = Prüfung: { $trust }
org-info-key-rotations = Schlüsselwechsel: { $count } (jeder vom vorherigen Schlüssel signiert)
org-info-offline = offline: der Server ist nicht erreichbar; das ist das Profil, wie es zuletzt auf diesem Gerät geprüft wurde
org-info-no-profile = Profil: noch keines veröffentlicht
org-info-no-categories = Kategorien: noch keine
org-info-categories = Kategorien:
org-info-category = { $name } -> Abteilung { $department }
org-info-consultations = Sprechstunden-Anfragen: Abteilung { $department }
org-info-no-hours = Sprechzeiten: keine veröffentlicht
org-info-hours = Sprechzeiten ({ $timezone }):
org-info-auto-reply = Automatische Antwort: { $reply }
org-info-live = Sprechstunde läuft: ja, seit { $since } (fragen mit: stadtbote consult { $handle } "FRAGE")
org-info-not-live = Sprechstunde läuft: nein (Anfragen werden während einer laufenden Sprechstunde beantwortet)
org-info-no-channels = Kanäle: keine veröffentlicht
org-info-channels = Kanäle:
org-info-profile-version = Profilversion { $version }, signiert { $time }
org-info-compare = vergleichen Sie ihn mit dem Aushang oder der Website der Gemeinde und führen Sie dann aus: stadtbote verify { $handle } "{ $fingerprint }"
org-info-trust-verified = bestätigt (der Fingerabdruck wurde verglichen, oder dieses Gerät hat den Org-Schlüssel)
org-info-trust-pinned = beim ersten Kontakt gespeichert, noch nicht verglichen; { $compare }
org-info-trust-first-seen-pinned = jetzt zum ersten Mal gesehen und auf diesem Gerät gespeichert; { $compare }
org-info-trust-first-seen-unpinned = jetzt zum ersten Mal gesehen, nicht gespeichert (dieses Gerät hat noch kein Konto: nach `stadtbote init` speichert der erste Befehl, der { $handle } kontaktiert, den Schlüssel); vergleichen Sie ihn mit dem Aushang oder der Website der Gemeinde
org-info-trust-rotated = durch einen Schlüsselwechsel geändert, den der vorherige Schlüssel ({ $previous }) signiert hat; jetzt gespeichert
org-info-trust-rotated-verified = durch einen Schlüsselwechsel geändert, den der vorherige Schlüssel ({ $previous }) signiert hat; jetzt gespeichert und weiterhin bestätigt
org-info-no-contact = der Server ist nicht erreichbar, und dieses Gerät hatte noch keinen Kontakt mit { $handle }; führen Sie den Befehl noch einmal aus, wenn der Server erreichbar ist

## stadtbote org claim / enroll-self / hours set / poster (commands/org.rs)

org-claim-not-staff-yet = die Org { $handle } ist übernommen, aber dieses Gerät ist noch nicht ihr Mitarbeitergerät; führen Sie aus: stadtbote org enroll-self
org-enroll-self-already = Dieses Gerät ist schon ein Mitarbeitergerät von { $handle }: Rolle Admin, Abteilung { $department }.
org-enroll-self-done = Dieses Gerät ist jetzt ein Mitarbeitergerät von { $handle }: Rolle Admin (mit Veröffentlichen und Sachbearbeitung), Abteilung { $department }.
org-hours-unstaffed = die Abteilung { $department } hat noch kein freigegebenes Mitarbeitergerät, daher können keine Sprechstunden-Anfragen gesendet werden; laden Sie eines ein mit `stadtbote org invite-staff --department { $department } --role clerk` (danach `stadtbote enroll CODE` auf jenem Gerät) oder machen Sie dieses Gerät dort zum Mitarbeitergerät mit `stadtbote org enroll-self --department { $department }`
poster-written = Das Aushang-Plakat von { $town } ({ $handle }) wurde nach { $file } geschrieben (A4 hoch, { $format }).
poster-channel-on-it = Kanal darauf: { $name } ({ $channel })
poster-no-channel-on-it = Kein Kanal darauf (--no-channel).
poster-fingerprint-on-it = Fingerabdruck darauf: { $fingerprint }
poster-no-channel-created = dieses Gerät hat keinen Kanal von { $handle } angelegt, daher gibt es keinen Einladungslink für das Plakat; legen Sie einen an mit `stadtbote channel create NAME` (auf dem Gerät einer oder eines Veröffentlichenden, und führen Sie `org poster` dort aus) oder geben Sie --no-channel an für ein Plakat nur mit dem Fingerabdruck
poster-channel-other-org = der Kanal { $channel } wurde für eine andere Org angelegt als die, die der Server jetzt { $handle } nennt; geben Sie --channel KANAL-ID eines aktuellen Kanals oder --no-channel an
poster-channel-not-of-org = der Kanal { $channel } gehört zu { $owner }, nicht zu { $handle }; geben Sie einen Kanal von { $handle } an oder lassen Sie --org weg
poster-no-org = dieses Gerät verwaltet keine Org und hat keinen Kanal angelegt; führen Sie `org poster` auf dem Gerät aus, das `channel create` ausgeführt hat, oder geben Sie --org KURZNAME --no-channel an für ein Plakat nur mit dem Fingerabdruck
poster-several-orgs = dieses Gerät hat Kanäle mehrerer Orgs angelegt ({ $orgs }); geben Sie --org KURZNAME an
error-poster-unknown-format = für { $file } ist unklar, welches Format geschrieben werden soll: der Dateiname muss auf .pdf oder .svg enden

## Kanäle, in denen dieses Gerät veröffentlicht (commands/channels.rs)

channel-list-none = Dieses Gerät veröffentlicht in keinem Kanal.
channel-posted = veröffentlicht als #{ $seq }
channel-created = angelegt
channel-rotated = mit neuem Schlüssel
channel-invite-header = Kanal { $name } { $what }: { $channel }
channel-invite-follow = Folgende führen `stadtbote follow LINK` mit diesem Einladungslink aus:
channel-rotate-named = des Kanals { $name } ({ $channel })
channel-rotate-unnamed = des Kanals { $channel }
channel-rotate-needs-yes = ein Schlüsselwechsel { $what } schneidet alle Folgenden ab: sie lesen keine neuen Beiträge, bis sie dem neuen Einladungslink folgen. Es wurde nichts geändert; um den Schlüssel aus einem Skript zu wechseln, geben Sie --yes an
channel-rotate-explain = Beim Schlüsselwechsel { $what } erhalten alle Folgenden keine neuen Beiträge mehr, bis sie dem neuen Einladungslink folgen, den dieser Befehl ausgibt (mit QR-Code); veröffentlichen Sie ihn dort, wo Ihre Folgenden den alten gefunden haben (Aushang, Website).
channel-rotate-ask = Den Schlüssel jetzt wechseln? [j/N]
channel-rotate-declined = der Schlüssel des Kanals wurde nicht gewechselt; es wurde nichts geändert

## stadtbote admin batch / shell (commands/admin_session.rs)

admin-session-unbalanced-quotes = ein Anführungszeichen ist nicht geschlossen
admin-session-nested = `batch` und `shell` können nicht innerhalb einer Sitzung ausgeführt werden
admin-session-ended = die Admin-Sitzung ist beendet: der Server hat die Verbindung geschlossen (er schließt Verbindungen, die länger als seine Leerlaufzeit still sind, in der Vorgabe 5 Minuten); beginnen Sie neu mit einem neuen Code: stadtbote --otp CODE admin shell (oder batch)
admin-batch-read-line = Zeile { $line } der Eingabe kann nicht gelesen werden: { $error }
admin-batch-line = Zeile { $line }: { $error }
admin-batch-stopped = Zeile { $line }: { $error }; dort angehalten ({ $ran } Befehl(e) davor ausgeführt)
admin-shell-intro = Admin-Eingabe: Tippen Sie Admin-Befehle wie nach `stadtbote admin` (z. B. `stats`, `org list`); `help` listet sie auf, `exit` oder Strg-D beendet. Die Sitzung endet nach 5 Minuten ohne Befehl.
admin-shell-read = die Eingabe kann nicht gelesen werden: { $error }


## TLS (tls_trust.rs): warum ein Zertifikat oder ein Verbindungsaufbau scheiterte

error-untrusted-certificate = TLS: dem Zertifikat des Servers wird nicht vertraut: { $reason } (Server { $url }; für die eigene CA einer Gemeinde geben Sie --ca-cert DATEI an)
error-tls = der TLS-Verbindungsaufbau mit dem Server unter { $url } ist gescheitert: { $reason }
error-ca-cert = das CA-Zertifikat { $path } kann nicht verwendet werden: { $reason }
tls-ca-missing = die Datei gibt es nicht
tls-ca-permission = die Datei kann nicht gelesen werden (keine Berechtigung)
tls-ca-unreadable = die Datei kann nicht gelesen werden
tls-ca-not-pem = es ist keine PEM-Zertifikatsdatei (BEGIN CERTIFICATE … END CERTIFICATE)
tls-ca-no-certificate = kein PEM-Zertifikat (BEGIN CERTIFICATE) gefunden
tls-ca-bad-certificate = ein Zertifikat darin kann nicht gelesen werden (ist es ein X.509-Zertifikat?)
tls-cert-unknown-issuer = es ist von keiner Zertifizierungsstelle signiert, der dieses Gerät vertraut
tls-cert-wrong-name = es ist für einen anderen Servernamen ausgestellt als den in der URL
tls-cert-expired = es ist abgelaufen
tls-cert-not-yet-valid = es ist noch nicht gültig (prüfen Sie Datum und Uhrzeit dieses Computers)
tls-cert-revoked = es wurde widerrufen
tls-cert-bad-signature = seine Signatur ist ungültig
tls-cert-malformed = es ist fehlerhaft aufgebaut
tls-cert-unsupported-algorithm = es ist mit einem Verfahren signiert, das dieses Programm nicht unterstützt
tls-cert-self-signed = es ist ein selbstsigniertes (CA-)Zertifikat, dem dieses Gerät nicht vertraut
tls-cert-wrong-usage = es ist nicht für einen TLS-Server bestimmt (Extended Key Usage)
tls-cert-failed = die Prüfung ist gescheitert
tls-not-tls = der Server spricht auf diesem Port kein TLS (für einen Server ohne TLS verwenden Sie ws://)
tls-refused = der Server hat die sichere Verbindung abgelehnt
tls-incompatible = der Server bietet keine TLS-Version und kein Verfahren an, das dieses Programm annimmt
tls-no-certificate = der Server hat kein Zertifikat vorgelegt
tls-failed = die Verbindung konnte nicht gesichert werden

## stadtbote assign / reopen: die Abteilung oder Begründung (main.rs)

assign-department-twice = die Abteilung wurde zweimal angegeben; geben Sie sie nur einmal an, entweder als `stadtbote assign VORGANG ABTEILUNG` oder mit --department ABTEILUNG
assign-department-missing = `assign` braucht die Abteilung: stadtbote assign VORGANG ABTEILUNG (oder --department ABTEILUNG)
reopen-reason-twice = die Begründung wurde zweimal angegeben; geben Sie sie nur einmal an, entweder als `stadtbote reopen VORGANG BEGRÜNDUNG` oder mit --reason BEGRÜNDUNG
reopen-reason-missing = `reopen` braucht eine Begründung: stadtbote reopen VORGANG BEGRÜNDUNG (oder --reason BEGRÜNDUNG)

## stadtbote org revoke / 2fa enable, admin claim (commands/org.rs)

org-revoke-not-staff = das Gerät { $device } hat kein Zertifikat von { $handle }
org-revoke-not-removed = es konnte jetzt nicht aus dem Vorgang { $thread } entfernt werden ({ $error }); jedes Mitglied entfernt es vor seiner nächsten Nachricht
second-factor-add = Fügen Sie diesen zweiten Faktor Ihrer Authenticator-App hinzu (er wird nur jetzt gezeigt und hier nicht gespeichert):
second-factor-secret = Geheimnis (Base32): { $secret }

## stadtbote org approve (commands/org.rs)

org-approve-refused = das Gerät { $device } wurde nicht freigegeben: { $reason }

## Eingabeaufforderungen

prompt-passphrase = Passphrase für die Org-Schlüsseldatei:
prompt-passphrase-repeat = Passphrase wiederholen:

## Hilfetexte (client-cli/src/help_text.rs): Nachricht help-PFAD ist der
## Beschreibungstext des Befehls PFAD (help allein: das Programm), ihre
## Attribute die Hilfe seiner Argumente nach Argument-Id.

help-heading-usage = Aufruf:
help-heading-arguments = Argumente
help-heading-options = Optionen
help-heading-commands = Befehle
help-value-command = BEFEHL
help-flag-help = Hilfe anzeigen
help-flag-version = Version anzeigen
help = Ende-zu-Ende-verschlüsselte Nachrichten für Gemeinden und ihre Bürgerinnen und Bürger
    .home = Verzeichnis mit den Schlüsseln und Nachrichten dieses Geräts
    .server = WebSocket-URL des Stadtbote-Servers
    .ca_cert = Zusätzliches CA-Zertifikat (PEM), dem für wss:// neben den eingebauten Wurzelzertifikaten vertraut wird, z. B. die eigene CA einer Gemeinde oder ein selbstsigniertes Serverzertifikat
    .otp = Code des zweiten Faktors (TOTP, aus Ihrer Authenticator-App) für Admin- und Org-Admin-Befehle; wird gleich nach der Anmeldung gesendet
    .lang = Sprache der Meldungen und der Hilfe: de oder en (Vorgabe: aus LC_ALL, LC_MESSAGES oder LANG; Englisch, wenn nicht gesetzt, C oder POSIX)
help-init = Dieses Gerät einrichten: ein neues Konto registrieren oder mit einem Verknüpfungscode einem Konto beitreten
    .name = Anzeigename, der mit Ihren Nachrichten mitgeschickt wird (nur die Empfänger sehen ihn)
    .link = Verknüpfungscode von `stadtbote link` auf einem Gerät eines bestehenden Kontos
help-whoami = Konto, Geräte-Id und Schlüssel-Fingerabdruck dieses Geräts anzeigen (offline)
    .json = Ein JSON-Objekt
help-send = Eine Textnachricht an ein Konto senden
    .account = Die Konto-Id des Empfängers
    .text = Die Nachricht
help-inbox = Neue Nachrichten abholen und anzeigen
    .json = Ein JSON-Objekt pro Nachricht
help-link = Einen Einmal-Code erzeugen, um ein weiteres Gerät mit diesem Konto zu verknüpfen
help-device = Die signierte Geräteliste dieses Kontos: anzeigen, ein verlorenes Gerät entfernen
help-device-list = Die Geräte auf der signierten Geräteliste dieses Kontos anzeigen
    .json = Ein JSON-Objekt
help-device-remove = Ein Gerät (ein verlorenes oder gestohlenes Telefon) aus diesem Konto entfernen: es kann sich nicht mehr anmelden, und die Apps anderer verschlüsseln nicht mehr für es
    .device = Die Geräte-Id, wie `stadtbote device list` sie zeigt
help-history = Gesendete und empfangene Nachrichten auf diesem Gerät anzeigen
    .account = Nur die Unterhaltung mit diesem Konto
    .json = Ein JSON-Objekt pro Nachricht
    .sync = Zuerst neue Nachrichten und Empfangsbestätigungen vom Server abholen
help-outbox = Nachrichten anzeigen, die der Server noch nicht bestätigt hat
    .json = Ein JSON-Objekt pro Nachricht
help-admin = Serververwaltung: Admin-Rechte übernehmen, Orgs, Statistik, Sperren
help-admin-claim = Server-Admin werden mit dem Code aus DATA_DIR/admin-claim.code; gibt das TOTP-Geheimnis (als otpauth://-URI) für Ihre Authenticator-App aus. Jeder spätere Admin-Befehl braucht --otp CODE
    .code = Der Code
help-admin-retention = Die geltenden Aufbewahrungsfristen anzeigen oder ändern
help-admin-retention-show = Alle geltenden Aufbewahrungsfristen
    .json = Ein JSON-Objekt pro Frist
help-admin-retention-set = Eine Frist ändern, z. B. `envelopes 7d`
    .kind = envelopes, attachments, uploads, link-codes, org-claim-codes, channel-posts-max oder audit
    .duration = Eine Dauer wie 30d, 12h, 90m oder 3600s
help-admin-audit = Das Prüfprotokoll der Admin- und Org-Admin-Aktionen lesen
    .json = Ein JSON-Objekt pro Eintrag
    .verify = Die Hash-Kette hier nachrechnen und mit dem bei der letzten Prüfung gespeicherten Stand vergleichen; nennt bei einem Fehler den ersten falschen Eintrag
    .accept_gap = Mit --verify: wenn das Protokoll über den bei der letzten Prüfung gespeicherten Stand hinaus gekürzt wurde, hinnehmen, dass die entfernten Einträge nicht prüfbar sind, und das Protokoll des Servers wie beim ersten Mal speichern
    .after = Nur Einträge nach dieser laufenden Nummer anzeigen
help-admin-org = Orgs anlegen oder auflisten
help-admin-org-create = Eine Org anlegen und einen Einmal-Code für ihren Admin ausgeben
    .name = Der Name der Org, z. B. "Stadt Goslar"
    .handle = Ihr Kurzname: 2–32 Zeichen aus a–z, 0–9 und -
help-admin-org-list = Die Orgs des Servers auflisten
    .json = Ein JSON-Objekt pro Org
help-admin-org-suspend = Eine Org sperren: ihr Verzeichniseintrag, Anmeldungen von Mitarbeitenden, Org-Admin-Aktionen und Kanalbeiträge werden abgelehnt, bis sie wieder freigegeben ist
    .handle = Der Kurzname der Org
help-admin-org-resume = Eine Sperre aufheben
    .handle = Der Kurzname der Org
help-admin-org-reset-2fa = Den zweiten Faktor einer Org abschalten, wenn ihr Admin den Authenticator verloren hat; der Org-Admin richtet dann mit `stadtbote org 2fa enable` ein neues Geheimnis ein
    .handle = Der Kurzname der Org
help-admin-stats = Serverweite Summen (keine Ids; Orgs nach Kurzname)
    .json = Die Summen als ein JSON-Objekt
help-admin-block = Jedes Gerät eines Kontos sperren: es kann sich nicht mehr anmelden und keine Anfragen mehr stellen
    .account = Die Konto-Id
help-admin-backup = Eine konsistente Online-Sicherung des ganzen Servers nach FILE laden (Modus 0600), verschlüsselt für die Sicherungsempfänger des Servers und jeden --recipient; abgelehnt, wenn es keinen gibt, außer mit --insecure-plaintext
    .file = Wohin die Sicherung geschrieben wird
    .recipients = Zusätzlicher age-Empfänger (age1…), für den verschlüsselt wird; mehrfach möglich
    .insecure_plaintext = Eine unverschlüsselte Sicherung schreiben, wenn kein Empfänger eingerichtet oder angegeben ist. Sie enthält den Pepper, den Löschschlüssel jedes Kontos und die TOTP-Geheimnisse der Admins: bewahren Sie sie mindestens so sicher auf wie den Server
    .json = Das Ergebnis als ein JSON-Objekt ausgeben
help-admin-unblock = Eine Sperre aufheben
    .account = Die Konto-Id
help-org = Eine Org (eine Gemeinde) von diesem Gerät aus führen: Schlüssel, Profil, Sprechzeiten, Mitarbeitende
    .org = Die Org, wenn dieses Gerät mehrere verwaltet
help-org-claim = Admin der Org werden mit dem Code von `admin org create`; erzeugt den Org-Schlüssel auf diesem Gerät
    .code = Der Org-Admin-Code
help-org-export-key = Den Org-Schlüssel mit einer Passphrase verschlüsselt nach FILE schreiben
    .file = Wohin
help-org-import-key = Einen mit `org export-key` geschriebenen Org-Schlüssel einlesen
    .file = Die Datei
help-org-rotate-key = Den Org-Schlüssel durch einen neuen ersetzen, signiert mit dem jetzigen (Übergabe, z. B. nach einer Wahl); die Apps der Bürgerinnen und Bürger folgen ohne Warnung. Die Zertifikate der Mitarbeitenden werden unter dem neuen Schlüssel neu ausgestellt
    .compromised = Der jetzige Schlüssel ist vielleicht in fremden Händen (ein gestohlener Laptop): ihn widerrufen, damit die Apps alles ablehnen, was er später signiert
help-org-category = Meldekategorien und die Abteilungen, an die sie gehen
help-org-category-add = Eine Kategorie hinzufügen (oder einer anderen Abteilung zuordnen)
    .name = Ihr Name, wie die Bürgerinnen und Bürger ihn sehen, z. B. "Straßenschaden"
    .department = Die Abteilung, an die ihre Meldungen gehen
help-org-category-remove = Eine Kategorie entfernen
    .name = Ihr Name
help-org-hours = Sprechzeiten
help-org-hours-set = Die wöchentlichen Sprechzeiten festlegen, z. B. "Tue 17:00-18:00"
    .slots = Eine oder mehrere Zeiten
    .auto_reply = Wird Bürgerinnen und Bürgern gezeigt, die außerhalb einer laufenden Sprechstunde fragen
    .department = Die Abteilung, die Sprechstunden beantwortet (Vorgabe: die bisherige, anfangs die Standardabteilung buergermeister, zu der das Gerät des Org-Admins gehört)
help-org-hours-live = Eine Sprechstunde beginnen (on) oder beenden (off)
    .state = on oder off
help-org-fingerprint = Den Fingerabdruck des Org-Schlüssels ausgeben und seinen QR-Code schreiben (PNG und SVG)
    .out = Verzeichnis für die QR-Code-Dateien (Vorgabe: HOME/qr, unter --home)
help-org-invite-staff = Eine Einmal-Einladung für ein Gerät von Mitarbeitenden erzeugen
    .department = Die Abteilung, z. B. bauhof
    .role = Die Rolle
    .expires_hours = Stunden, in denen der Code eingelöst werden kann
help-org-staff = Die zertifizierten Geräte der Mitarbeitenden der Org auflisten
    .json = Ein JSON-Objekt pro Gerät
help-org-approve = Eine wartende Anmeldung von Mitarbeitenden mit dem Org-Schlüssel freigeben (das Gerät des Org-Admins gibt wartende Anmeldungen auch bei jedem Befehl mit Verbindung selbst frei, außer einer zweiten Bindung einer schon benutzten Einladung; siehe `org staff`)
    .device = Die Geräte-Id (wie `org staff` sie zeigt)
help-org-revoke = Das Zertifikat eines Geräts von Mitarbeitenden widerrufen
    .device = Die Geräte-Id
help-org-show = Das veröffentlichte Profil der Org anzeigen
    .json = Ein JSON-Objekt
help-org-2fa = Der zweite Faktor für die Admin-Aktionen der Org
help-org-2fa-enable = Für die Admin-Aktionen dieser Org einen TOTP-Code verlangen; gibt das Geheimnis (als otpauth://-URI) für Ihre Authenticator-App aus
help-enroll = Dieses Gerät mit einem Einladungscode als Gerät von Mitarbeitenden einer Org anmelden
    .code = Der Code von `stadtbote org invite-staff`
help-verify = Den Schlüssel einer Org als bestätigt markieren, nachdem Sie seinen Fingerabdruck (oder den Inhalt des QR-Codes) mit dem Aushang oder der Website der Gemeinde verglichen haben
    .handle = Der Kurzname der Org
    .fingerprint = Der Fingerabdruck wie gedruckt, z. B. "3f2a 91c0 …"
help-report = Ein Problem (Straßenschaden, defekte Laterne …) einer Org melden
    .handle = Der Kurzname der Org
    .category = Die Kategorie, wie die Org sie nennt
    .photos = Ein Foto (JPEG, PNG, HEIC oder WebP; seine Metadaten außer der Ausrichtung werden vor dem Verschlüsseln entfernt)
    .location = Wo, in Grad: BREITE,LÄNGE
    .text = Was nicht in Ordnung ist
help-threads = Meldungen und Sprechstunden-Vorgänge auflisten (holt vorher Neues ab, wenn möglich)
    .status = Nur Vorgänge mit diesem Status
    .department = Nur Vorgänge dieser Abteilung
    .consult = Nur Sprechstunden-Anfragen, in der Reihenfolge des Eingangs (die Warteschlange)
    .json = Ein JSON-Objekt pro Vorgang
help-show = Einen Vorgang anzeigen: Nachrichten, Ort, Statusverlauf; speichert Fotos
    .thread = Die Vorgangs-Id (oder ein eindeutiger Anfang davon)
    .json = Ein JSON-Objekt
    .save = Fotos hier speichern (Vorgabe: HOME/photos/VORGANG/)
help-reply = In einem Vorgang antworten; Mitarbeitende können auch den Status setzen
    .thread = Die Vorgangs-Id
    .text = Die Antwort (mit --template optional: unter dem Text des Bausteins angefügt)
    .template = Mitarbeitende: die Antwort mit diesem Textbaustein der Abteilung des Vorgangs beginnen (siehe `org template list`)
    .photos = Ein Foto zum Anhängen
    .status = Neuer Status (nur Mitarbeitende)
    .reason = Warum (nötig bei resolved und rejected)
    .as_me = Mitarbeitende: den eigenen Namen statt dem der Org zeigen
help-assign = Einen Vorgang an eine andere Abteilung abgeben (Mitarbeitende): `assign VORGANG ABTEILUNG` (oder `--department ABTEILUNG`)
    .thread = Die Vorgangs-Id
    .department = Die neue Abteilung
    .department_flag = Die neue Abteilung (dasselbe wie das Argument ohne Option)
help-reopen = Eine erledigte oder abgelehnte Meldung wieder eröffnen (durch die Person, die sie gemeldet hat): `reopen VORGANG BEGRÜNDUNG` (oder `--reason BEGRÜNDUNG`)
    .thread = Die Vorgangs-Id
    .reason = Warum
    .reason_flag = Warum (dasselbe wie das Argument ohne Option)
help-consult = Eine Org während ihrer Sprechzeiten fragen. Außerhalb davon wird die Frage nicht gesendet: die Sprechzeiten werden ausgegeben, und der Exit-Code ist 3
    .handle = Der Kurzname der Org
    .text = Die Frage
help-chat = In einem Vorgang live chatten: zeigt eingehende Nachrichten, sendet jede Zeile
    .thread = Die Vorgangs-Id
help-channel = Kanäle, in denen dieses Gerät veröffentlicht (Mitarbeitende mit Veröffentlichungsrecht)
help-channel-create = Einen Kanal anlegen (Geräte von Mitarbeitenden mit der Rolle publisher oder admin)
    .name = Der Name des Kanals, z. B. "Amtsblatt"
    .description = Eine längere Beschreibung
    .retention_days = Tage, die der Server jeden Beitrag aufbewahrt
    .replies = Ob Folgende privat antworten dürfen
    .org = Die Org, wenn dieses Gerät bei mehreren Mitarbeitende ist
    .json = Ein JSON-Objekt
    .out = Wohin der QR-Code geschrieben wird (Vorgabe: HOME/qr, unter --home)
help-channel-list = Die Kanäle auflisten, in denen dieses Gerät veröffentlicht
    .json = Ein JSON-Objekt pro Kanal
help-channel-post = In einem Kanal veröffentlichen
    .channel = Die Kanal-Id (oder ein eindeutiger Anfang)
    .text = Der Text
    .photos = Ein Foto (JPEG, PNG, HEIC oder WebP; seine Metadaten außer der Ausrichtung werden vor dem Verschlüsseln entfernt)
help-channel-rotate = Einem Kanal einen neuen Schlüssel geben; alte Einladungslinks funktionieren für neue Beiträge nicht mehr, daher muss jede und jeder Folgende dem neuen Link folgen. Fragt im Terminal zuerst nach; Skripte müssen --yes angeben
    .channel = Die Kanal-Id
    .out = Wohin der QR-Code geschrieben wird (Vorgabe: HOME/qr, unter --home)
    .json = Ein JSON-Objekt
    .yes = Ohne Nachfrage den Schlüssel wechseln (nötig ohne Terminal)
help-follow = Einem Kanal mit seinem Einladungslink folgen (kein Konto nötig)
    .invite = Der Einladungslink (`stadtbote:channel:…`)
help-unfollow = Einem Kanal nicht mehr folgen
    .channel = Die Kanal-Id (oder ein eindeutiger Anfang)
help-channels = Die Kanäle auflisten, denen dieses Verzeichnis folgt
    .json = Ein JSON-Objekt pro Kanal
help-feed = Neue, geprüfte Beiträge der gefolgten Kanäle anzeigen
    .channel = Nur dieser Kanal
    .follow = Weiterlaufen und neue Beiträge zeigen, sobald sie ankommen
    .json = Ein JSON-Objekt pro Beitrag oder Warnung
help-reply-to = Privat auf einen Kanalbeitrag antworten (eröffnet einen Vorgang mit der Gemeinde)
    .channel = Die Kanal-Id
    .post = Die Nummer des Beitrags
    .text = Die Antwort
help-group = Diskussionsgruppen: anlegen (Mitarbeitende), einladen, beitreten, schreiben, lesen, entfernen (Moderation)
help-group-create = Eine Diskussionsgruppe anlegen (zertifizierte Geräte von Mitarbeitenden)
    .name = Der Name der Gruppe
    .org = Die Org, wenn dieses Gerät bei mehreren Mitarbeitende ist
help-group-invite = Den aktuellen Beitrittslink der Gruppe ausgeben (jedes Mitglied)
    .group = Die Gruppen-Id (oder ein eindeutiger Anfang, oder ihr Name)
help-group-join = Einer Gruppe mit ihrem Link beitreten
    .link = Der Beitrittslink (`stadtbote:group:…`)
help-group-post = In einer Gruppe schreiben
    .group = Die Gruppen-Id
    .text = Der Text
help-group-read = Die noch nicht gezeigten Beiträge der Gruppe anzeigen
    .group = Die Gruppen-Id
    .json = Ein JSON-Objekt pro Beitrag
help-group-remove = Ein Mitglied entfernen und den Beitrittslink ersetzen (Moderation durch Mitarbeitende)
    .group = Die Gruppen-Id
    .member = Konto-Id (oder eindeutiger Anfang) oder ein in der Gruppe gesehener Anzeigename
help-groups = Die Diskussionsgruppen auflisten, in denen dieses Gerät ist (offline)
    .json = Ein JSON-Objekt pro Gruppe
help-disappear = Einen Vorgang in TAGE Tagen verschwinden lassen, auf jedem Gerät und auf dem Server
    .thread = Die Vorgangs-Id
    .days = Tage ab jetzt (mindestens 1)
help-server-info = Zeigen, wer den Server betreibt, was er speichert und wie lange, und wo sein Quellcode ist (aus der /privacy-Erklärung des Servers; kein Konto nötig)
    .json = Die JSON-Erklärung des Servers, unverändert
help-account = Ihre Rechte an Ihrem Konto: alles sehen, was der Server darüber speichert, oder es löschen
help-account-export = Alles anzeigen, was der Server über dieses Konto speichert
    .json = Ein JSON-Objekt
help-account-delete = Dieses Konto auf dem Server und auf diesem Gerät endgültig löschen
    .yes = Bestätigen: das Konto, seine Geräte und ihre wartenden Nachrichten und Uploads werden gelöscht und können nicht wiederhergestellt werden
help-web-sign = Das Bundle der Web-App signieren (sein Manifest und die Release-Signatur schreiben) oder mit --new-key einen Release-Schlüssel erzeugen
    .dir = Das Bundle-Verzeichnis (z. B. web/dist)
    .key = Die geheime Datei des Release-Schlüssels
    .new_key = Einen neuen Release-Schlüssel erzeugen: den geheimen Teil in DATEI (Modus 0600), den öffentlichen in DATEI.pub
    .app_version = Die Version der App (Standard: `version` aus den Build-Informationen, sonst die Version dieses Programms)
    .build_info = Compiler- und Werkzeugversionen des Builds (JSON-Objekt oder Zeilen name=wert)
    .root = Die Datei, die der Server unter / ausliefert
    .json = Ein JSON-Objekt
help-web-verify = Prüfen, ob ein Server genau die signierte Web-App ausliefert: lädt sie wie ein Browser und vergleicht jede Datei mit dem signierten Manifest. Exit-Code 0: echt; 1: weicht ab oder nicht signiert; 4: Server nicht erreicht
    .url = Die Adresse des Servers, z. B. https://stadtbote.musterhausen.de
    .key = Der erwartete Release-Schlüssel (64 Hex-Ziffern oder eine .pub-Datei; Standard: der des Projekts)
    .json = Ein JSON-Objekt je Prüfung
    .watch = Die Prüfung alle SEKUNDEN Sekunden wiederholen und je Prüfung eine Zeile ausgeben
    .checks = Mit --watch: nach N Prüfungen aufhören (Standard: nie)
    .state = Die neueste geprüfte Version in DATEI festhalten, damit ein Zurückspielen auch über Aufrufe hinweg auffällt
help-admin-batch = Mehrere Admin-Befehle mit einer Anmeldung ausführen (ein --otp-Code): ein Befehl pro Zeile der Standardeingabe, geschrieben wie nach `stadtbote admin` (z. B. `org list`); leere Zeilen und `#`-Kommentare werden übersprungen. Hält beim ersten Fehler an, nennt dessen Zeile und endet mit Exit-Code 1. Beispiel: stadtbote admin --otp CODE batch < befehle.txt
help-admin-shell = Eine interaktive Admin-Eingabe: Admin-Befehle nacheinander mit einer Anmeldung ausführen (ein --otp-Code); `exit` oder Strg-D beendet sie. Der Server beendet die Sitzung nach 5 Minuten ohne Befehl
help-org-poster = Ein druckbares A4-Plakat für den Aushang schreiben (PDF oder SVG)
    .out = Die Datei, die geschrieben wird: DATEI.pdf oder DATEI.svg
    .channel = Der Kanal, dessen Einladung auf das Plakat kommt (Id oder eindeutiger Anfang, siehe `channel list`; Vorgabe: der erste Kanal, den dieses Gerät für die Org angelegt hat)
    .no_channel = Ein Plakat nur mit dem Fingerabdruck, ohne Kanal
help-org-info = Das geprüfte öffentliche Profil einer beliebigen Org anzeigen: Name, Fingerabdruck des Schlüssels und wie weit dieses Gerät ihm vertraut, Kategorien und ihre Abteilungen, Sprechzeiten, laufende Sprechstunde und Kanäle. Braucht keine Admin-Rechte und geht schon vor `stadtbote init` (dann wird nichts gespeichert)
    .handle = Der Kurzname der Org, z. B. goslar
    .json = Ein JSON-Objekt (Felder unten, auf Englisch)
help-org-enroll-self = Dieses Gerät, das den Org-Schlüssel hat, zu einem zertifizierten Mitarbeitergerät seiner Org machen (Rolle Admin, mit Veröffentlichen und Sachbearbeitung), damit es Kanäle und Diskussionsgruppen anlegen und Sprechstunden-Anfragen beantworten kann. `org claim` tut das schon; nutzen Sie es für eine mit einer älteren Version übernommene Org oder für eine andere Abteilung
    .department = Die Abteilung (Vorgabe: die, an die Sprechstunden-Anfragen gehen)

## Command-line parse errors (client-cli/src/parse_error.rs)
parse-error = Fehler: { $message }
parse-unknown-argument = unbekannte Option { $arg }
parse-unknown-command = unbekannter Befehl { $command }
parse-missing-argument = es fehlt: { $arg }
parse-missing-command = es fehlt ein Befehl
parse-invalid-value = ungültiger Wert { $value } für { $arg }
parse-value-validation = ungültiger Wert { $value } für { $arg }
parse-argument-conflict = { $arg } kann nicht zusammen mit { $prior } verwendet werden
parse-wrong-number-of-values = falsche Anzahl von Werten für { $arg }
parse-no-equals = { $arg } braucht seinen Wert nach einem Gleichheitszeichen
parse-invalid-utf8 = ein Argument ist kein gültiger UTF-8-Text
parse-valid-values = mögliche Werte: { $values }
parse-suggestion = meinten Sie: { $suggestion }
parse-help-hint = Mehr dazu mit '--help'.

## Durations and server-info (commands/org.rs, commands/server_info.rs)
duration-unknown-unit = unbekannte Zeiteinheit in { $text }; verwenden Sie s, m, h oder d, z. B. 30d
duration-invalid = { $text } ist keine Dauer wie 30d, 12h, 90m oder 3600s
duration-too-long = die Dauer { $text } ist zu lang
server-url-scheme = die Server-Adresse { $url } muss mit ws:// oder wss:// beginnen
server-url-no-host = die Server-Adresse { $url } enthält keinen verwendbaren Rechnernamen
server-info-unreachable = der Server { $url } ist nicht erreichbar: { $reason }
server-info-timed-out = der Server { $url } ist nicht erreichbar: keine Antwort in der Wartezeit
server-info-too-large = die Antwort von { $url } ist zu groß

## ---------------------------------------------------------------------------
## Issue 14 „German“, Nachträge auf Client-Seite (Zweig s7-german)
## ---------------------------------------------------------------------------

## Größen und `admin stats` / `admin backup` (client-cli/src/admin_output.rs)
size-bytes = { $count ->
        [one] { $formatted } Byte
       *[other] { $formatted } Bytes
    }
stats-title = Serverstatistik (Gesamtzahlen, keine Kennungen)
stats-accounts = Konten
stats-devices = Geräte
stats-connected = gerade verbunden
stats-queued = Nachrichten in Zustellung
stats-stored = gespeicherte Daten
stats-channels = Kanäle
stats-channel-posts = Kanalbeiträge
stats-no-orgs = Noch keine Orgs.
stats-org = Org
stats-org-staff = Mitarbeitergeräte
stats-org-channels = Kanäle
backup-written = Sicherung geschrieben: { $file }
backup-size = Größe
backup-sha256 = SHA-256
backup-encrypted = verschlüsselt
backup-encrypted-yes = ja (age)
backup-encrypted-no = NEIN
backup-written-at = geschrieben am
backup-plaintext-warning = Achtung: diese Sicherung ist unverschlüsselt; sie enthält den Pepper des Servers, den Löschschlüssel jedes Kontos und die TOTP-Geheimnisse der Admins. Bewahren Sie sie mindestens so sicher auf wie den Server selbst.

## Hilfetexte: was clap sonst auf Englisch anhängt (client-cli/src/help_text.rs)
help-value-default = [Vorgabe: { $value }]
help-value-possible = [mögliche Werte: { $values }]
help-value-aliases = [auch: { $aliases }]
help-value-env = [Umgebungsvariable: { $name }]
help-value-options = [OPTIONEN]
help-flag-help-command = Diese Hilfe oder die Hilfe der angegebenen Befehle anzeigen
help-flag-help-command-argument = Die Befehle, zu denen die Hilfe angezeigt wird
after-org-info = { "" }JSON-Felder (stabil, auf Englisch; Zeiten in Unix-Millisekunden, UTC):
    { "  " }handle, org, name         Kurzname, Kennung und Name der Org
    { "  " }fingerprint               der Fingerabdruck des Org-Schlüssels (mit dem Aushang der Gemeinde vergleichen)
    { "  " }verification              "verified" (mit `stadtbote verify` verglichen, oder dieses Gerät hat den
    { "  " }                          Org-Schlüssel), "pinned" (beim ersten Kontakt gemerkt), "first_seen" (jetzt zum
    { "  " }                          ersten Mal gesehen) oder "rotated" (jetzt durch einen Schlüsselwechsel geändert,
    { "  " }                          den der zuvor gemerkte Schlüssel signiert hat)
    { "  " }pinned                    ob dieses Gerät sich den Schlüssel merkt (false ohne Konto)
    { "  " }fingerprint_verified      ob der gemerkte Schlüssel mit dem Aushang verglichen wurde
    { "  " }previous_fingerprint      bei "rotated" der zuvor gemerkte Schlüssel, sonst null
    { "  " }key_rotations             die signierten Schlüsselwechsel der Org
    { "  " }offline                   true, wenn der Server nicht erreichbar war (das gespeicherte Profil)
    { "  " }profile_version, updated_at
    { "  " }categories                [{"{"}name, department{"}"}]
    { "  " }departments               jede Abteilung, die das Profil nennt
    { "  " }consult_department        die Abteilung, an die Sprechstunden-Anfragen gehen
    { "  " }timezone                  die Zeitzone der Sprechzeiten
    { "  " }office_hours              [{"{"}department, slots: ["Tue 17:00-18:00", ...]{"}"}]
    { "  " }auto_reply                die Antwort der Org außerhalb der Sprechstunde, oder null
    { "  " }live, live_since          ob gerade eine Sprechstunde läuft, seit wann
    { "  " }channels                  Kennungen der Kanäle, die das Profil nennt (hex)
    { "  " }legal                     Impressum und Datenschutzerklärung, oder null: {"{"}impressum, controller, dpo,
    { "  " }                          purposes, retention, recipients, rights{"}"} ("" wo nicht angegeben)
    { "  " }reply_templates           Textbausteine: [{"{"}department, name, text{"}"}]

## Innere Fehler: was scheiterte und was zu tun ist (client-cli/src/inner_error.rs,
## error_text.rs); der technische Ausdruck in Klammern bleibt englisch
inner-mls-malformed = die verschlüsselten Daten sind beschädigt (malformed MLS data); bitten Sie den Absender, sie noch einmal zu senden
inner-mls-invalid-key-package = ein Gerät hat ungültige Schlüssel angeboten (invalid key package); es kann hinzugefügt werden, sobald es eine aktuelle Version von stadtbote verwendet
inner-mls-invalid-credential = das Gerät eines Mitglieds ist kein gültiges Stadtbote-Gerät (invalid member credential); an es wurde nichts gesendet
inner-mls-rejected = eine verschlüsselte Nachricht hat die Prüfung nicht bestanden und wurde nicht angenommen (MLS message rejected); bitten Sie den Absender, sie noch einmal zu senden
inner-mls-unknown-group = diesem Gerät fehlen die Schlüssel dieser Unterhaltung (unknown group); es erhält sie, wenn ein Mitglied der Unterhaltung das nächste Mal eine Nachricht sendet
inner-mls-group-exists = diese Unterhaltung gibt es auf diesem Gerät schon (group already exists); führen Sie den Befehl noch einmal aus
inner-mls-not-a-member = dieses Gerät gehört nicht mehr zu dieser Unterhaltung (not a member of the group)
inner-mls-pending-commit = eine frühere Änderung dieser Unterhaltung ist noch nicht abgeschlossen (pending commit); führen Sie den Befehl noch einmal aus
inner-mls-nothing-to-commit = es gibt niemanden hinzuzufügen oder zu entfernen
inner-mls-corrupt-state = der auf diesem Gerät gespeicherte Verschlüsselungszustand ist beschädigt (corrupt MLS state); stellen Sie das Stadtbote-Verzeichnis aus einer Sicherung wieder her oder richten Sie dieses Gerät neu ein
inner-mls-membership-mismatch = die Änderung eines Mitglieds an der Unterhaltung tut nicht, was sie dem Server ankündigt, und wurde deshalb abgelehnt (membership mismatch); sagen Sie es der Gemeinde, wenn es so bleibt
inner-mls-internal = die Verschlüsselungsbibliothek ist gescheitert (internal MLS error); führen Sie den Befehl noch einmal aus und melden Sie das Problem, wenn es so bleibt
inner-mls-other = Verschlüsselungsschicht: { $detail }
inner-attachment-too-large = das Foto ist zu groß zum Verschlüsseln ({ $size }; die Grenze ist { $limit }); senden Sie ein kleineres Foto
inner-attachment-invalid-key = der Schlüssel des Fotos in der Nachricht ist beschädigt; bitten Sie den Absender, das Foto noch einmal zu senden
inner-attachment-decryption-failed = das Foto lässt sich nicht entschlüsseln (beschädigt, verändert oder nicht der richtige Schlüssel); bitten Sie den Absender, es noch einmal zu senden
inner-attachment-misuse = das Foto konnte nicht verschlüsselt werden (interner Fehler: attachment encryptor used out of order); führen Sie den Befehl noch einmal aus
inner-attachment-other = Verschlüsselung des Anhangs: { $detail }
inner-channel-what = { $what ->
        [key] der Kanalschlüssel
        [invite-link] der Einladungslink des Kanals
        [metadata] die Beschreibung des Kanals
        [last-post] der letzte Beitrag des Kanals
        [post] ein Kanalbeitrag
        [group-info] die Beitrittsinformation der Gruppe
       *[group-link] der Beitrittslink der Gruppe
    }
inner-channel-what-other = { $what } des Kanals
error-channel-data = { $what } lässt sich nicht prüfen: { $reason }
inner-channel-undecryptable = nicht zu entschlüsseln (falscher Kanalschlüssel, oder verändert); hat die Gemeinde dem Kanal einen neuen Schlüssel gegeben, folgen Sie ihm noch einmal mit dem aktuellen Einladungslink
inner-channel-forged = nicht von einem zertifizierten Veröffentlicher der Org signiert, daher nicht angezeigt; sagen Sie es der Gemeinde
inner-channel-revoked = von einem Gerät signiert, dem die Org das Veröffentlichen entzogen hat (verloren oder gestohlen), daher nicht angezeigt
inner-channel-out-of-order = Beitrag { $found } folgt nicht auf Beitrag { $expected } (umsortiert oder eingeschoben); führen Sie den Befehl später noch einmal aus und sagen Sie es der Gemeinde, wenn es so bleibt
inner-channel-malformed = beschädigt (malformed { $detail }); wenn Sie etwas kopiert haben, prüfen Sie, ob es vollständig ist, sonst sagen Sie es der Gemeinde
inner-io = { $kind ->
        [not-found] nicht vorhanden
        [permission-denied] keine Berechtigung; prüfen Sie Eigentümer und Zugriffsrechte
        [already-exists] schon vorhanden; wählen Sie einen anderen Namen oder verschieben Sie das Vorhandene
        [storage-full] der Datenträger ist voll; schaffen Sie Platz und führen Sie den Befehl noch einmal aus
        [read-only] das Dateisystem ist schreibgeschützt
        [is-a-directory] das ist ein Verzeichnis, keine Datei
       *[not-a-directory] ein Teil des Pfads ist kein Verzeichnis
    }
error-qr = der QR-Code kann nicht gezeichnet werden ({ $detail }); führen Sie den Befehl noch einmal aus und melden Sie das Problem, wenn es so bleibt

## Weitere Admin-Ausgaben (thread_output.rs, commands/org.rs)
admin-org-claimed = übernommen
admin-org-unclaimed = nicht übernommen
admin-org-created-at = angelegt { $time }
admin-org-suspended-mark = GESPERRT
org-staff-revoked-unseen = { $device }  (Zertifikat auf diesem Gerät nie gesehen)  WIDERRUFEN
error-no-data-dir = für diesen Benutzer lässt sich kein Datenverzeichnis bestimmen; geben Sie --home VERZEICHNIS an

## Gründe für eine abgebrochene Verbindung oder eine unerwartete Antwort (error_text.rs)
reason-unexpected-answer = unerwartete Antwort { $name }
reason-no-answer = keine Antwort auf { $request } in der Wartezeit
reason-send-timed-out = das Senden von { $request } hat zu lange gedauert
reason-server-closed = der Server hat die Verbindung geschlossen
reason-too-many-events = zu viele unangeforderte Ereignisse
reason-pow-interrupted = die Rechenaufgabe (Proof of Work) wurde unterbrochen
reason-other-account = der Server hat dieses Gerät bei einem anderen Konto angemeldet
reason-backup-too-long = die Sicherung ist länger als angekündigt
reason-backup-mismatch = die heruntergeladene Sicherung passt nicht zu ihrer Größe oder SHA-256-Prüfsumme
reason-upload-chunks = der Server meldet mehr Teile, als der Upload hat

## Arten von Einmal-Codes und die Kanalliste (error_text.rs, channel_output.rs)
code-kind = { $what ->
        [staff-invitation] Einladungscode für Mitarbeitende
        [link] Verknüpfungscode
        [invitation] Einladungscode
        [org-admin] Org-Admin-Code
       *[admin-claim] Admin-Code
    }
channel-published-line = { $channel }  { $name } ({ $handle })  Schlüsselgeneration { $epoch }, letzter Beitrag #{ $seq }

## Poster PDF with an embedded font (client-cli/src/poster.rs, poster/font.rs)
error-poster-not-in-font = die Schrift des PDF (DejaVu Sans) hat kein Zeichen für { $character } in { $text }; ändern Sie den Text oder schreiben Sie das Plakat als SVG, das die Schrift dem Anzeigeprogramm überlässt (--out DATEI.svg)
error-poster-font = die Plakatschrift { $font } kann nicht in das PDF eingebettet werden: { $reason }

## Ablehnungen des Servers, nach ihrem Grund-Code (issue 14 „German“: Codes auf der Leitung; client-cli/src/refusal_text.rs).
## Eine Id je RefusalReason: refusal- und der Drahtname mit - statt _.
refusal-unauthenticated = melden Sie sich zuerst an oder registrieren Sie sich
refusal-already-authenticated = diese Verbindung ist schon angemeldet
refusal-auth-failed = die Anmeldung ist fehlgeschlagen
refusal-pow-invalid = der Arbeitsnachweis der Registrierung reicht nicht aus
refusal-device-blocked = dieses Gerät ist gesperrt
refusal-device-removed = dieses Gerät wurde aus seinem Konto entfernt, oder das Konto wurde gelöscht
refusal-admin-role-held = ein Gerät dieses Kontos ist Server-Admin oder Admin einer Org; übergeben Sie die Rolle an ein anderes Konto, bevor Sie dieses löschen
refusal-link-code-invalid = der Verknüpfungscode ist unbekannt, schon benutzt oder abgelaufen
refusal-code-unknown = unbekannter Code
refusal-code-expired = der Code ist abgelaufen
refusal-code-used = der Code wurde schon benutzt
refusal-invitation-unknown = unbekannter Einladungscode
refusal-invitation-expired = der Einladungscode ist abgelaufen
refusal-invitation-used = der Einladungscode wurde schon benutzt
refusal-admin-claim-code-invalid = der Admin-Übernahmecode ist unbekannt oder schon benutzt
refusal-admin-claim-needs-secret = eine Admin-Übernahme braucht ein TOTP-Geheimnis (aktualisieren Sie das Programm stadtbote)
refusal-second-factor-missing = diese Aktion braucht einen zweiten Faktor (den aktuellen TOTP-Code)
refusal-second-factor-wrong-code = zweiter Faktor abgelehnt: falscher Code
refusal-second-factor-replayed = zweiter Faktor abgelehnt: der Code wurde schon benutzt, warten Sie auf den nächsten
refusal-second-factor-superseded = zweiter Faktor abgelehnt: dieser Code ist älter als der zuletzt benutzte (ein späterer Code wurde schon angenommen); warten Sie auf den nächsten Code
refusal-second-factor-not-set-up = zweiter Faktor abgelehnt: für diesen Admin ist kein TOTP-Geheimnis eingerichtet
refusal-server-admin-only = das darf nur ein Server-Admin
refusal-no-admin-role = dieses Gerät hat keine Admin-Rolle
refusal-org-admin-device-only = das darf nur das Admin-Gerät der Org
refusal-publishers-only = das dürfen nur Mitarbeitende der Org mit Veröffentlichungsrecht
refusal-org-staff-only = nur Mitarbeitende einer Org können eine Gruppe dieser Org anlegen
refusal-moderators-only = nur die Moderation der Gruppe (Mitarbeitende ihrer Org) kann eine Diskussionsgruppe beenden
refusal-org-not-claimed = die Org wurde noch nicht übernommen
refusal-enrol-org-not-claimed = die Org ist nicht übernommen
refusal-org-already-claimed = die Org wurde schon übernommen
refusal-org-suspended = diese Org ist vom Betreiber des Servers gesperrt
refusal-device-revoked = dieses Gerät steht auf der Widerrufsliste der Org
refusal-group-link-invalid = ungültiger oder ersetzter Gruppenlink
refusal-device-list-other-key = die Geräteliste ist mit einem anderen Kontoschlüssel signiert
refusal-unknown-account = dieses Konto gibt es nicht
refusal-unknown-group = diese Gruppe gibt es nicht
refusal-not-a-member = dieses Gerät ist kein Mitglied der Gruppe (oder es gibt die Gruppe nicht)
refusal-unknown-org = diese Org gibt es nicht
refusal-unknown-blob = diesen Anhang gibt es nicht, oder er ist nicht vollständig
refusal-unknown-channel = diesen Kanal gibt es nicht
refusal-handle-taken = dieser Kurzname ist schon vergeben
refusal-rate-limited = zu viele Anfragen
refusal-quota-exceeded = der Speicher für Anhänge dieses Kontos ist aufgebraucht; es wurde nichts gespeichert
refusal-listener-limit = zu viele Verbindungen lesen ohne Konto mit, von dieser Adresse oder auf diesem Server; versuchen Sie es später noch einmal oder melden Sie sich auf dieser Verbindung zuerst an
refusal-message-too-large = die Nachricht ist größer als die Grenze für Nachrichten
refusal-post-too-large = der Beitrag ist größer als die Grenze für Kanalbeiträge (max_message_bytes abzüglich Metadaten und Rahmen)
refusal-group-too-large = die Gruppe hätte mehr Geräte als max_group_devices
refusal-too-many-listens = eine Verbindung kann höchstens max_channel_listens Kanälen zuhören
refusal-too-many-backup-recipients = höchstens 16 Empfänger
refusal-storage-unavailable = der Speicher ist nicht verfügbar; es wurde nichts gespeichert
refusal-unavailable = vorübergehend nicht verfügbar; versuchen Sie es später noch einmal
refusal-internal = interner Fehler des Servers
refusal-stale-epoch = für diese Epoche wurde schon eine andere Änderung angenommen
refusal-stale-post = ein anderer Beitrag wurde zuerst gespeichert; holen Sie die neueren Beiträge und versuchen Sie es noch einmal
refusal-org-changed-meanwhile = der Org-Schlüssel, seine Wechselkette, das Profil oder die Mitarbeiterliste hat sich inzwischen geändert (Versionen müssen steigen); holen Sie die Org neu und versuchen Sie es noch einmal
refusal-retention-out-of-range = eine Aufbewahrungsfrist muss zwischen 60 Sekunden und zehn Jahren liegen
refusal-retention-whole-days = diese Aufbewahrungsfrist wird in ganzen Tagen gezählt
refusal-retention-unknown-kind = unbekannte Art von Aufbewahrungsfrist (envelopes, attachments, uploads, link-codes, org-claim-codes, channel-posts-max, audit)
refusal-org-name-invalid = der Name der Org muss 1 bis 100 Zeichen lang sein, ohne Steuerzeichen
refusal-channel-retention-out-of-range = retention_days muss zwischen 1 und max_channel_retention_days liegen
refusal-invitation-expiry-invalid = die Einladung muss in der Zukunft und innerhalb von max_invite_ttl_secs ablaufen
refusal-plaintext-backup-refused = eine unverschlüsselte Sicherung wird nicht geschrieben: sie enthielte den Pepper, den Löschschlüssel jedes Kontos und die TOTP-Geheimnisse der Admins. Fügen Sie einen age-Empfänger hinzu (`stadtbote-server backup-key generate --out KEYFILE` auf einem anderen Rechner als dem Server, dann `backup_recipients` in der Serverkonfiguration oder `--recipient age1…`), oder geben Sie --insecure-plaintext an
refusal-backup-recipient-invalid = ein Empfänger ist kein öffentlicher age1…-Schlüssel
refusal-backup-unknown = unbekannte Sicherung
refusal-backup-unknown-or-unfinished = unbekannte oder noch nicht fertige Sicherung
refusal-backup-not-finished = die Sicherung ist noch nicht fertig
refusal-request-not-supported = dieser Server kennt die Anfrage nicht (er ist älter als dieses Programm)
refusal-admin-action-not-supported = dieser Server kennt die Admin-Aktion nicht (er ist älter als dieses Programm)
refusal-push-not-enabled = dieser Server verschickt keine Push-Benachrichtigungen (keine eingerichtet)
refusal-push-endpoint-not-allowed = dieser Push-Dienst steht nicht auf der Liste der Push-Dienste, die der Server zulässt
refusal-push-subscription-invalid = ungültiges Push-Abonnement (Endpunkt-URL, p256dh-Schlüssel oder auth-Geheimnis)

## Die Aufbewahrungstabelle der Datenschutzerklärung (issue 14 „German“: Schlüssel auf der Leitung; `server-info`, `admin retention show`).
## privacy-item-KEY und privacy-retention-KEY je Zeile des Gespeicherten, privacy-never-KEY je nie gespeicherter Zeile,
## privacy-period-KIND je Aufbewahrungsfrist.
privacy-operator = Betreiber:    { $value }
privacy-contact = Kontakt:      { $value }
privacy-source-code = Quellcode:    { $value }
privacy-not-configured = vom Betreiber nicht angegeben
privacy-stored-heading = Was gespeichert wird, und wie lange:
privacy-stored-row = { $item }: { $retention }
privacy-never-heading = Nie gespeichert: { $items }
privacy-retention-heading = Geltende Aufbewahrung:
privacy-periods-heading = Aufbewahrungsfristen:
privacy-period-row = { $kind }: { $secs } s ({ $what }; festgelegt durch { $source })
privacy-period-line = { $kind } { $secs } s  ({ $what }; festgelegt durch { $source })
privacy-source-config = Konfiguration
privacy-source-admin = Admin
privacy-duration-secs = { $secs } Sekunden
privacy-duration-minutes = { $secs } Sekunden ({ $minutes ->
        [one] 1 Minute
       *[other] { $minutes } Minuten
    })
privacy-duration-days = { $secs } Sekunden ({ $days ->
        [one] 1 Tag
       *[other] { $days } Tage
    })
privacy-item-accounts = Konten
privacy-retention-accounts = bis das Konto gelöscht wird
privacy-item-devices = Geräte
privacy-retention-devices = bis das Gerät oder sein Konto gelöscht wird
privacy-item-key-packages = Schlüsselpakete
privacy-retention-key-packages = Einmal-Pakete, bis jemand sie für ein neues Gespräch abholt; das Reservepaket, bis das Gerät es ersetzt
privacy-item-groups = Gruppen
privacy-retention-groups = solange die Gruppe besteht
privacy-item-group-expiry = Ablauf von Gruppen
privacy-retention-group-expiry = solange die Gruppe besteht
privacy-item-group-join-info = Beitrittsdaten von Gruppen
privacy-retention-group-join-info = solange die Gruppe besteht; ersetzt, wenn ein Mitglied neue speichert
privacy-item-envelopes = Umschläge (verschlüsselte Nachrichten)
privacy-retention-envelopes = gelöscht, sobald das empfangende Gerät den Empfang bestätigt; nicht zugestellte Umschläge werden nach { $secs } gelöscht
privacy-item-link-codes = Verknüpfungscodes
privacy-retention-link-codes = bis sie benutzt werden, höchstens { $secs }
privacy-item-device-lists = Gerätelisten
privacy-retention-device-lists = bis das Konto eine neuere Liste veröffentlicht oder gelöscht wird
privacy-item-link-slots = Verknüpfungsfächer
privacy-retention-link-slots = bis sie abgeholt werden, höchstens { $secs }
privacy-item-audit-log = Prüfprotokoll
privacy-retention-audit-log = { $secs }
privacy-item-server-admins = Server-Admins
privacy-retention-server-admins = bis der Admin entfernt wird
privacy-item-admin-and-org-claim-codes = Übernahmecodes für Admins und Orgs
privacy-retention-admin-and-org-claim-codes = der Admin-Übernahmecode, bis er benutzt wird; Org-Admin-Codes, bis sie benutzt werden oder ablaufen (höchstens { $secs }), der Eintrag eine weitere Laufzeit, damit späte Versuche erfahren, dass der Code abgelaufen ist
privacy-item-organisations = Organisationen
privacy-retention-organisations = solange die Organisation besteht
privacy-item-org-profiles = Org-Profile
privacy-retention-org-profiles = bis sie durch eine neuere Version ersetzt werden
privacy-item-staff-certificates = Mitarbeiterzertifikate
privacy-retention-staff-certificates = solange die Organisation besteht; widerrufene und abgelaufene Zertifikate werden nicht mehr gezeigt
privacy-item-staff-invitations = Einladungen für Mitarbeitende
privacy-retention-staff-invitations = bis sie abläuft (höchstens { $secs } nach der Ausstellung), der Eintrag eine weitere Laufzeit, damit späte Versuche erfahren, dass der Code abgelaufen ist
privacy-item-revocation-lists = Widerrufslisten
privacy-retention-revocation-lists = bis sie durch eine neuere Version ersetzt werden
privacy-item-attachments = Anhänge
privacy-retention-attachments = gelöscht { $secs } nach dem Ende des Hochladens; unfertige Uploads nach { $upload_secs }
privacy-item-channels = Kanäle
privacy-retention-channels = solange der Kanal besteht
privacy-item-second-factor-secrets = Geheimnisse des zweiten Faktors
privacy-retention-second-factor-secrets = bis der Admin entfernt wird (`stadtbote-server admin-reset`) oder der zweite Faktor der Org zurückgesetzt oder abgeschaltet wird
privacy-item-shredding-keys = Löschschlüssel
privacy-retention-shredding-keys = der Pepper, solange der Server besteht; der Schlüssel eines Kontos, bis das Konto gelöscht wird
privacy-item-staged-backups = bereitgestellte Sicherungen
privacy-retention-staged-backups = gelöscht nach dem Herunterladen, spätestens nach { $secs }
privacy-item-backups = Sicherungen
privacy-retention-backups = ein gelöschtes Konto bleibt in den vor seiner Löschung gemachten Archiven, bis diese ausgesondert werden: höchstens { $secs } ({ $daily } tägliche und { $weekly } wöchentliche Archive werden aufbewahrt)
privacy-item-channel-posts = Kanalbeiträge
privacy-retention-channel-posts = gelöscht nach der Aufbewahrungsfrist des Kanals, die die Org je Kanal festlegt, höchstens { $days ->
        [one] 1 Tag
       *[other] { $days } Tage
    } ({ $secs })
privacy-never-ip-addresses = IP-Adressen
privacy-never-display-names = Anzeigenamen
privacy-never-message-content = Inhalte von Nachrichten
privacy-never-phone-numbers = Telefonnummern, E-Mail-Adressen und Adressbücher
privacy-never-senders = Absender gespeicherter Nachrichten
privacy-never-follower-lists = Abonnenten- und Folgendenlisten von Kanälen
privacy-never-read-receipts = Lesebestätigungen
privacy-never-analytics = Auswertungen je Leserin oder Leser
privacy-period-envelopes = verschlüsselte Nachrichten, die auf Zustellung warten
privacy-period-attachments = verschlüsselte Anhänge nach dem Hochladen
privacy-period-uploads = unfertige Uploads von Anhängen
privacy-period-link-codes = Codes zum Verknüpfen eines neuen Geräts
privacy-period-org-claim-codes = Einmal-Codes zum Übernehmen einer Org
privacy-period-channel-posts-max = Beiträge in Kanälen (die längste Frist, die ein Kanal wählen kann)
privacy-period-audit = Prüfprotokoll der Admin-Aktionen (pseudonymisiert)
privacy-period-staff-invitations = Einladungen für Mitarbeitende: höchstens max_invite_ttl_secs gültig, eine weitere Laufzeit nach ihrem Ablauf gelöscht
privacy-period-envelope-log-segments = Bytes bestätigter oder gelöschter Umschläge bleiben etwa so lange in ihrer Segmentdatei des Umschlag-Logs (länger, solange ein älterer, noch wartender Umschlag das Segment hält)
privacy-period-staged-backups = auf dem Server zum Herunterladen bereitgestellte Online-Sicherungen (gelöscht nach dem Herunterladen, spätestens nach dieser Frist)
privacy-period-backups = nächtliche Sicherungsarchive: wie lange ein gelöschtes Konto in ihnen weiterbesteht (backup_keep_daily, backup_keep_weekly)

## ClientError::Invalid: was angegeben wurde und warum es abgelehnt wurde
## (client-cli/src/invalid_input.rs), und `admin audit` (commands/audit.rs)
invalid-what = { $what ->
        [text] Text
        [department] Abteilung
        [own-enrolment] Anmeldung dieses Geräts als Mitarbeitergerät
        [office-hours] Sprechzeiten
        [handle] Kennung
        [org-key-file] Org-Schlüsseldatei
        [org-key] Org-Schlüssel
        [category] Kategorie
        [channel-name] Kanalname
        [retention] Aufbewahrungsfrist
        [post] Beitrag
        [post-number] Beitragsnummer
        [group-name] Gruppenname
        [member] Mitglied
        [device-id] Geräte-Id
       *[device] Gerät
    }
invalid-reason-empty = ist leer
invalid-reason-must-not-be-empty = darf nicht leer sein
invalid-reason-at-least-one = muss mindestens 1 sein
invalid-reason-at-least-one-day = muss mindestens 1 Tag sein
invalid-reason-location = { $problem } (erwartet: BREITE,LÄNGE in Grad, z. B. 51.9061,10.4291)
invalid-location-problem = { $what ->
        [missing-comma] das Komma fehlt
        [latitude-not-a-number] die Breite ist keine Zahl
        [longitude-not-a-number] die Länge ist keine Zahl
        [latitude-range] die Breite muss zwischen -90 und 90 liegen
       *[longitude-range] die Länge muss zwischen -180 und 180 liegen
    }
invalid-reason-goes-with-status = nur zusammen mit --status
invalid-reason-only-staff-on-behalf = nur Mitarbeitende antworten im Namen der Org
invalid-reason-already-with = der Vorgang liegt schon bei { $department }
invalid-format = { $what ->
        [handle] ungültige Kennung (2-32 Zeichen aus a-z, 0-9, -)
        [department] ungültige Abteilung (1-64 Zeichen aus a-z, 0-9, -, _)
       *[office-hours] ungültige Sprechzeiten (erwartet z. B. "Di 17:00-18:00")
    }
invalid-reason-slot = { $slot }: { $reason }
invalid-reason-no-slot = geben Sie mindestens eine Zeit an, z. B. "Di 17:00-18:00"
invalid-reason-other-key-held = dieses Gerät hat schon einen anderen Schlüssel für { $handle }
invalid-reason-not-pinned-key = ihr Schlüssel ist nicht der, den dieses Gerät für { $handle } festgehalten hat
invalid-reason-server-key-not-ours = der Schlüssel des Servers für { $handle } ist nicht der Org-Schlüssel dieses Geräts; rufen Sie die Org erneut ab oder importieren Sie den aktuellen Schlüssel
invalid-reason-category-format = 1-64 Zeichen ohne Steuerzeichen und ohne Leerzeichen am Anfang oder Ende
invalid-reason-no-such-category = { $name } gibt es nicht
invalid-reason-no-such-post = { $channel } hat keinen Beitrag #{ $seq }
invalid-reason-name-length = muss 1 bis { $max } Zeichen lang sein
invalid-reason-own-account = eine Moderatorin oder ein Moderator kann das eigene Konto nicht entfernen
invalid-reason-not-a-device-id = { $text } ist keine Geräte-Id
invalid-reason-already-approved = das Gerät ist schon bestätigt
invalid-reason-no-pending-enrolment = im Verzeichnis der Org wartet keine Anmeldung dieses Geräts
audit-accept-gap-needs-verify = --accept-gap gilt nur für eine Prüfung: stadtbote admin audit --verify --accept-gap
audit-unreadable-entry = { $seq } (unlesbarer Eintrag)
audit-verified-range = Prüfprotokoll geprüft: seq { $from } bis { $to } ({ $entries } Einträge)
audit-verified-empty = Prüfprotokoll geprüft: keine Einträge zu prüfen
audit-anchor = Einträge bis seq { $seq } wurden nach Ablauf der Aufbewahrungsfrist entfernt; die Kette beginnt mit dem Hash dieses Eintrags { $hash }
audit-continues = sie setzt den Stand fort, den die letzte Prüfung bei seq { $seq } festgehalten hat{ $when }: { $hash }
audit-continues-when = {" "}({ $time })
audit-gap-accepted = nicht geprüft: seq { $from } bis { $to }, entfernt nach dem bei seq { $seq } festgehaltenen Stand ({ $hash }); die Lücke wurde mit --accept-gap hingenommen, daher gilt ab hier wieder Vertrauen bei erster Nutzung
audit-first-use = Vertrauen bei erster Nutzung: auf diesem Gerät ist keine frühere Prüfung dieses Servers festgehalten, daher werden die Einträge so genommen, wie der Server sie zeigt; ab jetzt muss das Protokoll an den jetzt festgehaltenen Stand anschließen
audit-pinned-head = festgehaltener Stand: seq { $seq } { $hash } (vorher: seq { $before })
audit-pinned-head-first = festgehaltener Stand: seq { $seq } { $hash } (vorher: keiner)
audit-pinned-head-none = festgehaltener Stand: keiner (das Protokoll ist leer)
audit-verify-often = der Server entfernt Einträge des Prüfprotokolls, die älter als audit_retention_days sind (siehe `stadtbote admin retention show`): prüfen Sie mindestens so oft, sonst können Einträge aus der Zwischenzeit ungeprüft entfernt werden
audit-failed = die Prüfung des Prüfprotokolls ist bei seq { $seq } gescheitert: { $error }; { $kept }
audit-failed-kept-pin = dieses Gerät behält den bei seq { $seq } festgehaltenen Stand
audit-failed-nothing-pinned = es wurde nichts festgehalten
audit-pruned-when = {" "}am { $time }
audit-pruned-retention = {" "}({ $days } Tage auf diesem Server)
audit-pruned-recent = Die letzte Prüfung ist { $days } Tag(e) her, weniger als die Aufbewahrungsfrist: ehrliches Entfernen kann das nicht erklären, behandeln Sie das Protokoll daher als umgeschrieben und den Server als kompromittiert.{" "}
audit-pruned-old = Die letzte Prüfung ist { $days } Tag(e) her, länger als Einträge aufbewahrt werden: das kann ehrliches Entfernen sein, lässt sich aber nicht beweisen.{" "}
audit-pruned-past-pin = Prüfprotokoll seit der letzten Prüfung umgeschrieben oder darüber hinaus gekürzt: dieses Gerät hat seq { $pin }{ $when } festgehalten, aber das Protokoll des Servers beginnt jetzt nach seq { $cut } und behauptet, alles bis dahin sei nach Ablauf der Aufbewahrungsfrist entfernt worden, daher lassen sich seq { $first } bis { $cut } nicht prüfen. Der Server entfernt Einträge, die älter als audit_retention_days sind{ $retention }; eine Lücke zwischen zwei Prüfungen, die länger ist, lässt sich nicht als ehrlich beweisen. { $judgement }Es wurde nichts festgehalten. Vergleichen Sie den festgehaltenen Stand mit dem anderer Admins und mit einer Sicherung der Serverdaten; um die Lücke hinzunehmen und das Protokoll ab jetzt wie bei erster Nutzung zu prüfen, führen Sie aus: stadtbote --otp CODE admin audit --verify --accept-gap
audit-pin-not-hex = { $file } ist beschädigt (der festgehaltene Stand von seq { $seq } ist kein Hex); stellen Sie die Datei aus einer Sicherung wieder her
audit-pins-damaged = { $file } ist beschädigt: { $reason }
audit-pins-unreadable = { $file } kann nicht gelesen werden: { $reason }
audit-chain-changed = der Eintrag { $seq } des Prüfprotokolls wurde verändert
audit-chain-missing = der Eintrag { $seq } des Prüfprotokolls fehlt
audit-chain-reordered = der Eintrag { $seq } des Prüfprotokolls steht an der falschen Stelle
audit-chain-broken-link = der Eintrag { $seq } des Prüfprotokolls schließt nicht an den Eintrag davor an
audit-chain-head-mismatch = der gemeldete Stand { $seq } passt nicht zum Protokoll
audit-chain-pinned-missing = der festgehaltene Stand { $seq } fehlt: das Protokoll wurde gekürzt
audit-chain-pinned-different = der Eintrag { $seq } weicht vom festgehaltenen Stand ab: das Protokoll wurde umgeschrieben
audit-chain-pruned-past-pin = das Protokoll beginnt nach seq { $anchor }, aber der festgehaltene Stand ist seq { $pinned }: seit der letzten Prüfung umgeschrieben oder darüber hinaus gekürzt
devices-not-a-device-id = { $device } ist keine Geräte-Id (siehe `stadtbote device list`)

## web-sign und web-verify (issue 17: die signierte Web-App und ihre unabhängige Prüfung; commands/web.rs)
web-sign-io = { $path } kann nicht gelesen oder geschrieben werden: { $reason }
web-sign-key-exists = { $path } gibt es schon; ein Release-Schlüssel wird nie überschrieben (wählen Sie einen anderen Dateinamen)
web-sign-not-a-key = { $path } ist kein geheimer Web-Release-Schlüssel (einen erzeugen: stadtbote web-sign --new-key DATEI)
web-sign-key-too-open = { $path } ist für andere Benutzer lesbar; schränken Sie das ein mit: chmod 600 { $path }
web-sign-bad-file = { $path } kann nicht Teil der Web-App sein (ein symbolischer Link oder ein Name mit Zeichen, die ein Manifest nicht erlaubt); entfernen oder benennen Sie die Datei um
web-sign-bad-build-info = { $path } enthält keine Build-Informationen (ein JSON-Objekt aus Texten oder Zeilen name=wert)
web-sign-manifest = das Manifest kann nicht erstellt werden: { $reason }
web-sign-key-created = Release-Schlüssel erzeugt: { $path } (geheim; Modus 0600)
web-sign-key-public = Öffentlicher Teil: { $path } (als web_release_key eintragen oder web-verify mit --key übergeben)
web-sign-key-keep-offline = Bewahren Sie die geheime Datei offline und gesichert auf: wer sie hat, kann eine Web-App signieren, die jede Prüfung annimmt.
web-sign-usage = web-sign braucht das Bundle-Verzeichnis und --key DATEI: stadtbote web-sign VERZEICHNIS --key DATEI (oder --new-key DATEI, um einen Schlüssel zu erzeugen)
web-sign-signed = { $count ->
    [one] { $count } Datei der Version { $version } in { $dir } signiert.
   *[other] { $count } Dateien der Version { $version } in { $dir } signiert.
}
web-verify-label-fingerprint = Prüfsumme: { $value }
web-verify-label-key = Signiert mit: { $value }
web-verify-label-build = Build: { $name } { $value }
web-verify-key-release = dem Stadtbote-Release-Schlüssel { $fingerprint }
web-verify-key-own = einem eigenen Schlüssel der Kommune { $fingerprint }
web-verify-bad-key = { $key } ist weder ein Release-Schlüssel (64 Hex-Ziffern) noch eine Datei mit einem
web-verify-bad-url = { $url } ist keine Serveradresse; geben Sie sie als https://HOST (oder http://HOST:PORT) an
web-verify-state-damaged = { $path } ist beschädigt; löschen Sie die Datei (die nächste Prüfung hält die geprüfte Version neu fest)
web-verify-ok = { $count ->
    [one] OK: { $url } liefert die signierte Web-App aus, Version { $version } ({ $count } Datei Byte für Byte verglichen).
   *[other] OK: { $url } liefert die signierte Web-App aus, Version { $version } ({ $count } Dateien Byte für Byte verglichen).
}
web-verify-differs = { $count ->
    [one] FEHLER: { $url } liefert eine Web-App aus, die von ihrem signierten Manifest abweicht (Version { $version }, Prüfsumme { $fingerprint }), { $count } Abweichung:
   *[other] FEHLER: { $url } liefert eine Web-App aus, die von ihrem signierten Manifest abweicht (Version { $version }, Prüfsumme { $fingerprint }), { $count } Abweichungen:
}
web-verify-diff-missing = { $path }: steht im Manifest, wird aber nicht ausgeliefert
web-verify-diff-extra = { $path }: wird ausgeliefert und von der App geladen, steht aber nicht im Manifest
web-verify-diff-unlisted = { $path }: die App verweist darauf, es steht aber weder im Manifest, noch wird es ausgeliefert
web-verify-diff-other-origin = { $path }: die App lädt das von einem anderen Server
web-verify-diff-size = { $path }: { $actual } Bytes ausgeliefert, laut Manifest { $expected }
web-verify-diff-hash = { $path }: anderer Inhalt als signiert (SHA-256 { $actual }, laut Manifest { $expected })
web-verify-rolled-back = FEHLER: { $url } liefert Version { $version } aus, älter als die zuvor geprüfte Version { $newest } (eine ältere Ausgabe wurde zurückgespielt)
web-verify-invalid = FEHLER: das Manifest der Web-App auf { $url } ist nicht gültig (erwartet: signiert mit { $key }): { $reason }
web-verify-manifest-missing = der Server liefert kein Manifest aus (/stadtbote-web-manifest.json)
web-verify-manifest-unsigned = das Manifest ist nicht signiert (keine /stadtbote-web-manifest.sig)
web-verify-manifest-wrong-key = das Manifest ist mit einem anderen Schlüssel signiert, { $found } (baut die Kommune ihre eigene App, übergeben Sie deren Schlüssel mit --key)
web-verify-manifest-bad-signature = die Signatur passt nicht zum Manifest
web-verify-manifest-unknown-version = das Manifest hat die Formatversion { $version }, die dieses Programm nicht kennt (aktualisieren Sie stadtbote)
web-verify-manifest-malformed = das Manifest ist fehlerhaft ({ $reason })
web-verify-net-connect = { $url }: { $reason }
web-verify-net-tls = { $url }: TLS gescheitert: { $reason }
web-verify-net-timeout = { $url } hat nicht rechtzeitig geantwortet
web-verify-net-too-large = { $url } hat mehr geschickt, als eine Web-App groß sein kann
web-verify-unreachable = NETZWERK: die Prüfung war nicht möglich, der Server war nicht erreichbar: { $reason } (das ist kein Hinweis auf eine Veränderung; versuchen Sie es erneut)
web-verify-watch-ok = { $time } OK { $fingerprint } Version { $version }
web-verify-watch-differs = { $count ->
    [one] { $time } FAIL { $fingerprint } { $count } Abweichung, zuerst: { $first }
   *[other] { $time } FAIL { $fingerprint } { $count } Abweichungen, zuerst: { $first }
}
web-verify-watch-rolled-back = { $time } FAIL { $fingerprint } Version { $version } ist älter als die zuvor gesehene Version { $newest }
web-verify-watch-invalid = { $time } FAIL - { $reason }
web-verify-watch-unreachable = { $time } NETWORK - { $reason }

## web: die Web-App im Browser (Crate stadtbote-web). Die Texte stellt die
## Rust-Seite der App dar; die Zeilen der Datenschutzerklärung des Servers
## kommen aus privacy-item-KEY, privacy-retention-KEY und privacy-never-KEY.
web-app-name = Stadtbote
web-nav-label = Hauptnavigation
web-nav-about = Über diesen Dienst
web-lang-label = Sprache
web-lang-de = Deutsch
web-lang-en = English
web-about-heading = Über diesen Dienst
web-about-intro = Mit Stadtbote schreiben Sie Ihrer Stadtverwaltung und die Verwaltung Ihnen: Meldungen mit Foto, Fragen in der Sprechstunde, Neuigkeiten aus dem Rathaus.
web-about-encryption = Alles, was Sie schreiben, wird auf Ihrem Gerät verschlüsselt und erst auf den Geräten der zuständigen Menschen wieder entschlüsselt. Auch der Server der Stadt kann es nicht lesen.
web-about-no-number = Sie brauchen keine Telefonnummer und keine E-Mail-Adresse. Diese Seite lädt nichts von anderen Anbietern und setzt keine Cookies.
web-about-coming = Melden, Nachrichten und Sprechstunde im Browser folgen in der nächsten Version dieser App. Bis dahin nutzen Sie das Programm „stadtbote“ für die Kommandozeile.
web-server-heading = Wer diesen Dienst betreibt und was der Server speichert
web-server-loading = Die Angaben des Servers werden geladen …
web-server-failed = Die Angaben des Servers konnten nicht geladen werden ({ $reason }). Laden Sie die Seite neu; hilft das nicht, ist der Server vielleicht gerade nicht erreichbar.
web-operator = Betreiber
web-contact = Kontakt zum Datenschutz
web-source-code = Quellcode
web-public-url = Adresse dieses Dienstes
web-stored-heading = Was gespeichert wird, und wie lange
web-never-heading = Was nie gespeichert wird
web-limits-heading = Grenzen
web-limit-attachment = Größte Datei (etwa ein Foto): { $size }
web-limit-quota = Speicherplatz für Dateien je Konto: { $size }
web-size-mib = { $mib } MiB
web-size-bytes = { $bytes } Bytes
web-build-heading = Diese App
web-build-version = Version
web-build-rustc = Compiler
web-build-wasm-bindgen = wasm-bindgen
web-build-unknown = unbekannt
web-build-failed = Die Angaben zur Erstellung dieser App konnten nicht geladen werden ({ $reason }).
web-not-found-heading = Seite nicht gefunden
web-not-found-text = Diese Adresse kennt die App nicht.
web-back-home = Zur Startseite
web-footer = Ende-zu-Ende-verschlüsselt. Keine Telefonnummer, keine Werbung, keine Dritten.
web-error-http = Antwort des Servers { $status }
web-error-network = keine Verbindung zum Server
web-error-format = unerwartete Antwort des Servers

## s9-a11y: Sprache, Leichte Sprache, Barrierefreiheit der Web-App (Issue 16,
## Punkte 7 und 8). Die Texte in Leichter Sprache (web-easy-*) folgen den
## Regeln des Netzwerks Leichte Sprache: kurze Sätze, eine Aussage je Satz,
## lange Wörter mit Binde-Strich, schwere Wörter erklärt.
web-skip-link = Zum Inhalt springen
web-lang-easy = Leichte Sprache
web-footer-nav-label = Weitere Seiten
web-footer-accessibility = Erklärung zur Barrierefreiheit
web-footer-about = Über diesen Dienst
web-route-announced = Neue Seite: { $title }
web-guide-heading = So benutzen Sie Stadtbote
web-guide-switch = Oben auf jeder Seite wählen Sie die Sprache: Deutsch, Leichte Sprache oder English. Die App merkt sich Ihre Wahl nur auf diesem Gerät.
web-guide-keyboard = Sie können alles mit der Tastatur bedienen. Mit der Tab-Taste kommen Sie zum nächsten Link oder Knopf, mit der Eingabe-Taste öffnen Sie ihn. Der Link „Zum Inhalt springen“ ganz oben führt direkt zum Text der Seite.
web-guide-times = Uhrzeiten und Daten zeigt die App in der Zeitzone und in der Schreibweise Ihres Geräts.
web-guide-statement = Unten auf jeder Seite finden Sie die Erklärung zur Barrierefreiheit. Dort steht, was noch nicht barrierefrei ist und wo Sie Barrieren melden können.
web-easy-heading = Stadtbote in Leichter Sprache
web-easy-what-heading = Was ist Stadtbote?
web-easy-what-1 = Stadtbote ist ein Programm für Nachrichten.
web-easy-what-2 = Mit Stadtbote schreiben Sie der Stadt-Verwaltung.
web-easy-what-3 = Die Stadt-Verwaltung sind die Menschen im Rat-Haus. Sie arbeiten für die Stadt.
web-easy-what-4 = Sie können zum Beispiel schreiben: Auf der Straße ist ein Loch.
web-easy-what-5 = Sie können auch ein Foto schicken.
web-easy-what-6 = Die Stadt-Verwaltung schreibt Ihnen zurück.
web-easy-secret-heading = Ihre Nachrichten sind geheim
web-easy-secret-1 = Ihre Nachrichten sind verschlüsselt.
web-easy-secret-2 = Verschlüsselt heißt: Die Nachricht ist wie in einem Tresor.
web-easy-secret-3 = Nur die richtigen Menschen haben den Schlüssel für den Tresor.
web-easy-secret-4 = Nur diese Menschen können Ihre Nachricht lesen.
web-easy-secret-5 = Sie brauchen keine Telefon-Nummer.
web-easy-secret-6 = Sie brauchen keine E-Mail-Adresse.
web-easy-use-heading = So benutzen Sie diese Seite
web-easy-use-1 = Oben auf der Seite können Sie die Sprache wählen.
web-easy-use-2 = Es gibt Deutsch, Leichte Sprache und Englisch.
web-easy-use-3 = Sie können die Seite auch nur mit der Tastatur benutzen.
web-easy-use-4 = Mit der Tab-Taste kommen Sie zum nächsten Link.
web-easy-use-5 = Mit der Eingabe-Taste öffnen Sie den Link.
web-easy-use-6 = Ganz unten auf der Seite ist ein Link. Der Link heißt: Erklärung zur Barriere-Freiheit.
web-easy-use-7 = Barriere-Freiheit heißt: Alle Menschen können die Seite gut benutzen. Auch Menschen mit Behinderung.
web-easy-use-8 = In der Erklärung steht: Was auf der Seite noch nicht gut geht. Und wem Sie dann schreiben können.
web-easy-soon-heading = Was noch kommt
web-easy-soon-1 = Sie können auf dieser Seite noch keine Nachricht schreiben.
web-easy-soon-2 = Das kommt bald.
web-a11y-heading = Erklärung zur Barrierefreiheit
web-a11y-intro = { $operator } möchte, dass alle Menschen diese Web-App gut benutzen können. Diese Erklärung gilt für die Web-App Stadtbote unter dieser Adresse. Sie folgt der Barrierefreie-Informationstechnik-Verordnung (BITV 2.0) und dem Muster der Europäischen Union.
web-a11y-operator-unknown = Der Betreiber dieses Dienstes
web-a11y-status-heading = Wie barrierefrei ist die Web-App?
web-a11y-status = Die Web-App ist teilweise barrierefrei. Sie erfüllt die Anforderungen der BITV 2.0 (WCAG 2.1, Stufe AA) nur teilweise: die unten genannten Inhalte sind noch nicht barrierefrei.
web-a11y-gaps-heading = Was noch nicht barrierefrei ist, und warum
web-a11y-gap-dgs = Die Erklärungen auf der Startseite gibt es noch nicht in Deutscher Gebärdensprache. Die Videos sind noch nicht gedreht.
web-a11y-gap-easy = In Leichter Sprache gibt es bisher nur die Erklärungen auf der Startseite.
web-a11y-gap-features = Melden, Nachrichten und Sprechstunde gibt es in der Web-App noch nicht; sie folgen in der nächsten Version und werden dann ebenfalls geprüft. Das Programm „stadtbote“ für die Kommandozeile ist nicht Teil dieser Erklärung.
web-a11y-method-heading = Wie wir das geprüft haben
web-a11y-method = Diese Erklärung beruht auf einer Selbstbewertung vom { $date }: Jede Seite wurde in allen Sprachen automatisch mit axe-core { $axe } geprüft, in einem Browser auf Handy-Breite (360 Pixel) und Computer-Breite (1280 Pixel). Dazu haben wir die Bedienung mit der Tastatur, die Reihenfolge des Fokus und die Farbkontraste von Hand geprüft. Die Erklärung wurde zuletzt am { $date } überprüft.
web-a11y-feedback-heading = Barrieren melden
web-a11y-feedback = Ist Ihnen eine Barriere aufgefallen, oder brauchen Sie einen Inhalt in einer anderen Form? Schreiben Sie uns. Wir antworten Ihnen so bald wie möglich.
web-a11y-feedback-contact = Kontakt
web-a11y-contact-unknown = Der Betreiber hat noch keinen Kontakt angegeben.
web-a11y-enforcement-heading = Schlichtungsverfahren
web-a11y-enforcement = Bekommen Sie auf Ihre Meldung keine oder keine zufriedenstellende Antwort, können Sie sich an die Schlichtungsstelle wenden. Das Verfahren ist kostenlos, und Sie brauchen keinen Anwalt.
web-a11y-enforcement-body = Zuständige Stelle
web-a11y-enforcement-federal = Schlichtungsstelle nach dem Behindertengleichstellungsgesetz (§ 16 BGG) bei dem Beauftragten der Bundesregierung für die Belange von Menschen mit Behinderungen, Mauerstraße 53, 10117 Berlin
web-a11y-enforcement-land = Für Städte und Gemeinden ist oft die Schlichtungs- oder Durchsetzungsstelle ihres Bundeslandes zuständig. Fragen Sie den Betreiber unter dem Kontakt oben, welche Stelle es ist.
web-a11y-loading = Die Angaben des Betreibers werden geladen …

## s9-push (issue 18.5): the push subscription row of the privacy statement
## (server/src/privacy.rs)
privacy-item-push-subscriptions = Push-Abonnements
privacy-retention-push-subscriptions = bis die Benachrichtigungen ausgeschaltet werden, der Push-Dienst das Abonnement für erloschen erklärt, das Gerät oder Konto gelöscht wird, oder nach { $secs } ohne Nutzung

## s9-links: App-Links (Issue 16 Punkt 4; client-cli/src/app_links.rs, die
## Link-Seiten der Web-App in web/src/views/link.rs)
error-app-link = dieser Link ist nicht verwendbar: { $reason }; kopieren Sie den ganzen Link (oder scannen Sie den QR-Code) und versuchen Sie es noch einmal
app-link-length = leer oder zu lang für einen Stadtbote-Link
app-link-not-a-link = kein Stadtbote-Link (erwartet: https://…/#v1/… oder stadtbote:…)
app-link-no-fragment = der Webadresse fehlt der Teil #v1/… (wurde sie abgeschnitten?)
app-link-unknown-version = unbekannte Link-Version (diese App liest v1; aktualisieren Sie sie)
app-link-unknown-kind = unbekannte Link-Art (erwartet: org, channel oder group)
app-link-wrong-kind = dieser Link ist von der Art { $found }; hier wird ein Link der Art { $expected } gebraucht
app-link-malformed = der { $kind }-Link ist beschädigt (abgeschnitten oder vertippt)
app-link-url = Derselbe Link als Webadresse (öffnet die App im Browser; der QR-Code enthält sie):
app-link-org-url = Die Webadresse der Stadt mit ihrem Schlüssel (öffnet die App im Browser; der QR-Code enthält sie):
web-link-invalid-heading = Dieser Link ist nicht verwendbar
web-link-invalid-next = Kopieren Sie den ganzen Link noch einmal, oder scannen Sie den QR-Code erneut.
web-link-town-heading = Stadt
web-link-town-loading = Die Stadt wird geladen und ihr Schlüssel geprüft …
web-link-town = Stadt
web-link-handle = Kürzel
web-link-fingerprint = Fingerabdruck des Schlüssels
web-link-verified = verifiziert
web-link-verified-text = Der Schlüssel der Stadt stimmt mit dem Link (dem QR-Code auf ihrem Aushang) überein, und ihr Profil ist mit diesem Schlüssel unterschrieben.
web-link-pinned = Dieser Browser hat den Schlüssel gespeichert: Ein anderer Schlüssel für diese Stadt wird ab jetzt gemeldet.
web-link-already-pinned = Dieser Browser hatte diesen Schlüssel schon gespeichert.
web-link-not-saved = Dieser Browser konnte den Schlüssel nicht speichern (privates Fenster, ein anderer Tab dieser App oder kein Platz); die Prüfung oben gilt trotzdem.
web-link-rotated = Die Stadt hat ihren Schlüssel gewechselt, seit der Aushang gedruckt wurde; der Schlüssel aus dem Link hat den Wechsel unterschrieben.
web-link-town-coming = Meldungen, Sprechstunden und die Kanäle der Stadt folgen bald in dieser App.
web-link-warning-heading = Warnung: Diese Stadt konnte nicht bestätigt werden
web-link-warning-next = Senden Sie dieser Stadt hier nichts, und sagen Sie der Stadtverwaltung (telefonisch oder persönlich), was Sie gesehen haben.
web-link-mismatch-unknown = Der Server kennt keine Stadt mit dem Kürzel { $handle }.
web-link-mismatch-other = Der Server hat für eine andere Stadt geantwortet.
web-link-mismatch-not-set-up = Die Stadt hat ihren Schlüssel noch nicht eingerichtet.
web-link-mismatch-key = Der Server zeigt einen anderen Schlüssel (Fingerabdruck { $presented }) als der Link. Der Link oder der Server ist nicht echt.
web-link-mismatch-profile = Das Profil der Stadt ist nicht mit ihrem Schlüssel unterschrieben.
web-link-mismatch-pinned = Dieser Browser hat für diese Stadt früher einen anderen Schlüssel gespeichert (Fingerabdruck { $pinned }), und dieser hat keinen Wechsel unterschrieben.
web-link-failed = Die Stadt konnte nicht geladen werden (keine Verbindung zum Server). Laden Sie die Seite neu, um es noch einmal zu versuchen.
web-link-channel-heading = Einladung zu einem Kanal
web-link-channel-text = Dieser Link lädt Sie ein, einem Kanal von { $handle } zu folgen.
web-link-channel-coming = Einem Kanal im Browser folgen können Sie, sobald die Kanal-Ansicht dieser App fertig ist. Bis dahin: stadtbote follow LINK im Stadtbote-Programm.
web-link-group-heading = Einladung zu einer Diskussionsgruppe
web-link-group-text = Mit diesem Link können Sie einer Diskussionsgruppe von { $handle } beitreten.
web-link-group-coming = Einer Gruppe im Browser beitreten können Sie, sobald die Gruppen-Ansicht dieser App fertig ist. Bis dahin: stadtbote group join LINK im Stadtbote-Programm.

## s9-webcheck: die Selbstprüfung der Web-App beim Start (issue 17.4), ihre
## Angaben auf der Seite „Über diesen Dienst“ und die Installation (issue 16.9).
web-integrity-warning-heading = Warnung: Diese App weicht von der signierten Fassung ab
web-integrity-differs = Diese Dateien der App stimmen nicht mit dem signierten Manifest überein:
web-integrity-invalid = Das Manifest dieser App ist nicht gültig signiert: { $reason }.
web-integrity-more = und { $count } weitere
web-integrity-file-missing = { $path } fehlt
web-integrity-file-unlisted = { $path } steht nicht im Manifest
web-integrity-file-other-origin = { $path } liegt auf einem anderen Server
web-integrity-file-changed = { $path } hat einen anderen Inhalt
web-integrity-error-missing = der Server liefert kein Manifest
web-integrity-error-unsigned = das Manifest ist nicht signiert
web-integrity-error-wrong-key = das Manifest ist mit einem anderen Schlüssel signiert ({ $key })
web-integrity-error-bad-signature = die Signatur des Manifests ist ungültig
web-integrity-error-malformed = das Manifest ist beschädigt
web-integrity-advice = Geben Sie in dieser App vorerst nichts Vertrauliches ein. Bitte informieren Sie die Stadt (Kontakt unter „Über diesen Dienst“): Der Server liefert nicht genau die geprüfte App aus.
web-integrity-verify = Unabhängig prüfen, von einem anderen Rechner: stadtbote web-verify { $url }
web-release-heading = Prüfung dieser App
web-release-checking = Die App prüft gerade ihre Dateien …
web-release-unchecked = Die App konnte ihre Dateien nicht prüfen ({ $reason }).
web-release-genuine = Die Dateien dieser App stimmen mit dem signierten Manifest überein.
web-release-differs = Die Dateien dieser App stimmen NICHT mit dem signierten Manifest überein (siehe Warnung oben).
web-release-invalid = Das Manifest dieser App ist nicht gültig signiert: { $reason }.
web-release-version = Version (Manifest)
web-release-fingerprint = Prüfsumme
web-release-signer = Signiert von
web-release-signer-project = dem Stadtbote-Projekt (Release-Schlüssel { $key })
web-release-signer-operator = dem eigenen Schlüssel des Betreibers ({ $key })
web-release-limit = Diese Prüfung läuft in Ihrem Browser und kommt vom selben Server wie die App. Ein Server, der absichtlich veränderten Code ausliefert, kann auch diese Prüfung verändern; die verlässliche Prüfung ist „stadtbote web-verify“ von einem anderen Rechner.
web-keys-heading = Ihre Schlüssel bleiben in diesem Browser
web-keys-browser-data = Die Schlüssel dieses Geräts liegen nur in den Daten dieses Browsers. Wenn Sie die Browserdaten löschen (oder der Browser sie löscht), sind die Schlüssel verloren und Sie können Ihre bisherigen Nachrichten nicht mehr lesen – es sei denn, Sie haben ein weiteres Gerät mit Ihrem Konto verknüpft.
web-install-ios = Auf dem iPhone oder iPad: Tippen Sie auf „Teilen“ und dann auf „Zum Home-Bildschirm“. Sonst löscht Safari die Daten dieser App nach 7 Tagen ohne Besuch, und mit ihnen die Schlüssel dieses Geräts.
web-install-other = Sie können Stadtbote wie eine App installieren (im Menü des Browsers: „App installieren“ oder „Zum Startbildschirm hinzufügen“). Die installierte App startet auch ohne Verbindung.

## s10-follow: die Kanal-Ansicht im Browser (issue 16, Kanäle) – einem Kanal
## ohne Konto folgen, Beiträge live lesen, Warnungen bei zurückgehaltenen
## oder gefälschten Beiträgen.
web-channel-heading = Kanal
web-channel-from = Ein Kanal von { $handle }. Jeder Beitrag wird in diesem Browser entschlüsselt und seine Unterschrift geprüft.
web-channel-status-connecting = Verbinde mit dem Server …
web-channel-status-live = Verbunden – neue Beiträge erscheinen hier sofort.
web-channel-status-reconnecting = Verbindung unterbrochen – wird wiederhergestellt
web-channel-status-stopped = Dieser Kanal kann nicht angezeigt werden.
web-channel-status-unfollowed = Sie folgen diesem Kanal nicht mehr. Dieser Browser hat seinen Schlüssel gelöscht.
web-channel-failed-unknown = Diesen Kanal gibt es auf diesem Server nicht (mehr). Fragen Sie die Stadt nach dem aktuellen Link.
web-channel-failed-forged = Warnung: Die Angaben des Servers zu diesem Kanal passen nicht zum Schlüssel der Stadt im Link. Das kann ein Angriff sein. Es wird nichts angezeigt. Vergleichen Sie den Fingerabdruck mit dem Aushang der Stadt.
web-channel-failed-outdated = Dieser Link ist veraltet: Der Kanal hat einen neuen Schlüssel. Fragen Sie die Stadt nach dem aktuellen Link.
web-channel-failed-lists = Warnung: Der Server hält die aktuelle Sperrliste der Stadt zurück. Er könnte ein gestohlenes Gerät verbergen, deshalb werden keine Beiträge angezeigt. Versuchen Sie es später noch einmal.
web-channel-failed-storage = Dieser Browser kann den Kanal nicht speichern (privates Fenster oder Speicher voll).
web-channel-warning-withheld = Warnung: Der Server hält Beitrag { $posts } zurück, obwohl er noch nicht abgelaufen sein kann. Spätere Beiträge werden erst gezeigt, wenn er ankommt. Melden Sie es der Stadt, wenn das so bleibt.
web-channel-warning-forged = Warnung: Beitrag { $posts } ist nicht von { $handle } unterschrieben (gefälscht) und wird nicht gezeigt.
web-channel-warning-altered = Warnung: Beitrag { $posts } wurde verändert oder ist beschädigt und wird nicht gezeigt.
web-channel-warning-rotated = Der Kanal hat einen neuen Schlüssel (ab Beitrag { $posts }). Fragen Sie die Stadt nach dem neuen Link.
web-channel-warning-revoked = Warnung: Beitrag { $posts } wurde mit einem gesperrten (verlorenen oder gestohlenen) Gerät der Stadt unterschrieben und wird nicht gezeigt.
web-channel-note-expired = Ältere Beiträge ({ $posts }) sind abgelaufen und wurden gelöscht.
web-channel-posts = Beiträge
web-channel-loading = Beiträge werden geladen …
web-channel-none = Noch keine Beiträge.
web-channel-post-label = Beitrag { $seq }
web-channel-photo-alt = Foto { $number } zu Beitrag { $seq }
web-channel-photo-loading = Foto { $number } wird geladen …
web-channel-photo-failed = Foto { $number } kann nicht angezeigt werden.
web-channel-unfollow = Kanal nicht mehr folgen
web-followed-heading = Ihre Kanäle

## s11-orgdata: Impressum, Datenschutzerklärung und Textbausteine im
## signierten Profil (Issue 16, Punkte 5 und 6; client-cli/src/org_legal.rs,
## client-cli/src/commands/org_legal.rs, web/src/views/town.rs).
org-legal-impressum = Impressum:
org-legal-controller = Datenschutzerklärung – Verantwortlicher:
org-legal-dpo = Datenschutzerklärung – Datenschutzbeauftragte:
org-legal-purposes = Datenschutzerklärung – Zwecke und Rechtsgrundlage:
org-legal-retention = Datenschutzerklärung – Speicherdauer:
org-legal-recipients = Datenschutzerklärung – Empfänger:
org-legal-rights = Datenschutzerklärung – Ihre Rechte:
org-legal-none = Rechtliches: nichts veröffentlicht (die Org-Administration setzt es mit `stadtbote org legal set`)
org-legal-set = Rechtliche Angaben von { $org } gesetzt:
org-legal-incomplete = die Datenschutzerklärung braucht mindestens --controller, --purposes und --retention (DSGVO Art. 13); ergänzen Sie die fehlenden Teile mit `stadtbote org legal set`.
org-legal-shown = Bürgerinnen und Bürger sehen sie mit `stadtbote org info { $handle }` und auf der Seite der Stadt in der Web-App.
org-legal-read-failed = { $file } kann nicht gelesen werden
org-legal-not-utf8 = { $file } ist kein UTF-8-Text; speichern Sie die Datei als UTF-8 und führen Sie den Befehl erneut aus.
org-templates-none = Textbausteine: keine
org-templates-heading = Textbausteine (Abteilung/Name: Text):
org-template-added = Textbaustein „{ $name }“ für die Abteilung { $department } hinzugefügt.
org-template-replaced = Textbaustein „{ $name }“ für die Abteilung { $department } ersetzt.
org-template-removed = Textbaustein „{ $name }“ der Abteilung { $department } entfernt.
org-template-use = Mitarbeitende verwenden ihn mit: stadtbote reply VORGANG --template { $name }
org-template-no-text = geben Sie den Text des Bausteins an oder --file DATEI.
org-template-unknown = die Abteilung { $department } des Vorgangs hat keinen Textbaustein „{ $name }“ (vorhanden: { $names }); siehe `stadtbote org template list`.
org-template-not-found = die Abteilung { $department } hat keinen Textbaustein „{ $name }“ (vorhanden: { $names }).
web-town-categories = Meldekategorien
web-town-categories-text = Sie können der Stadt melden:
web-town-no-categories = Die Stadt hat noch keine Meldekategorien veröffentlicht.
web-town-hours = Sprechstunde
web-town-live = Die Sprechstunde läuft gerade (seit { $time }).
web-town-not-live = Gerade läuft keine Sprechstunde.
web-town-hours-zone = Jede Woche, in der Ortszeit der Stadt ({ $zone }):
web-town-no-hours = Die Stadt hat noch keine Sprechstunden veröffentlicht.
web-town-auto-reply = Antwort der Stadt außerhalb der Sprechstunde
web-town-channels = Kanäle
web-town-channels-text = Die Stadt veröffentlicht { $count } Kanal/Kanäle. Folgen Sie einem über den Link oder QR-Code, den die Stadt verteilt.
web-town-no-channels = Die Stadt veröffentlicht noch keine Kanäle.
web-town-impressum = Impressum
web-town-no-impressum = Die Stadt hat in dieser App noch kein Impressum veröffentlicht.
web-town-privacy = Datenschutzerklärung
web-town-privacy-text = Die Informationen der Stadt nach Art. 13 DSGVO:
web-town-no-privacy = Die Stadt hat in dieser App noch keine Datenschutzerklärung veröffentlicht.
web-town-controller = Verantwortliche Stelle
web-town-dpo = Datenschutzbeauftragte
web-town-purposes = Zwecke und Rechtsgrundlage
web-town-retention = Speicherdauer
web-town-recipients = Empfänger
web-town-rights = Ihre Rechte
web-town-signed = Alles auf dieser Seite stammt aus dem mit dem Schlüssel der Stadt signierten Profil und wurde in diesem Browser geprüft; der Server kann es nicht verändern.
web-town-report-coming = Meldungen können Sie bald direkt aus dieser App schicken.
web-weekday-mon = Montag
web-weekday-tue = Dienstag
web-weekday-wed = Mittwoch
web-weekday-thu = Donnerstag
web-weekday-fri = Freitag
web-weekday-sat = Samstag
web-weekday-sun = Sonntag

## s11-orgdata: Hilfetexte zu `org legal`, `org template` und `reply --template`
help-org-legal = Impressum und Datenschutzhinweise (DSGVO Art. 13) der Gemeinde in ihrem signierten Profil
help-org-legal-set = Impressum und Datenschutzhinweise (DSGVO Art. 13) der Gemeinde im signierten Profil setzen, jeweils aus einer Textdatei (UTF-8; eine leere Datei entfernt den Teil). Nur die zu ändernden Teile angeben; die anderen bleiben. Die Apps der Bürgerinnen und Bürger zeigen sie aus dem geprüften Profil
    .impressum = Impressum: wer den Dienst betreibt, Anschrift, Kontakt, Vertretung
    .controller = Verantwortliche Stelle (Art. 13 Abs. 1 lit. a): Name, Postanschrift, Kontakt
    .dpo = Datenschutzbeauftragte Person (Art. 13 Abs. 1 lit. b): Kontakt
    .purposes = Zwecke der Verarbeitung und ihre Rechtsgrundlage (Art. 13 Abs. 1 lit. c)
    .retention = Wie lange Daten gespeichert werden (Art. 13 Abs. 2 lit. a)
    .recipients = Empfänger der Daten (Art. 13 Abs. 1 lit. e)
    .rights = Die Rechte der Bürgerinnen und Bürger, einschließlich der Beschwerde bei der Aufsichtsbehörde (Art. 13 Abs. 2 lit. b-d)
help-org-legal-show = Die rechtlichen Seiten des veröffentlichten Profils der Org zeigen
    .json = Ein JSON-Objekt
help-org-template = Die Textbausteine der Abteilungen im signierten Profil
help-org-template-add = Einen Textbaustein für eine Abteilung hinzufügen oder den gleichnamigen ersetzen; Mitarbeitende nutzen ihn mit `reply VORGANG --template NAME`
    .name = Sein Kurzname, z. B. erledigt (1-32 Zeichen aus a-z, 0-9, -, _)
    .department = Die Abteilung, deren Mitarbeitende ihn nutzen, z. B. bauhof
    .text = Der Antworttext (oder --file)
    .file = Den Antworttext aus dieser Datei lesen (UTF-8)
help-org-template-list = Die Textbausteine des veröffentlichten Profils der Org auflisten
    .department = Nur die dieser Abteilung
    .json = Ein JSON-Objekt pro Textbaustein
help-org-template-remove = Einen Textbaustein entfernen
    .name = Sein Name
    .department = Seine Abteilung
