//! Compiles `proto/ledger/v1/*.proto` with protox (a protobuf compiler in
//! Rust, so no `protoc` needs installing) and generates the tonic service and
//! prost messages, plus the encoded descriptor set that reflection serves.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from("../proto");
    let files = [proto_root.join("ledger/v1/ledger.proto")];
    println!("cargo:rerun-if-changed=../proto");
    let descriptors = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("ledger_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
