//! An outside tool with no generated client discovers the API through server
//! reflection alone and calls it with dynamic messages, whether it speaks
//! reflection v1 or only v1alpha (grpcio-reflection, older grpcurl, GUI
//! clients).

use std::time::Duration;

use ledger_api::grpc::auth::Tokens;
use ledger_api::server::{self, ServerConfig};
use ledger_system_tests::TestDatabase;
use prost::Message;

/// The files reflection answered with, decoded.
fn decoded(files: &[Vec<u8>]) -> Vec<prost_types::FileDescriptorProto> {
    files
        .iter()
        .map(|file| prost_types::FileDescriptorProto::decode(file.as_slice()).expect("a file"))
        .collect()
}

/// The files `files` import that are not among them: reflection answers a
/// symbol with its own file, and a client asks for each import by name
/// (`google/protobuf/timestamp.proto`), as grpcurl does.
fn missing_imports(files: &[prost_types::FileDescriptorProto]) -> Vec<String> {
    let mut missing: Vec<String> = files
        .iter()
        .flat_map(|file| file.dependency.iter())
        .filter(|name| !files.iter().any(|file| file.name() == name.as_str()))
        .cloned()
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

fn pool_of(files: Vec<prost_types::FileDescriptorProto>) -> DescriptorPool {
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files)
        .expect("the answered files make a whole pool");
    pool
}

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};
use tokio_stream::StreamExt;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha as reflection_v1alpha;

const TOKEN: &str = "reflection-client-token-0001";

/// A codec for messages known only at run time.
struct DynamicCodec {
    output: MessageDescriptor,
}

struct DynamicEncoder;
struct DynamicDecoder(MessageDescriptor);

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;
    fn encode(&mut self, item: DynamicMessage, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|error| Status::internal(error.to_string()))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        DynamicMessage::decode(self.0.clone(), buf)
            .map(Some)
            .map_err(|error| Status::internal(error.to_string()))
    }
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;
    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }
    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.output.clone())
    }
}

async fn reflect(channel: Channel, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    responses
        .next()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
}

/// OpenAccount with dynamic messages only: an unrestricted account.
async fn open_account(
    channel: Channel,
    pool: &DescriptorPool,
    reference: &str,
    currency: &str,
) -> DynamicMessage {
    call(
        channel,
        pool,
        "OpenAccount",
        &[
            ("external_reference", Value::String(reference.to_owned())),
            ("currency", Value::String(currency.to_owned())),
            ("overdraft", Value::EnumNumber(2)),
        ],
    )
    .await
}

