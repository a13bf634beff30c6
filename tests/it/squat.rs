//! Strangers cannot squat or probe conversations (issue 13, item 5): a third
//! account cannot create the 1:1 conversation of two others, a non-member
//! gets one answer whether or not a group exists, a member cannot make the
//! server's member list differ from the MLS group, and only a discussion
//! group's moderators can end it.

use std::time::{Duration, Instant};

use serde_bytes::ByteBuf;
use stadtbote_protocol::ids::conversation_id;
use stadtbote_protocol::mls::MlsClient;
use stadtbote_protocol::{AccountId, DeviceId, ErrorBody, GroupId, Request, Response};

use crate::block_on;
use crate::harness::raw_mls as raw;
use crate::harness::{Device, RawClient, Server, last_line};
use crate::municipal::Town;

fn account_of(device: &Device) -> AccountId {
    AccountId::parse(device.whoami()["account"].as_str().unwrap()).unwrap()
}

/// A raw client logged in as a CLI home's device.
async fn login_as(url: &str, device: &Device) -> RawClient {
    let secret = crate::harness::raw::home_secret(&device.home).unwrap();
    let id = DeviceId::parse(&device.device_id()).unwrap();
    let mut client = RawClient::connect(url).await.unwrap();
    let login = client.login_request(&secret, id);
    assert!(matches!(client.request(login).await.unwrap(), Ok(Response::LoggedIn { .. })));
    client
}

#[test]
fn a_third_account_cannot_squat_the_conversation_of_two_others() {
    let server = Server::start();
    let url = server.url();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    let (a_id, b_id) = (account_of(&anna), account_of(&bernd));
    let target = conversation_id(&a_id, &b_id);

    block_on(async {
        let mut carol = RawClient::connect(&url).await.unwrap();
        let (secret, carol_account, carol_device) = carol.register().await.unwrap();
        // Carol creates Anna's and Bernd's conversation before they talk,
        // with a real MLS commit and every claim she can make.
        for request in raw::squat_requests(&secret, carol_account, carol_device, target, a_id) {
            let answer = carol.request(request).await.unwrap();
            assert!(
                answer.is_err(),
                "the server let a stranger create the conversation: {answer:?}"
            );
        }
    });

    anna.ok(&["send", &b, "Hallo Bernd, hier ist Anna"]);
    let inbox = bernd.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["text"], "Hallo Bernd, hier ist Anna");
    // Their conversation has a random id: nothing a stranger could have
    // computed and taken first.
    assert_ne!(inbox[0]["conversation"], target.to_string());
    let a = anna.whoami()["account"].as_str().unwrap().to_string();
    bernd.ok(&["send", &a, "Hallo Anna"]);
    assert_eq!(anna.inbox_texts(), ["Hallo Anna"]);
}

#[test]
fn the_server_no_longer_creates_a_group_from_a_derived_conversation_id() {
    let server = Server::start();
    let url = server.url();
    let anna = Device::new(&server);
    anna.init("Anna");
    let a_id = account_of(&anna);
    block_on(async {
        // Even one of the two accounts cannot create the derived id any
        // more: it would name the pair in every envelope's clear header.
        let mut bernd = RawClient::connect(&url).await.unwrap();
        let (secret, account, device) = bernd.register().await.unwrap();
        let derived = conversation_id(&a_id, &account);
        let create =
            Some(stadtbote_protocol::membership::GroupCreation::Conversation { peer: a_id });
        let request = raw::create_request(&secret, account, device, derived, create);
        let answer = bernd.request(request).await.unwrap();
        assert!(answer.is_err(), "the server created a derived conversation id: {answer:?}");
        // A random group with its nonce still works.
        let (group, nonce) = stadtbote_protocol::membership::new_random_group();
        let create = Some(stadtbote_protocol::membership::GroupCreation::Random {
            nonce: ByteBuf::from(nonce.to_vec()),
        });
        let request = raw::create_request(&secret, account, device, group, create);
        let answer = bernd.request(request).await.unwrap();
        assert!(matches!(answer, Ok(Response::CommitAccepted { .. })), "{answer:?}");
    });
}

