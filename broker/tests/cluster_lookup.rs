//! The cluster lookup state machine (fact sheet PB-4, PB-5) on two brokers
//! that share one in-memory metadata store: connect to the owner, redirect
//! to the owner or the leader, authoritative lookups that never redirect,
//! placement, disabled records, listeners and draining. Also unload and
//! split through `BundleControl`, and ownership loss with the session.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use magnetar_bookie::testing::MemoryLedgerStore;
use magnetar_broker::cluster::registry::LEADER_KEY;
use magnetar_broker::cluster::{
    BrokerInfo, BrokerRegistry, BundleControl, ClusterOwnership, LeaderInfo, PlacementConfig,
    Placer,
};
use magnetar_broker::managed_ledger::{ManagedLedgerConfig, ManagedLedgerFactory};
use magnetar_broker::namespace::{
    BundleRef, ClusterData, NamespaceService, OwnershipInfo, TopicName,
};
use magnetar_broker::topic::{
    BrokerTarget, LookupAnswer, OwnershipError, TopicOwnership, TopicRegistry,
};
use magnetar_metadata::{Expected, MemoryStore, MetadataStore, PutOptions, SessionId};

struct Broker {
    id: String,
    namespaces: Arc<NamespaceService>,
    ownership: ClusterOwnership,
    control: BundleControl,
    placer: Arc<Placer>,
    draining: Arc<AtomicBool>,
    info: BrokerInfo,
    session: SessionId,
}

async fn broker(metadata: &Arc<dyn MetadataStore>, name: &str) -> Broker {
    let session = metadata
        .create_session(Duration::from_secs(60))
        .await
        .unwrap();
    let id = format!("{name}:8080");
    let mut listeners = BTreeMap::new();
    listeners.insert(
        "external".to_string(),
        format!("pulsar://{name}.example:6650"),
    );
    let info = BrokerInfo {
        broker_id: id.clone(),
        service_url: format!("pulsar://{name}:6650"),
        web_service_url: format!("http://{name}:8080"),
        service_url_tls: None,
        web_service_url_tls: None,
        advertised_listeners: listeners,
        version: "test".into(),
        start_timestamp: 0,
        draining: false,
        session: 0,
        load: Default::default(),
    };
    let namespaces = Arc::new(NamespaceService::new(
        Arc::clone(metadata),
        session,
        info.ownership(),
    ));
    namespaces
        .policies()
        .bootstrap("test", ClusterData::default())
        .await
        .unwrap();
    let factory = Arc::new(ManagedLedgerFactory::new(
        Arc::clone(metadata),
        Arc::new(MemoryLedgerStore::new()),
        ManagedLedgerConfig::default(),
    ));
    let topics = Arc::new(TopicRegistry::new(
        factory,
        Default::default(),
        Default::default(),
        Default::default(),
    ));
    let placer = Arc::new(Placer::new(PlacementConfig::default()));
    let draining = Arc::new(AtomicBool::new(false));
    let ownership = ClusterOwnership::new(
        Arc::clone(&namespaces),
        BrokerRegistry::new(Arc::clone(metadata)),
        Arc::clone(&placer),
        Arc::clone(&draining),
        Arc::clone(&topics),
    );
    BrokerRegistry::new(Arc::clone(metadata))
        .publish(&info, session)
        .await
        .unwrap();
    Broker {
        id,
        control: BundleControl::new(Arc::clone(&namespaces), topics),
        namespaces,
        ownership,
        placer,
        draining,
        info,
        session,
    }
}

fn target(name: &str) -> BrokerTarget {
    BrokerTarget {
        service_url: format!("pulsar://{name}:6650"),
        service_url_tls: None,
        http_url: format!("http://{name}:8080"),
    }
}

fn topic(name: &str) -> TopicName {
    TopicName::parse(name).unwrap()
}

