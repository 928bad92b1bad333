//! Compiles the internal gRPC services. The Pulsar protocol messages are
//! compiled without services (they travel in Pulsar frames, not gRPC).
//!
//! `BaseCommand` holds one optional field per command and prost lays every
//! optional message out inline, so unboxed the envelope is about 4 KB and
//! each move of a frame (codec, channels, dispatch) copies all of it. Each
//! sub-command field is therefore boxed: the envelope shrinks to a pointer
//! per command and a frame costs one small allocation for the command it
//! actually carries.

use std::error::Error;
use std::fs;

const PULSAR_PROTO: &str = "proto/PulsarApi.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let grpc_protos = ["proto/bookie.proto", "proto/metadata.proto"];
    for proto in grpc_protos.iter().chain([&PULSAR_PROTO]) {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        .bytes(".")
        .compile_protos(&grpc_protos, &["proto"])?;
    // Messages only: no client or server stubs for the Pulsar protocol.
    let mut pulsar = tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .bytes(".");
    for field in base_command_fields(&fs::read_to_string(PULSAR_PROTO)?)? {
        pulsar = pulsar.boxed(format!(".pulsar.proto.BaseCommand.{field}"));
    }
    pulsar.compile_protos(&[PULSAR_PROTO], &["proto"])?;
    Ok(())
}

/// The names of `BaseCommand`'s sub-command fields: every field of the
/// message whose type is a `Command*` message. Read from the schema so that
/// a command added there is boxed without a second list to keep in step;
/// there must be one per value of the nested `enum Type`, so a line this
/// reader misses fails the build instead of leaving a command unboxed.
fn base_command_fields(schema: &str) -> Result<Vec<String>, Box<dyn Error>> {
    let body = schema
        .split_once("message BaseCommand {")
        .ok_or("PulsarApi.proto has no BaseCommand")?
        .1;
    let (mut fields, mut types) = (Vec::new(), 0);
    let mut depth = 1usize;
    for line in body.lines() {
        // The schema comments with `//` only.
        let line = line.split("//").next().unwrap_or_default().trim();
        depth += line.matches('{').count();
        depth = depth
            .checked_sub(line.matches('}').count())
            .ok_or("unbalanced braces in BaseCommand")?;
        if depth == 0 {
            break;
        }
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .collect();
        let words: Vec<&str> = words.into_iter().filter(|w| !w.is_empty()).collect();
        match (depth, words.as_slice()) {
            // `optional CommandSend send = 6;` at the message's own level.
            (1, ["optional", kind, name, ..]) if kind.starts_with("Command") => {
                fields.push(name.to_string());
            }
            // `SEND = 6;` in the nested `enum Type`.
            (2, [_, value]) if value.ends_with(';') => types += 1,
            _ => {}
        }
    }
    if fields.is_empty() || fields.len() != types {
        let found = fields.len();
        return Err(format!("BaseCommand: {found} sub-command fields for {types} types").into());
    }
    Ok(fields)
}
