//! Generates the gRPC code with a vendored `protoc`, so no system protobuf compiler is needed.
//! `AdminService` gets client code only (the control plane serves it from its descriptor, see
//! `control-plane/src/admin_rpc`), plus the descriptor set that server and reflection read.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure().compile_protos(&["proto/config.proto"], &["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_server(false)
        .file_descriptor_set_path(out.join("admin_descriptor.bin"))
        .compile_protos(
            &[PathBuf::from("proto/backendify/admin/v1/admin.proto")],
            &[PathBuf::from("proto"), well_known],
        )?;
    Ok(())
}
