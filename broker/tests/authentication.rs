//! Authentication and authorization on the wire, with raw frames: what a
//! refused CONNECT is answered with, that nothing leaks into the answer,
//! that one client's refusal leaves other connections alone, that an
//! unauthorized PRODUCER gets `AuthorizationError`, and the credential
//! refresh (AUTH_CHALLENGE / AUTH_RESPONSE) on an expiring token.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{error_code, start_broker_with, topic, RawClient};
use magnetar_broker::security::authn::ProviderKind;
use magnetar_broker::security::token::{create_token, TokenSettings};
use magnetar_broker::security::{AuthenticationConfig, AuthorizationConfig};
use magnetar_broker::BrokerServiceConfig;
use magnetar_proto::pulsar::api::{
    AuthData, CommandAuthResponse, CommandConnect, CommandProducer, ServerError,
};

const SECRET: &[u8] = b"an-hs256-secret-of-thirty-two-by";

fn secret_value() -> String {
    use base64::Engine;
    format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(SECRET)
    )
}

fn token(role: &str, expires_in: Option<Duration>) -> String {
    let exp = expires_in.map(|d| {
        (SystemTime::now() + d)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    });
    create_token(SECRET, "HS256", role, exp).unwrap()
}

fn expired_token() -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 10;
    create_token(SECRET, "HS256", "admin", Some(exp)).unwrap()
}

fn secured(refresh: Duration) -> BrokerServiceConfig {
    BrokerServiceConfig {
        authentication: AuthenticationConfig {
            enabled: true,
            providers: vec![ProviderKind::Token],
            token: TokenSettings {
                secret_key: Some(secret_value()),
                ..Default::default()
            },
            refresh_check_interval: refresh,
            ..Default::default()
        },
        authorization: AuthorizationConfig {
            enabled: true,
            superuser_roles: vec!["admin".into()],
        },
        ..Default::default()
    }
}

fn connect(method: &str, data: &[u8]) -> CommandConnect {
    CommandConnect {
        client_version: "raw-test".into(),
        protocol_version: Some(17),
        auth_method_name: Some(method.into()),
        auth_data: Some(data.to_vec().into()),
        ..Default::default()
    }
}

/// Sends CONNECT and returns the broker's answer.
async fn answer_to(
    client: &mut RawClient,
    connect: CommandConnect,
) -> magnetar_proto::pulsar::api::BaseCommand {
    client.send(connect).await;
    client.recv_command().await
}

#[tokio::test]
async fn refused_connects_get_authentication_error_and_leave_others_alone() {
    let broker = start_broker_with(secured(Duration::from_secs(60))).await;
    let addr = broker.local_addr();
    // A client with a valid token stays connected throughout.
    let mut steady = RawClient::open(addr).await;
    let reply = answer_to(
        &mut steady,
        connect("token", token("admin", None).as_bytes()),
    )
    .await;
    assert!(reply.connected.is_some(), "{reply:?}");

    let bad_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl-leaky";
    let forged = create_token(b"another-secret-of-thirty-two-byt", "HS256", "admin", None).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("token", bad_token.as_bytes().to_vec()),
        ("token", forged.as_bytes().to_vec()),
        ("token", expired_token().into_bytes()),
        ("kerberos", b"ticket".to_vec()),
        ("token", vec![b'a'; 100 * 1024]),
    ];
    for (method, data) in cases {
        let mut client = RawClient::open(addr).await;
        let reply = answer_to(&mut client, connect(method, &data)).await;
        assert_eq!(
            error_code(&reply),
            ServerError::AuthenticationError,
            "{method}: {reply:?}"
        );
        let message = &reply.error.as_ref().unwrap().message;
        assert!(
            !message.contains("leaky") && !message.contains(&forged),
            "{message}"
        );
        assert_eq!(reply.error.as_ref().unwrap().request_id, u64::MAX);
        client.expect_closed().await;
    }
    // No credentials and no anonymous role: refused too.
    let mut anonymous = RawClient::open(addr).await;
    anonymous
        .send(CommandConnect {
            client_version: "raw-test".into(),
            protocol_version: Some(17),
            ..Default::default()
        })
        .await;
    let reply = anonymous.recv_command().await;
    assert_eq!(error_code(&reply), ServerError::AuthenticationError);

    steady.create_producer(&topic("auth-steady"), 1).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn producers_need_the_produce_permission() {
    let broker = start_broker_with(secured(Duration::from_secs(60))).await;
    let mut client = RawClient::open(broker.local_addr()).await;
    let reply = answer_to(
        &mut client,
        connect("token", token("nobody", None).as_bytes()),
    )
    .await;
    assert!(reply.connected.is_some(), "{reply:?}");
    client
        .send(CommandProducer {
            topic: topic("auth-refused"),
            producer_id: 1,
            request_id: 7,
            ..Default::default()
        })
        .await;
    let reply = client.recv_command().await;
    assert_eq!(
        error_code(&reply),
        ServerError::AuthorizationError,
        "{reply:?}"
    );
    assert_eq!(reply.error.as_ref().unwrap().request_id, 7);
    // The connection stays usable: refusals are answers, not disconnects.
    client
        .send(magnetar_proto::pulsar::api::CommandPing {})
        .await;
    let reply = client.recv_command().await;
    assert!(reply.pong.is_some(), "{reply:?}");
    broker.shutdown().await;
}

#[tokio::test]
async fn expiring_tokens_are_challenged_and_refreshed_or_cut_off() {
    let broker = start_broker_with(secured(Duration::from_millis(300))).await;
    let addr = broker.local_addr();
    for (fresh_role, survives) in [("admin", true), ("someone-else", false)] {
        let mut client = RawClient::open(addr).await;
        let reply = answer_to(
            &mut client,
            connect(
                "token",
                token("admin", Some(Duration::from_secs(1))).as_bytes(),
            ),
        )
        .await;
        assert!(reply.connected.is_some(), "{reply:?}");
        let challenge = client.recv_command().await;
        let data = challenge
            .auth_challenge
            .as_ref()
            .and_then(|c| c.challenge.as_ref())
            .unwrap_or_else(|| panic!("expected AUTH_CHALLENGE, got {challenge:?}"));
        assert_eq!(data.auth_data.as_deref(), Some(&b"PulsarAuthRefresh"[..]));
        client
            .send(CommandAuthResponse {
                client_version: Some("raw-test".into()),
                response: Some(AuthData {
                    auth_method_name: Some("token".into()),
                    auth_data: Some(
                        token(fresh_role, Some(Duration::from_secs(60)))
                            .into_bytes()
                            .into(),
                    ),
                }),
                protocol_version: Some(17),
            })
            .await;
        if survives {
            client.create_producer(&topic("auth-refreshed"), 1).await;
        } else {
            let reply = client.recv_command().await;
            assert_eq!(
                error_code(&reply),
                ServerError::AuthenticationError,
                "{reply:?}"
            );
            client.expect_closed().await;
        }
    }
    // A challenge nobody answers closes the connection.
    let mut silent = RawClient::open(addr).await;
    let reply = answer_to(
        &mut silent,
        connect(
            "token",
            token("admin", Some(Duration::from_secs(1))).as_bytes(),
        ),
    )
    .await;
    assert!(reply.connected.is_some());
    let challenge = silent.recv_command().await;
    assert!(challenge.auth_challenge.is_some(), "{challenge:?}");
    silent.expect_closed().await;
    broker.shutdown().await;
}
