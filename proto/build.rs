//! Compiles the internal gRPC services. The Pulsar protocol messages are
//! compiled without services (they travel in Pulsar frames, not gRPC).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let grpc_protos = ["proto/bookie.proto", "proto/metadata.proto"];
    let pulsar_protos = ["proto/PulsarApi.proto"];
    for proto in grpc_protos.iter().chain(pulsar_protos.iter()) {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        .bytes(".")
        .compile_protos(&grpc_protos, &["proto"])?;
    // Messages only: no client or server stubs for the Pulsar protocol.
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .bytes(".")
        .compile_protos(&pulsar_protos, &["proto"])?;
    Ok(())
}