/// Who probes: a stranger's device, and an account named as the peer.
struct Prober {
    secret: stadtbote_protocol::auth::DeviceSecret,
    account: AccountId,
    device: DeviceId,
    peer: AccountId,
}

/// Every request a non-member can make about `group`.
fn probes(group: GroupId, p: &Prober) -> Vec<Request> {
    let commit = |epoch| raw::probe_commit(&p.secret, p.account, p.device, group, epoch, p.peer);
    vec![
        Request::Send { group, message: ByteBuf::from(vec![0x51; 80]) },
        commit(0),
        commit(1),
        commit(3),
        raw::expiry_request(group, u64::MAX / 2, None),
        Request::GroupInfoPut {
            group,
            token_hash: ByteBuf::from(vec![7; 32]),
            info: ByteBuf::from(vec![1; 64]),
            org: None,
        },
        Request::GroupInfoGet { group, token: ByteBuf::from(vec![9; 32]) },
        Request::ExternalJoin {
            group,
            epoch: 1,
            commit: ByteBuf::from(vec![0xC0; 64]),
            token: ByteBuf::from(vec![9; 32]),
        },
    ]
}

/// The answers to every probe.
async fn probe_all(client: &mut RawClient, group: GroupId, prober: &Prober) -> Vec<ErrorBody> {
    let mut answers = Vec::new();
    for request in probes(group, prober) {
        let name = request.name();
        match client.request(request).await.unwrap() {
            Err(body) => answers.push(body),
            Ok(response) => panic!("a stranger's {name} succeeded: {response:?}"),
        }
    }
    answers
}

#[test]
fn a_non_member_gets_the_same_answer_whether_or_not_a_conversation_exists() {
    let server = Server::start_with(&[("STADTBOTE_CODE_RATE_PER_MINUTE", "10000")]);
    let url = server.url();
    let anna = Device::new(&server);
    let bernd = Device::new(&server);
    anna.init("Anna");
    let b = bernd.init("Bernd");
    let (a_id, b_id) = (account_of(&anna), account_of(&bernd));
    anna.ok(&["send", &b, "Hallo"]);
    let inbox = bernd.inbox();
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["text"], "Hallo");
    // The conversation's real (random) id, and one that does not exist:
    // the derived id of the pair, and the derived id with a stranger.
    let existing = GroupId::parse(inbox[0]["conversation"].as_str().unwrap()).unwrap();
    let missing = conversation_id(&a_id, &AccountId::random());
    assert_ne!(existing, conversation_id(&a_id, &b_id));

    let compare = |label: &str| {
        block_on(async {
            let mut carol = RawClient::connect(&url).await.unwrap();
            let (secret, account, device) = carol.register().await.unwrap();
            let prober = Prober { secret, account, device, peer: a_id };
            let started = Instant::now();
            let there = probe_all(&mut carol, existing, &prober).await;
            let there_took = started.elapsed();
            let started = Instant::now();
            let absent = probe_all(&mut carol, missing, &prober).await;
            let absent_took = started.elapsed();
            assert_eq!(there, absent, "{label}: the answers tell the conversation exists");
            // Same timing class: neither side waits for a disk flush.
            assert!(
                there_took < Duration::from_secs(2) && absent_took < Duration::from_secs(2),
                "{label}: {there_took:?} vs {absent_took:?}"
            );
            eprintln!("{label}: existing {there_took:?}, missing {absent_took:?}");
        })
    };
    compare("both accounts alive");
    // Bernd deletes his account: the conversation still holds Anna.
    bernd.ok(&["account", "delete", "--yes"]);
    compare("after Bernd deleted his account");
}

