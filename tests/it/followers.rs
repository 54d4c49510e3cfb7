//! Distribution groups as ticket followers through the admin API, on both backends, checked as
//! `ticket_followers` contents: the address mode adds one follower; expanding a 12-member list
//! adds 12, linked where imported, a contact and a person not imported by their mail; a group
//! over `max_members` is refused with its size and adds nothing; a group that is not
//! mail-enabled is refused for the address mode; the picker lists the mail-enabled groups; the
//! mirror keeps tracked groups' addresses.

use entra_sync::store::{CopyKind, Follower, Store, Ticket, TicketFollower, TicketStatus};
use entra_sync::vocab::AccessLevel;
use graph_emulator::{EmulatorConfig, GroupKind, Running};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::{agent, call, key, serve};
use crate::emulator::start;
use crate::support::backends;
use crate::write_back::synced_desk;

/// A group of `kind` named `name` with these members; its id.
fn group(running: &Running, tenant: Uuid, name: &str, kind: GroupKind, members: &[Uuid]) -> Uuid {
    let id = running.control.create_group(tenant, name, kind).unwrap();
    for member in members {
        running.control.add_member(tenant, id, *member).unwrap();
    }
    id
}

fn email(address: &str, from_group: Option<Uuid>) -> TicketFollower {
    TicketFollower {
        follower: Follower::Email(address.to_owned()),
        copy: CopyKind::Cc,
        from_group: from_group.map(|g| g.to_string()),
    }
}