#[tokio::test]
async fn lookups_connect_redirect_and_never_loop() {
    let metadata: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let a = broker(&metadata, "a").await;
    let b = broker(&metadata, "b").await;
    let t = topic("persistent://public/default/orders");
    let bundle = a.namespaces.bundle_of(&t).await.unwrap();

    // No leader: A decides; the placer sends the bundle to B.
    a.placer.prefer(&bundle.to_string(), &b.id);
    assert_eq!(
        a.ownership.lookup(&t, false, None).await.unwrap(),
        LookupAnswer::Redirect {
            target: target("b"),
            authoritative: true
        }
    );
    assert!(!a.ownership.owns(&t).await.unwrap(), "A did not take it");
    // B, asked authoritatively, takes it and answers Connect.
    assert_eq!(
        b.ownership.lookup(&t, true, None).await.unwrap(),
        LookupAnswer::Connect(target("b"))
    );
    assert!(b.ownership.owns(&t).await.unwrap());
    assert!(
        !a.ownership.owns(&t).await.unwrap(),
        "only the owner serves (PB-5)"
    );

    // Owned: a non-owner redirects authoritatively; an authoritative
    // lookup at a non-owner connects to the owner instead of redirecting.
    assert_eq!(
        a.ownership.lookup(&t, false, None).await.unwrap(),
        LookupAnswer::Redirect {
            target: target("b"),
            authoritative: true
        }
    );
    assert_eq!(
        a.ownership.lookup(&t, true, None).await.unwrap(),
        LookupAnswer::Connect(target("b"))
    );
    // Listeners: the named one, or an error for an unknown name.
    assert_eq!(
        b.ownership
            .lookup(&t, false, Some("external"))
            .await
            .unwrap(),
        LookupAnswer::Connect(BrokerTarget {
            service_url: "pulsar://b.example:6650".into(),
            service_url_tls: None,
            http_url: "http://b:8080".into()
        })
    );
    assert!(matches!(
        a.ownership.lookup(&t, false, Some("nope")).await,
        Err(OwnershipError::UnknownListener { .. })
    ));

    // With B leading, A sends unowned bundles to B, non-authoritatively.
    let leader = LeaderInfo {
        broker_id: b.id.clone(),
        service_url: b.info.web_service_url.clone(),
    };
    metadata
        .put(
            LEADER_KEY,
            Bytes::from(serde_json::to_vec(&leader).unwrap()),
            PutOptions::ephemeral(Expected::Absent, b.session),
        )
        .await
        .unwrap();
    let other = topic("persistent://public/default/other-bundle-topic-7");
    let other_bundle = a.namespaces.bundle_of(&other).await.unwrap();
    assert_ne!(other_bundle, bundle, "pick a topic in another bundle");
    assert_eq!(
        a.ownership.lookup(&other, false, None).await.unwrap(),
        LookupAnswer::Redirect {
            target: target("b"),
            authoritative: false
        }
    );
    // The leader places it (on A here) with an authoritative redirect.
    b.placer.prefer(&other_bundle.to_string(), &a.id);
    let answer = b.ownership.lookup(&other, false, None).await.unwrap();
    assert_eq!(
        answer,
        LookupAnswer::Redirect {
            target: target("a"),
            authoritative: true
        }
    );
    assert_eq!(
        a.ownership.lookup(&other, true, None).await.unwrap(),
        LookupAnswer::Connect(target("a"))
    );

    // A draining broker takes nothing, even when asked authoritatively.
    a.draining.store(true, Ordering::Release);
    let third = topic("persistent://public/default/third-topic-0");
    let third_bundle = a.namespaces.bundle_of(&third).await.unwrap();
    assert!(a.namespaces.owner(&third_bundle).await.unwrap().is_none());
    assert!(matches!(
        a.ownership.lookup(&third, true, None).await,
        Err(OwnershipError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn unload_disables_then_releases_and_split_halves_the_bundle() {
    let metadata: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let a = broker(&metadata, "a").await;
    let b = broker(&metadata, "b").await;
    let t = topic("persistent://public/default/payments");
    let bundle = a.namespaces.bundle_of(&t).await.unwrap();
    assert_eq!(a.namespaces.acquire(&bundle).await.unwrap().broker_id, a.id);
    assert_eq!(
        b.namespaces.acquire(&bundle).await.unwrap().broker_id,
        a.id,
        "one owner at a time (PB-3)"
    );
    // A disabled record makes every lookup retry.
    assert!(a.namespaces.set_disabled(&bundle).await.unwrap());
    assert!(matches!(
        b.ownership.lookup(&t, false, None).await,
        Err(OwnershipError::InTransition { .. })
    ));
    assert!(
        !b.namespaces.set_disabled(&bundle).await.unwrap(),
        "not B's record"
    );
    assert!(a.control.unload(&bundle).await.unwrap());
    assert!(a.namespaces.owner(&bundle).await.unwrap().is_none());
    assert!(
        !a.control.unload(&bundle).await.unwrap(),
        "nothing left to unload"
    );

    // Split: the owner replaces the range by its halves and releases it.
    a.namespaces.acquire(&bundle).await.unwrap();
    let halves = a.control.split(&bundle).await.unwrap();
    let bundles = a
        .namespaces
        .policies()
        .namespace_bundles(&bundle.namespace)
        .await
        .unwrap();
    assert_eq!(bundles.len(), 5);
    assert!(halves.iter().all(|h| bundles.contains_range(h)));
    assert!(a.namespaces.owner(&bundle).await.unwrap().is_none());
    let child = a.namespaces.bundle_of(&t).await.unwrap();
    assert!(halves.contains(&child.range), "the topic moved to a half");
    assert!(
        b.control.split(&BundleRef { ..child }).await.is_err(),
        "only the owner splits"
    );
}

#[tokio::test]
async fn a_lost_session_drops_ownership_until_a_new_one() {
    let metadata: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let a = broker(&metadata, "a").await;
    let t = topic("persistent://public/default/audit");
    let bundle = a.namespaces.bundle_of(&t).await.unwrap();
    a.namespaces.acquire(&bundle).await.unwrap();
    metadata.revoke_session(a.session).await.unwrap();
    assert_eq!(a.namespaces.on_session_lost(), vec![bundle.clone()]);
    assert!(!a.ownership.owns(&t).await.unwrap());
    assert!(
        a.namespaces.acquire(&bundle).await.is_err(),
        "no session, no bundle"
    );
    let renewed = metadata
        .create_session(Duration::from_secs(60))
        .await
        .unwrap();
    a.namespaces.on_session_renewed(renewed);
    let owner: OwnershipInfo = a.namespaces.acquire(&bundle).await.unwrap();
    assert_eq!(owner.broker_id, a.id);
    assert!(a.ownership.owns(&t).await.unwrap());
}