#[test]
fn a_member_cannot_claim_other_membership_changes_than_its_commit_makes() {
    let server = Server::start();
    let url = server.url();
    let anna = Device::new(&server);
    anna.init("Anna");
    let anna_device = DeviceId::parse(&anna.device_id()).unwrap();

    block_on(async {
        let mut mallory = RawClient::connect(&url).await.unwrap();
        let (secret, account, device) = mallory.register().await.unwrap();
        let mls = MlsClient::new(&secret, account, device);
        raw::publish_device_list(&mut mallory, &secret, account, device).await;
        raw::upload_key_packages(&mut mallory, &mls).await;
        anna.ok(&["send", &account.to_string(), "Hallo Mallory"]);
        let history =
            crate::harness::json_lines(&anna.ok(&["history", &account.to_string(), "--json"]));
        let group = GroupId::parse(history[0]["conversation"].as_str().unwrap()).unwrap();
        raw::receive_until(&mut mallory, &mls, |mls| mls.has_group(&group).unwrap_or(false)).await;

        // A real commit that changes nothing, declared to the server as
        // removing Anna's device: the server would stop delivering to her
        // while the MLS group still holds her.
        let commit = mls.commit_update(&group).unwrap();
        let lie = raw::commit_request(&secret, &group, &commit, vec![], vec![anna_device]);
        let answer = mallory.request(lie).await.unwrap();
        assert!(answer.is_err(), "the server applied a false removal: {answer:?}");
        mls.clear_pending(&group).unwrap();

        // A commit that really adds a stranger's device, declared as
        // changing nothing (and so bound in the commit itself): Anna's
        // client refuses it.
        if let Some((commit, declared_add, declared_remove)) =
            raw::misdeclared_add(&mls, &group).await
        {
            let request =
                raw::commit_request(&secret, &group, &commit, declared_add, declared_remove);
            let answer = mallory.request(request).await.unwrap();
            assert!(matches!(answer, Ok(Response::CommitAccepted { .. })), "{answer:?}");
            mls.merge_pending(&group).unwrap();
            let message = mls.encrypt(&group, &raw::text_payload("nach dem Trick")).unwrap();
            let sent =
                mallory.request(Request::Send { group, message: ByteBuf::from(message) }).await;
            assert!(matches!(sent.unwrap(), Ok(Response::Stored { .. })));
            let out = anna.run(&["inbox"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stdout.contains("nach dem Trick"), "{stdout}");
            assert!(stderr.contains("refused a change of members"), "{stderr}");
        }
    });
}

#[test]
fn only_a_moderator_can_end_a_discussion_group() {
    let town = Town::new(Server::start());
    let url = town.server.url();
    let moderator = town.enrol("Moderation Rathaus", "buergermeister");
    let group = last_line(&moderator.ok(&["group", "create", "Bürgerforum Radwege"]));
    let link = last_line(&moderator.ok(&["group", "invite", &group]));
    let anna = town.citizen("Anna Amsel");
    assert_eq!(last_line(&anna.ok(&["group", "join", &link])), group);
    let group_id = GroupId::parse(&group).unwrap();

    let soon = stadtbote_protocol_now() + 600_000;
    block_on(async {
        let mut as_anna = login_as(&url, &anna).await;
        let org = match as_anna
            .request(Request::OrgDirectory { handle: crate::municipal::HANDLE.into() })
            .await
            .unwrap()
        {
            Ok(Response::Org { info }) => info.org,
            other => panic!("{other:?}"),
        };
        for claimed in [None, Some(org)] {
            let answer =
                as_anna.request(raw::expiry_request(group_id, soon, claimed)).await.unwrap();
            assert!(answer.is_err(), "a citizen member ended the discussion group: {answer:?}");
        }
        anna_still_posts(&anna, &moderator, &group);
        // The moderator (staff of the org) can.
        let mut as_moderator = login_as(&url, &moderator).await;
        let answer =
            as_moderator.request(raw::expiry_request(group_id, soon, Some(org))).await.unwrap();
        assert_eq!(answer, Ok(Response::GroupExpirySet { expires_at: soon }));
    });
}

/// The org id of `handle`, as the directory names it.
async fn org_id(client: &mut RawClient, handle: &str) -> stadtbote_protocol::OrgId {
    match client.request(Request::OrgDirectory { handle: handle.into() }).await.unwrap() {
        Ok(Response::Org { info }) => info.org,
        other => panic!("{other:?}"),
    }
}

#[test]
fn staff_of_another_org_cannot_end_a_discussion_group() {
    let town = Town::new(Server::start());
    let url = town.server.url();
    let moderator = town.enrol("Moderation Rathaus", "buergermeister");
    let group = last_line(&moderator.ok(&["group", "create", "Bürgerforum Radwege"]));
    let link = last_line(&moderator.ok(&["group", "invite", &group]));
    let anna = town.citizen("Anna Amsel");
    assert_eq!(last_line(&anna.ok(&["group", "join", &link])), group);
    let group_id = GroupId::parse(&group).unwrap();

    // A second org on the same server, with a certified clerk who joins
    // the first org's group by its link, like any citizen may.
    let code = last_line(&town.admin_ok(&[
        "admin",
        "org",
        "create",
        "Stadt Wernigerode",
        "--handle",
        "wernigerode",
    ]));
    let other_mayor = Device::new(&town.server);
    other_mayor.init("Bürgermeister Weber");
    other_mayor.ok(&["org", "claim", &code]);
    other_mayor.ok(&["org", "category", "add", "Lärm", "--department", "ordnung"]);
    let invite = last_line(&other_mayor.ok(&[
        "org",
        "invite-staff",
        "--department",
        "ordnung",
        "--role",
        "clerk",
    ]));
    let outsider = Device::new(&town.server);
    outsider.init("Olaf Ordnung");
    outsider.ok(&["enroll", &invite]);
    other_mayor.ok(&["org", "approve", &outsider.device_id()]);
    assert_eq!(last_line(&outsider.ok(&["group", "join", &link])), group);

    let soon = stadtbote_protocol_now() + 600_000;
    block_on(async {
        let mut as_outsider = login_as(&url, &outsider).await;
        let other_org = org_id(&mut as_outsider, "wernigerode").await;
        let town_org = org_id(&mut as_outsider, crate::municipal::HANDLE).await;
        // Staff of another org, presenting its own certificate or claiming
        // the group's org, cannot end the group.
        for claimed in [Some(other_org), Some(town_org), None] {
            let answer =
                as_outsider.request(raw::expiry_request(group_id, soon, claimed)).await.unwrap();
            assert!(answer.is_err(), "staff of another org ended the group: {answer:?}");
        }
        // Nor can it record its own org for a group it did not create.
        let answer = as_outsider
            .request(Request::GroupInfoPut {
                group: group_id,
                token_hash: ByteBuf::from(vec![7; 32]),
                info: ByteBuf::from(vec![1; 64]),
                org: Some(other_org),
            })
            .await
            .unwrap();
        assert!(answer.is_ok(), "a member may replace the link: {answer:?}");
        let answer = as_outsider
            .request(raw::expiry_request(group_id, soon, Some(other_org)))
            .await
            .unwrap();
        assert!(answer.is_err(), "the group's org changed: {answer:?}");
        // The group's own moderator can end it.
        let mut as_moderator = login_as(&url, &moderator).await;
        let answer = as_moderator
            .request(raw::expiry_request(group_id, soon, Some(town_org)))
            .await
            .unwrap();
        assert_eq!(answer, Ok(Response::GroupExpirySet { expires_at: soon }));
    });
}

fn anna_still_posts(anna: &Device, moderator: &Device, group: &str) {
    anna.ok(&["group", "post", group, "Die Gruppe lebt noch."]);
    let read = moderator.ok(&["group", "read", group]);
    assert!(read.contains("Die Gruppe lebt noch."), "{read}");
}

fn stadtbote_protocol_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