async fn ticket(store: &dyn Store, summary: &str) -> i64 {
    let ticket = Ticket {
        id: 0,
        summary: summary.to_owned(),
        status: TicketStatus::Open,
        agent_id: None,
        team: None,
    };
    let opened = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 2, 10, 0, 0).unwrap();
    store.insert_ticket(&ticket, opened).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_follow_tickets_as_their_address_or_expanded_within_the_cap() {
    let running = start(EmulatorConfig {
        users: 170,
        groups: 2,
        ..EmulatorConfig::default()
    })
    .await;
    let app = running.demo_app(0).unwrap().clone();
    let tenant = app.tenant_id;
    let http = reqwest::Client::new();
    for db in backends().await {
        let (service, store) = synced_desk(&running, &db, &app, Some((100, true))).await;
        let people = store
            .people(&entra_sync::ids::ConnectionId::parse("contoso").unwrap())
            .await
            .unwrap();
        let imported: Vec<Uuid> = people
            .users
            .keys()
            .map(|id| id.as_str().parse().unwrap())
            .collect();
        assert!(imported.len() >= 150, "{} imported", imported.len());
        // Someone who joins the tenant after the sync, and an organisational contact.
        let newcomer = running
            .control
            .create_user(
                tenant,
                json!({"displayName": "Nia Newcomer", "userPrincipalName": format!("nia.{}@contoso.com", Uuid::new_v4().simple()), "mail": "nia.newcomer@contoso.com", "accountEnabled": true}),
            )
            .unwrap();
        let (contact, contact_mail) = running
            .control
            .with_directory(tenant, |d| {
                (d.contacts[0].id, d.contacts[0].mail.to_string())
            })
            .unwrap();

        let mut twelve: Vec<Uuid> = imported[..10].to_vec();
        twelve.extend([newcomer, contact]);
        let list = group(
            &running,
            tenant,
            "Service Desk Team",
            GroupKind::Distribution,
            &twelve,
        );
        let list_mail = running
            .control
            .with_directory(tenant, |d| {
                d.group(list).unwrap().mail.as_deref().unwrap().to_owned()
            })
            .unwrap();
        let big = group(
            &running,
            tenant,
            "Everyone Big",
            GroupKind::Distribution,
            &imported[..150],
        );
        let security = group(
            &running,
            tenant,
            "Secure Room",
            GroupKind::Security,
            &imported[..3],
        );

        agent(store.as_ref(), "reader@contoso.com").await;
        agent(store.as_ref(), "outsider@contoso.com").await;
        service
            .grant_access("contoso", "reader@contoso.com", AccessLevel::Read)
            .await
            .unwrap();
        let reader = format!(
            "Bearer {}",
            key(&service, Some("reader@contoso.com"), None).await
        );
        let outsider = format!(
            "Bearer {}",
            key(&service, Some("outsider@contoso.com"), None).await
        );
        let base = serve(service.clone()).await;
        let post = |ticket: i64, body: Value, auth: String| {
            let http = http.clone();
            let url = format!("{base}/api/connections/contoso/tickets/{ticket}/followers");
            async move { call(&http, "POST", &url, Some(&auth), Some(body)).await }
        };

        // The picker: mail-enabled groups only.
        let (status, body) = call(
            &http,
            "GET",
            &format!("{base}/api/connections/contoso/followers/groups"),
            Some(&reader),
            None,
        )
        .await;
        assert_eq!(status.as_u16(), 200, "{body}");
        let offered: Vec<&str> = body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap())
            .collect();
        assert!(offered.contains(&list.to_string().as_str()), "{body}");
        assert!(offered.contains(&big.to_string().as_str()));
        assert!(!offered.contains(&security.to_string().as_str()));

        // As its address: one follower, the list's mail, no group link (a read grant suffices).
        let first = ticket(store.as_ref(), "Printer on fire").await;
        let (status, body) = post(
            first,
            json!({"group": list, "mode": "address", "copy": "bcc"}),
            reader.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 200, "{body}");
        assert_eq!(body["snapshot"], false);
        assert_eq!(
            store.followers(first).await.unwrap(),
            vec![TicketFollower {
                copy: CopyKind::Bcc,
                ..email(&list_mail, None)
            }],
            "{}",
            db.url
        );

        // Expanded: 12 followers, the imported ten linked, the newcomer and the contact by mail.
        let second = ticket(store.as_ref(), "Desk move").await;
        let (status, body) = post(
            second,
            json!({"group": list, "mode": "expanded"}),
            reader.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 200, "{body}");
        assert_eq!(body["snapshot"], true);
        assert!(
            body["note"].as_str().unwrap().contains("snapshot"),
            "{body}"
        );
        let mut expected: Vec<TicketFollower> = Vec::new();
        for id in &imported[..10] {
            let records = store
                .imported_people("contoso", &[id.to_string()])
                .await
                .unwrap();
            let person = &records[0];
            expected.push(TicketFollower {
                follower: person
                    .agent_id
                    .map(Follower::Agent)
                    .unwrap_or(Follower::User(person.user_id.unwrap())),
                copy: CopyKind::Cc,
                from_group: Some(list.to_string()),
            });
        }
        expected.push(email("nia.newcomer@contoso.com", Some(list)));
        expected.push(email(&contact_mail, Some(list)));
        let mut got = store.followers(second).await.unwrap();
        let key_of = |f: &TicketFollower| format!("{:?}", f.follower);
        got.sort_by_key(key_of);
        expected.sort_by_key(key_of);
        assert_eq!(got.len(), 12);
        assert_eq!(got, expected, "{}", db.url);

        // Over the cap: refused with the group's size, nothing added.
        let third = ticket(store.as_ref(), "All hands").await;
        let (status, body) = post(
            third,
            json!({"group": big, "mode": "expanded"}),
            reader.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 409, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("has 150 members") && message.contains("max_members = 100"),
            "{message}"
        );
        assert_eq!(store.followers(third).await.unwrap(), vec![]);

        // Not mail-enabled: refused for the address mode, nothing added.
        let (status, body) = post(
            third,
            json!({"group": security, "mode": "address"}),
            reader.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 409, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not mail-enabled")
        );
        assert_eq!(store.followers(third).await.unwrap(), vec![]);

        // The default connection's route, and the same group twice: added once.
        let url = format!("{base}/api/tickets/{third}/followers");
        for _ in 0..2 {
            let (status, body) = call(
                &http,
                "POST",
                &url,
                Some(&reader),
                Some(json!({"group": list, "mode": "address"})),
            )
            .await;
            assert_eq!(status.as_u16(), 200, "{body}");
        }
        assert_eq!(
            store.followers(third).await.unwrap(),
            vec![email(&list_mail, None)]
        );

        // An outsider does not see the connection; a ticket or group that does not exist is 404.
        let (status, _) = post(
            third,
            json!({"group": list, "mode": "address"}),
            outsider.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 404);
        let (status, _) = post(
            999_999,
            json!({"group": list, "mode": "address"}),
            reader.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 404);
        let (status, _) = post(
            third,
            json!({"group": Uuid::new_v4(), "mode": "address"}),
            reader.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 404);
        let (status, _) = post(
            third,
            json!({"group": "../users", "mode": "address"}),
            reader.clone(),
        )
        .await;
        assert_eq!(status.as_u16(), 404);
        assert_eq!(store.followers(third).await.unwrap().len(), 1);

        // The mirror keeps the tracked group's address as the tenant has it.
        let all_company = running
            .control
            .find_group(tenant, graph_emulator::well_known::ALL_COMPANY)
            .unwrap();
        let (mail, enabled) = running
            .control
            .with_directory(tenant, |d| {
                let g = d.group(all_company).unwrap();
                (g.mail.as_deref().map(str::to_owned), g.mail_enabled())
            })
            .unwrap();
        let mirrored = store.mirror_mail_groups("contoso").await.unwrap();
        let kept = mirrored
            .iter()
            .find(|g| g.entra_id == all_company.to_string())
            .expect("All Company is tracked");
        assert_eq!(
            (kept.mail.clone(), kept.mail_enabled),
            (mail, Some(enabled))
        );
        assert!(kept.mail.is_some());
        db.cleanup().await;
    }
}
