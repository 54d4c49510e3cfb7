//! One story, two backends: create and read back every entity of the service-desk model;
//! uniqueness violations are conflicts; ensuring reference data twice is a no-op.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use entra_sync::ids::EntraId;
use entra_sync::store::*;
use entra_sync::vocab::{Action, NotificationKind, RecordKind, RunKind};
use mapping::{CabRef, ReferenceSpec, SiteRef};

use crate::support::{backends, cid};

fn reference() -> ReferenceSpec {
    ReferenceSpec {
        clients: vec!["Contoso".into(), "Fabrikam".into()],
        sites: vec![
            SiteRef {
                name: "Head Office".into(),
                client: "Contoso".into(),
            },
            SiteRef {
                name: "Main".into(),
                client: "Fabrikam".into(),
            },
        ],
        agent_roles: vec!["1st Line".into(), "2nd Line".into()],
        user_roles: vec!["Standard User".into()],
        teams: vec!["Service Desk".into(), "Infrastructure".into()],
        cabs: vec![CabRef {
            name: "Main CAB".into(),
            roles: vec!["Approver".into(), "Member".into()],
        }],
        user_custom_fields: vec!["CFCostCentre".into()],
    }
}

/// The connection every story here writes under.
fn contoso() -> ConnectionRow {
    ConnectionRow {
        id: "contoso".into(),
        name: "Contoso".into(),
        tenant_id: "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b".into(),
        client_id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
    }
}

fn link(entra_id: &str) -> Option<EntraLink> {
    Some(EntraLink {
        connection_id: "contoso".into(),
        entra_id: entra_id.into(),
    })
}

