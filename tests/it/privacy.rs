//! Privacy invariants as tests: the data directory never holds plaintext or
//! display names, the server log never holds account or device ids or client
//! addresses, and local client state is readable only by its user.

use stadtbote_protocol::{AccountId, DeviceId};

use crate::harness::{Device, Server, contains_bytes, files_below};

#[test]
fn data_dir_holds_no_plaintext_and_log_holds_no_ids_or_client_addresses() {
    let mut server = Server::start_with(&[("STADTBOTE_LOG", "debug")]);
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    let names = ["Annegret Quellmalz", "Bernhard Zwiebelturm"];
    let a = anna.init(names[0]);
    let b = bernd.init(names[1]);
    let texts = [
        "Schlagloch vor Hausnummer 17 in der Lindenallee",
        "Sprechstunde des Bürgermeisters am Donnerstag",
        "Vertraulich: Antrag auf Wohngeld XJ-4471",
    ];
    anna.ok(&["send", &b, texts[0]]);
    bernd.ok(&["send", &a, texts[1]]);
    // One message stays undelivered so that it is certainly still on disk.
    anna.ok(&["send", &b, texts[2]]);
    assert_eq!(anna.inbox_texts(), [texts[1]]);
    // Stop the server so that everything is flushed to its files.
    server.terminate();

    let files = files_below(&server.data_dir);
    assert!(!files.is_empty(), "the data dir has files");
    let mut scanned = 0usize;
    for file in files {
        let bytes = std::fs::read(&file).expect("read data file");
        scanned += bytes.len();
        for secret in texts.iter().chain(names.iter()) {
            assert!(
                !contains_bytes(&bytes, secret.as_bytes()),
                "{secret:?} found in plain text in {}",
                file.display()
            );
        }
    }
    assert!(scanned > 0);

    let log = server.log();
    assert!(!log.is_empty(), "the server logged something at debug level");
    let device_ids = [anna.device_id(), bernd.device_id()];
    for id in [&a, &b].into_iter().chain(device_ids.iter()) {
        assert!(!log.contains(id.as_str()), "id {id} appears in the server log");
        let raw: Vec<u8> = AccountId::parse(id)
            .map(|x| x.0.to_vec())
            .or_else(|_| DeviceId::parse(id).map(|x| x.0.to_vec()))
            .expect("id parses");
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!log.to_lowercase().contains(&hex), "id {id} appears as hex in the server log");
    }
    for secret in texts.iter().chain(names.iter()) {
        assert!(!log.contains(secret), "{secret:?} appears in the server log");
    }
    // The only address the log may name is the server's own listening
    // address; a client's address (127.0.0.1 with another port) never.
    let own = server.addr.to_string();
    for line in log.lines() {
        let mut rest = line;
        while let Some(pos) = rest.find("127.0.0.1") {
            let tail = &rest[pos..];
            assert!(tail.starts_with(&own), "log line names a client address: {line}");
            rest = &tail[9..];
        }
    }
}

#[test]
fn client_home_files_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    anna.ok(&["send", &b, "privat"]);
    let dir_mode = std::fs::metadata(&anna.home).expect("home").permissions().mode();
    assert_eq!(dir_mode & 0o077, 0, "home dir mode {dir_mode:o}");
    for file in files_below(&anna.home) {
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", file.display());
    }
}
