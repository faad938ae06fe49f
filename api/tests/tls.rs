//! With a certificate and key configured, the server speaks
//! TLS (rustls) and a client that trusts the certificate gets through.

use std::time::Duration;

use ledger_api::grpc::auth::Tokens;
use ledger_api::grpc::proto;
use ledger_api::grpc::proto::ledger_service_client::LedgerServiceClient;
use ledger_api::server::{self, ServerConfig};
use ledger_system_tests::TestDatabase;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

const TOKEN: &str = "tls-client-token-000001";

#[tokio::test]
async fn a_server_with_a_certificate_serves_over_tls_and_refuses_plaintext() {
    let db = TestDatabase::with_defaults().await;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let directory = tempfile::tempdir().unwrap();
    let certificate_path = directory.path().join("server.pem");
    let key_path = directory.path().join("server.key");
    std::fs::write(&certificate_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();

    let (listener, address) = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = ServerConfig {
        tokens: Tokens::parse(&format!("tls-client={TOKEN}")).unwrap(),
        tls_certificate_path: Some(certificate_path),
        tls_key_path: Some(key_path),
        ..ServerConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(server::serve(listener, db.ledger.clone(), config, async {
        let _ = stopped.await;
    }));

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(certified.cert.pem()))
        .domain_name("localhost");
    let mut channel = None;
    for _ in 0..50 {
        let endpoint = Channel::from_shared(format!("https://{address}"))
            .unwrap()
            .tls_config(tls.clone())
            .unwrap();
        if let Ok(connected) = endpoint.connect().await {
            channel = Some(connected);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut client = LedgerServiceClient::new(channel.expect("a TLS connection"));
    let mut request = tonic::Request::new(proto::GetAccountRequest {
        key: Some(proto::get_account_request::Key::AccountId(1)),
        as_of: None,
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let status = client.get_account(request).await.unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::NotFound,
        "the call went through TLS: {status:?}"
    );

    let plaintext = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await;
    let refused = match plaintext {
        Err(_) => true,
        Ok(channel) => LedgerServiceClient::new(channel)
            .get_account(proto::GetAccountRequest {
                key: None,
                as_of: None,
            })
            .await
            .is_err(),
    };
    assert!(refused, "plaintext must not be served");

    stop.send(()).unwrap();
    server_task.await.unwrap().unwrap();
}