fn ada() -> NewUser {
    NewUser {
        site: Some(("Contoso".into(), "Head Office".into())),
        fields: UserFields {
            name: "Ada O'Brien".into(),
            firstname: Some("Ada".into()),
            surname: Some("O'Brien".into()),
            emailaddress: Some("ada.obrien@contoso.example".into()),
            login: Some("ada.obrien@contoso.example".into()),
            department: Some("Finance".into()),
            ..UserFields::default()
        },
        custom_fields: BTreeMap::from([("CFCostCentre".to_owned(), "100".to_owned())]),
        entra: link("11111111-0000-0000-0000-000000000001"),
        keep_active: false,
    }
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

#[tokio::test]
async fn the_store_story_holds_on_every_backend() {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
        .single()
        .expect("a valid time");
    for db in backends().await {
        let store = db.open().await;
        let backend = store.backend();
        store.migrate().await.expect("migrate");

        // Reference data: created once, then a no-op.
        let first = store
            .ensure_reference(&reference())
            .await
            .expect("ensure reference");
        assert_eq!(first.created, 2 + 2 + 2 + 1 + 2 + 1 + 1 + 2, "{backend}");
        let second = store
            .ensure_reference(&reference())
            .await
            .expect("ensure reference again");
        assert_eq!(second.created, 0, "{backend}");
        let stored = store.reference().await.expect("read reference");
        assert_eq!(stored.clients, ["Contoso", "Fabrikam"]);
        assert_eq!(
            stored.sites,
            [
                ("Contoso".into(), "Head Office".into()),
                ("Fabrikam".into(), "Main".into())
            ]
        );
        assert_eq!(stored.agent_roles, ["1st Line", "2nd Line"]);
        assert_eq!(stored.user_roles, ["Standard User"]);
        assert_eq!(stored.teams, ["Infrastructure", "Service Desk"]);
        assert_eq!(stored.cabs["Main CAB"], ["Approver", "Member"]);
        assert_eq!(stored.custom_fields, ["CFCostCentre"]);

        // A mapping-created site, idempotently.
        let london = store
            .ensure_site("Contoso", "London")
            .await
            .expect("ensure site");
        assert_eq!(
            store
                .ensure_site("Contoso", "London")
                .await
                .expect("ensure site again"),
            london
        );
        assert!(
            matches!(
                store.ensure_site("Globex", "X").await,
                Err(StoreError::NotFound(_))
            ),
            "{backend}"
        );

        store
            .ensure_connections(&[contoso()], now)
            .await
            .expect("ensure connections");

        // Users.
        let ada_id = store.insert_user(&ada(), now).await.expect("insert user");
        let read = store.user(ada_id).await.expect("read user");
        assert_eq!(read.fields, ada().fields, "{backend}");
        assert_eq!(read.site, Some(("Contoso".into(), "Head Office".into())));
        assert_eq!(read.custom_fields["CFCostCentre"], "100");
        assert_eq!(read.entra, ada().entra);
        assert!(!read.inactive && !read.keep_active);
        assert_eq!(read.created_at, now);
        assert!(
            conflict(store.insert_user(&ada(), now).await),
            "{backend}: same Entra id twice"
        );
        let manual = NewUser {
            entra: None,
            ..ada()
        };
        let manual_id = store
            .insert_user(&manual, now)
            .await
            .expect("a second, unlinked Ada is allowed");
        let also_manual = store
            .insert_user(&manual, now)
            .await
            .expect("unlinked records do not collide");
        assert_ne!(manual_id, also_manual);
        assert!(
            matches!(store.user(999_999).await, Err(StoreError::NotFound(_))),
            "{backend}"
        );

        // Agents.
        let agent = NewAgent {
            user_id: ada_id,
            name: "Ada O'Brien".into(),
            emailaddress: Some("ada.obrien@contoso.example".into()),
            phonenumber: None,
            jobtitle: Some("Analyst".into()),
            linemanager_id: None,
            default_team: Some("Service Desk".into()),
            licence_type: LicenceType::Named,
            creationtype: Some("entra".into()),
            can_configure_entra: true,
            entra: link("11111111-0000-0000-0000-000000000001"),
            keep_active: false,
        };
        let agent_id = store.insert_agent(&agent, now).await.expect("insert agent");
        let read = store.agent(agent_id).await.expect("read agent");
        assert_eq!(read.default_team.as_deref(), Some("Service Desk"));
        assert_eq!(read.licence_type, LicenceType::Named);
        assert!(read.can_configure_entra);
        assert!(
            conflict(store.insert_agent(&agent, now).await),
            "{backend}: one agent per user"
        );
        let boss = NewAgent {
            user_id: manual_id,
            entra: None,
            linemanager_id: None,
            ..agent.clone()
        };
        let boss_id = store
            .insert_agent(&boss, now)
            .await
            .expect("insert second agent");
        let report = NewAgent {
            user_id: also_manual,
            entra: None,
            linemanager_id: Some(boss_id),
            ..agent
        };
        let report_id = store
            .insert_agent(&report, now)
            .await
            .expect("insert third agent");
        assert_eq!(
            store.agent(report_id).await.expect("read").linemanager_id,
            Some(boss_id)
        );

        // Roles: the source is kept; a role of the wrong kind is not found.
        store
            .grant_role(Person::User(ada_id), "Standard User", Source::Entra)
            .await
            .expect("user role");
        store
            .grant_role(Person::Agent(agent_id), "2nd Line", Source::Entra)
            .await
            .expect("agent role");
        store
            .grant_role(Person::Agent(agent_id), "1st Line", Source::Manual)
            .await
            .expect("agent role");
        assert_eq!(
            store
                .roles_of(Person::Agent(agent_id))
                .await
                .expect("roles"),
            [
                RoleGrant {
                    role: "1st Line".into(),
                    source: Source::Manual
                },
                RoleGrant {
                    role: "2nd Line".into(),
                    source: Source::Entra
                },
            ]
        );
        assert_eq!(
            store
                .roles_of(Person::User(ada_id))
                .await
                .expect("roles")
                .len(),
            1
        );
        assert!(matches!(
            store
                .grant_role(Person::User(ada_id), "2nd Line", Source::Manual)
                .await,
            Err(StoreError::NotFound(_))
        ));

        // Teams.
        let flags = TeamFlags {
            can_be_assigned: true,
            sees_unassigned: true,
            sees_other_agents: false,
        };
        store
            .add_agent_team(agent_id, "Infrastructure", flags, Source::Entra)
            .await
            .expect("team");
        let teams = store.agent_teams(agent_id).await.expect("teams");
        assert_eq!(
            teams,
            [TeamMembership {
                team: "Infrastructure".into(),
                flags,
                source: Source::Entra
            }]
        );

        // CABs: one membership per person per CAB.
        let approver = CabMember {
            person: Person::Agent(agent_id),
            cab_role: Some("Approver".into()),
            source: Source::Entra,
        };
        let member = CabMember {
            person: Person::User(manual_id),
            cab_role: None,
            source: Source::Manual,
        };
        store
            .add_cab_member("Main CAB", &approver)
            .await
            .expect("cab member");
        store
            .add_cab_member("Main CAB", &member)
            .await
            .expect("cab member");
        assert_eq!(
            store.cab_members("Main CAB").await.expect("members"),
            [approver.clone(), member]
        );
        assert!(
            conflict(store.add_cab_member("Main CAB", &approver).await),
            "{backend}: same CAB twice"
        );
        let bad_role = CabMember {
            cab_role: Some("Chair".into()),
            ..approver
        };
        assert!(matches!(
            store.add_cab_member("Main CAB", &bad_role).await,
            Err(StoreError::NotFound(_))
        ));

        // Licences: upsert by (client, SKU); links are idempotent.
        let e3 = Licence {
            client: "Contoso".into(),
            connection_id: Some("contoso".into()),
            sku_id: "6fd2c87f-b296-42f0-b197-1e91e994b900".into(),
            part_number: "ENTERPRISEPACK".into(),
            display_name: "Office 365 E3".into(),
            enabled_units: 25,
            warning_units: 0,
            suspended_units: 0,
            consumed_units: 20,
            capability_status: "Enabled".into(),
            unsubscribed_at: None,
        };
        let licence_id = store.upsert_licence(&e3, now).await.expect("licence");
        let updated = Licence {
            consumed_units: 21,
            ..e3.clone()
        };
        assert_eq!(
            store
                .upsert_licence(&updated, now)
                .await
                .expect("licence again"),
            licence_id
        );
        store
            .link_user_licence(ada_id, licence_id)
            .await
            .expect("link");
        store
            .link_user_licence(ada_id, licence_id)
            .await
            .expect("link again");
        assert_eq!(
            store.user_licences(ada_id).await.expect("licences"),
            [updated]
        );

        // Tickets and followers.
        let ticket = Ticket {
            id: 0,
            summary: "Printer on fire".into(),
            status: TicketStatus::Open,
            agent_id: Some(agent_id),
            team: Some("Service Desk".into()),
        };
        let ticket_id = store.insert_ticket(&ticket, now).await.expect("ticket");
        assert_eq!(
            store.ticket(ticket_id).await.expect("read ticket"),
            Ticket {
                id: ticket_id,
                ..ticket
            }
        );
        let followers = [
            TicketFollower {
                follower: Follower::User(ada_id),
                copy: CopyKind::Cc,
                from_group: None,
            },
            TicketFollower {
                follower: Follower::Agent(boss_id),
                copy: CopyKind::Bcc,
                from_group: Some("g-1".into()),
            },
            TicketFollower {
                follower: Follower::Email("it-team@contoso.example".into()),
                copy: CopyKind::Cc,
                from_group: None,
            },
        ];
        for follower in &followers {
            store
                .add_follower(ticket_id, follower)
                .await
                .expect("follower");
        }
        assert_eq!(
            store.followers(ticket_id).await.expect("followers"),
            followers
        );
        assert!(
            conflict(store.add_follower(424_242, &followers[0]).await),
            "{backend}: unknown ticket"
        );

        // The inbound log is pruned by age only.
        let row = |days_ago: i64| InboundRow {
            id: 0,
            run_id: None,
            connection_id: cid("contoso"),
            source: "manual".into(),
            logged_at: now - chrono::Duration::days(days_ago),
            entra_id: Some(EntraId(format!("person-{days_ago}"))),
            upn: None,
            target: Some(RecordKind::User),
            notification: NotificationKind::Updated,
            matched: serde_json::json!({}),
            action: Action::Unchanged,
            changes: serde_json::json!([]),
            message: None,
            agent_id: None,
        };
        store.log(&[row(40), row(1)]).await.expect("log rows");
        assert_eq!(
            store
                .prune_inbound_log(now - chrono::Duration::days(30))
                .await
                .expect("prune"),
            1
        );
        let left = store
            .inbound_log(&LogQuery {
                limit: 10,
                ..LogQuery::default()
            })
            .await
            .expect("log");
        assert_eq!(
            left.iter().map(|r| r.entra_id.clone()).collect::<Vec<_>>(),
            [Some(EntraId::from("person-1"))]
        );

        drop(store);
        db.cleanup().await;
    }
}

/// A group-by-group initial read commits memberships without marking anyone
/// (`MemberMarks::Later`), then marks every present member of the chain's groups, members of
/// member groups included, with the link that completes the round.
#[tokio::test]
async fn a_group_by_group_read_marks_the_chain_members_once_with_its_link() {
    use entra_sync::mirror::{GroupDelta, MirrorUser};

    let now = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    for db in backends().await {
        let store = entra_sync::store::connect(&db.url, 2)
            .await
            .expect("the database opens");
        store.migrate().await.expect("migrations");
        store
            .ensure_connections(&[contoso()], now)
            .await
            .expect("ensure connections");
        let state = |link: Option<&str>| DeltaState {
            connection_id: cid("contoso"),
            chain: "groups:0".into(),
            fingerprint: "f".into(),
            delta_link: link.map(str::to_owned),
            next_link: None,
            round_id: Some(1),
            round_initial: true,
        };
        // Five people in the mirror, none of them pending; "erin" has left Entra.
        let people: Vec<_> = ["ann", "bob", "cat", "dan", "erin"]
            .into_iter()
            .map(|id| {
                let user = MirrorUser {
                    entra_id: id.into(),
                    attributes: serde_json::Map::new(),
                    removed: (id == "erin").then_some(entra_sync::mirror::Removal::Deleted),
                };
                (user, None)
            })
            .collect();
        let users = DeltaState {
            chain: "users".into(),
            ..state(None)
        };
        store
            .commit_users_page(&cid("contoso"), 1, &people, &users, now)
            .await
            .expect("users");
        let pending = || async {
            store
                .mirror_page(&cid("contoso"), "", 100, MirrorScope::Pending)
                .await
                .expect("pending")
                .into_iter()
                .map(|(u, _)| u.entra_id)
                .collect::<Vec<_>>()
        };
        assert!(pending().await.is_empty());

        // g1 holds ann, erin and the group g2; g2 holds bob; g3 (another chain) holds dan.
        let group = |id: &str, added: &[(&str, &'static str)]| GroupDelta {
            id: id.into(),
            display_name: Some(id.to_uppercase()),
            mail: None,
            mail_enabled: None,
            removed: false,
            added: added.iter().map(|(m, k)| ((*m).to_owned(), *k)).collect(),
            removed_members: Default::default(),
        };
        let groups = [
            group("g1", &[("ann", "user"), ("erin", "user"), ("g2", "group")]),
            group("g2", &[("bob", "user")]),
            group("g3", &[("dan", "user")]),
        ];
        for g in &groups {
            store
                .commit_groups_page(
                    &cid("contoso"),
                    std::slice::from_ref(&g.id),
                    std::slice::from_ref(g),
                    MemberMarks::Later,
                    &state(None),
                    now,
                )
                .await
                .expect("a group's page");
        }
        assert!(
            pending().await.is_empty(),
            "no marks before the chain is in"
        );
        assert_eq!(
            store
                .memberships(&cid("contoso"))
                .await
                .expect("memberships")
                .len(),
            5
        );

        store
            .mark_group_members(
                &cid("contoso"),
                &["g1".to_owned()],
                &state(Some("link")),
                now,
            )
            .await
            .expect("the chain's marks");
        // ann directly, bob through g2; not erin (gone), not cat (in no group), not dan (g3).
        assert_eq!(pending().await, ["ann", "bob"]);
        let saved = store
            .delta_state(&cid("contoso"), "groups:0")
            .await
            .expect("state")
            .expect("saved");
        assert_eq!(saved.delta_link.as_deref(), Some("link"));

        // The same page with `Changed` marks its new members at once.
        store
            .commit_groups_page(
                &cid("contoso"),
                &[],
                &[group("g3", &[("cat", "user")])],
                MemberMarks::Changed,
                &state(Some("link")),
                now,
            )
            .await
            .expect("a delta page");
        assert_eq!(pending().await, ["ann", "bob", "cat"]);
        drop(store);
        db.cleanup().await;
    }
}

/// A run row whose status and an inbound-log row whose action name nothing this version knows
/// (written by another version; the CHECK constraints are set aside to write them) are read
/// back as an error naming the table, the column and the value.
#[tokio::test]
async fn a_value_no_enum_names_is_an_error_naming_table_column_and_value() {
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    for db in backends().await {
        let store = db.open().await;
        store.migrate().await.expect("migrations");
        store
            .ensure_connections(&[contoso()], now)
            .await
            .expect("ensure connections");
        let run = store
            .start_run(&cid("contoso"), RunKind::Delta, "test", now)
            .await
            .expect("a run");
        let log = InboundRow {
            id: 0,
            run_id: Some(run),
            connection_id: cid("contoso"),
            source: "integrator".into(),
            logged_at: now,
            entra_id: Some(EntraId::from("ann")),
            upn: None,
            target: Some(RecordKind::User),
            notification: NotificationKind::Created,
            matched: serde_json::json!({}),
            action: Action::Created,
            changes: serde_json::json!([]),
            message: None,
            agent_id: None,
        };
        store.log(&[log]).await.expect("a log row");
        let bad = [
            "UPDATE sync_runs SET status = 'paused'",
            "UPDATE inbound_log SET action = 'shelved'",
        ];
        if db.url.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
            let mut conn = pool.acquire().await.expect("a connection");
            sqlx::query("PRAGMA ignore_check_constraints = ON")
                .execute(&mut *conn)
                .await
                .expect("checks off");
            for sql in bad {
                sqlx::query(sql).execute(&mut *conn).await.expect(sql);
            }
            drop(conn);
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("postgres");
            for sql in [
                "ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_status_check",
                "ALTER TABLE inbound_log DROP CONSTRAINT inbound_log_action_check",
            ]
            .into_iter()
            .chain(bad)
            {
                sqlx::query(sql).execute(&pool).await.expect(sql);
            }
            pool.close().await;
        }

        let error = store
            .run(run)
            .await
            .expect_err("an unknown status")
            .to_string();
        assert_eq!(
            error,
            "database error: sync_runs.status: \"paused\" is not a run status",
            "{}",
            store.backend()
        );
        assert!(store.runs(None, 10).await.is_err());
        let error = store
            .inbound_log(&LogQuery {
                limit: 10,
                ..LogQuery::default()
            })
            .await
            .expect_err("an unknown action")
            .to_string();
        assert_eq!(
            error,
            "database error: inbound_log.action: \"shelved\" is not a log action",
            "{}",
            store.backend()
        );
        drop(store);
        db.cleanup().await;
    }
}