async fn call(
    channel: Channel,
    pool: &DescriptorPool,
    method_name: &str,
    fields: &[(&str, Value)],
) -> DynamicMessage {
    let service = pool.get_service_by_name("ledger.v1.LedgerService").unwrap();
    let method = service
        .methods()
        .find(|method| method.name() == method_name)
        .unwrap();
    let mut input = DynamicMessage::new(method.input());
    for (name, value) in fields {
        input.try_set_field_by_name(name, value.clone()).unwrap();
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path =
        PathAndQuery::try_from(format!("/{}/{}", service.full_name(), method.name())).unwrap();
    let mut request = Request::new(input);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    grpc.unary(
        request,
        path,
        DynamicCodec {
            output: method.output(),
        },
    )
    .await
    .unwrap()
    .into_inner()
}

/// A server on a fresh database, and a channel to it; send on the sender to
/// stop it.
struct Running {
    _db: TestDatabase,
    channel: Channel,
    stop: tokio::sync::oneshot::Sender<()>,
    server_task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn start() -> Running {
        let db = TestDatabase::with_defaults().await;
        let (listener, address) = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let config = ServerConfig {
            tokens: Tokens::parse(&format!("tool={TOKEN} roles=submit,read,admin")).unwrap(),
            ..ServerConfig::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_task = tokio::spawn(server::serve(listener, db.ledger.clone(), config, async {
            let _ = stopped.await;
        }));
        let mut channel = None;
        for _ in 0..50 {
            if let Ok(connected) = Channel::from_shared(format!("http://{address}"))
                .unwrap()
                .connect()
                .await
            {
                channel = Some(connected);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let channel = channel.expect("the server came up");
        Running {
            _db: db,
            channel,
            stop,
            server_task,
        }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.server_task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_client_without_generated_code_discovers_and_calls_the_api_through_reflection() {
    let running = Running::start().await;
    let channel = running.channel.clone();

    // Discover: list services, then fetch the file that defines ours.
    let MessageResponse::ListServicesResponse(list) =
        reflect(channel.clone(), MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    assert!(list
        .service
        .iter()
        .any(|service| service.name == "ledger.v1.LedgerService"));
    let MessageResponse::FileDescriptorResponse(files) = reflect(
        channel.clone(),
        MessageRequest::FileContainingSymbol("ledger.v1.LedgerService".to_owned()),
    )
    .await
    else {
        panic!("expected file descriptors");
    };
    let mut protos = decoded(&files.file_descriptor_proto);
    for _ in 0..8 {
        let missing = missing_imports(&protos);
        if missing.is_empty() {
            break;
        }
        for name in missing {
            let MessageResponse::FileDescriptorResponse(files) = reflect(
                channel.clone(),
                MessageRequest::FileByFilename(name.clone()),
            )
            .await
            else {
                panic!("expected the file {name}");
            };
            protos.extend(decoded(&files.file_descriptor_proto));
        }
    }
    let pool = pool_of(protos);

    // Call: open an account and read it back, with dynamic messages only.
    let opened = open_account(channel.clone(), &pool, "GB29NWBK60161331926819", "GBP").await;
    let account_id = opened
        .get_field_by_name("account_id")
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(account_id > 0);
    let read = call(
        channel,
        &pool,
        "GetAccount",
        &[("account_id", Value::I64(account_id))],
    )
    .await;
    assert_eq!(
        read.get_field_by_name("external_reference")
            .unwrap()
            .as_str(),
        Some("GB29NWBK60161331926819")
    );
    assert_eq!(
        read.get_field_by_name("credits_posted").unwrap().as_str(),
        Some("0.00")
    );

    running.stop().await;
}

/// One request to the v1alpha reflection service, its one response.
async fn reflect_v1alpha(
    channel: Channel,
    request: reflection_v1alpha::server_reflection_request::MessageRequest,
) -> reflection_v1alpha::server_reflection_response::MessageResponse {
    let mut client =
        reflection_v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = reflection_v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("the server serves reflection v1alpha")
        .into_inner();
    responses
        .next()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
}

#[tokio::test]
async fn a_client_that_speaks_only_reflection_v1alpha_lists_the_services_and_calls_the_api() {
    use reflection_v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use reflection_v1alpha::server_reflection_response::MessageResponse as AlphaResponse;

    let running = Running::start().await;
    let channel = running.channel.clone();

    let AlphaResponse::ListServicesResponse(list) =
        reflect_v1alpha(channel.clone(), AlphaRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    let mut names: Vec<&str> = list
        .service
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "ledger.v1.LedgerService",
        ]
    );

    let AlphaResponse::FileDescriptorResponse(files) = reflect_v1alpha(
        channel.clone(),
        AlphaRequest::FileContainingSymbol("ledger.v1.LedgerService".to_owned()),
    )
    .await
    else {
        panic!("expected file descriptors");
    };
    let mut protos = decoded(&files.file_descriptor_proto);
    for _ in 0..8 {
        let missing = missing_imports(&protos);
        if missing.is_empty() {
            break;
        }
        for name in missing {
            let AlphaResponse::FileDescriptorResponse(files) =
                reflect_v1alpha(channel.clone(), AlphaRequest::FileByFilename(name.clone())).await
            else {
                panic!("expected the file {name}");
            };
            protos.extend(decoded(&files.file_descriptor_proto));
        }
    }
    let pool = pool_of(protos);
    let service = pool
        .get_service_by_name("ledger.v1.LedgerService")
        .expect("the file defines the service");
    assert!(service
        .methods()
        .any(|method| method.name() == "SubmitPayment"));

    // The descriptors it fetched are enough to call the API.
    let opened = open_account(channel.clone(), &pool, "DE89370400440532013000", "EUR").await;
    assert!(
        opened
            .get_field_by_name("account_id")
            .unwrap()
            .as_i64()
            .unwrap()
            > 0
    );

    running.stop().await;
}
