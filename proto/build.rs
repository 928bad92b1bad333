//! Compiles the internal gRPC services. The Pulsar protocol messages are
//! compiled without services (they travel in Pulsar frames, not gRPC).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/bookie.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        .bytes(".")
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
