//! Generates the gRPC client of `matgto.v1.ProxyControl` from the protos of
//! the repository (`../../proto`, or `$MATGTO_PROTO_DIR`) with
//! tonic-build/prost-build. prost-build runs `protoc`: Debian's
//! `protobuf-compiler` (`/usr/bin/protoc`), or the one `$PROTOC` names.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = match std::env::var_os("MATGTO_PROTO_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest.join("../../proto"),
    };
    let proto_dir = proto_dir.canonicalize().map_err(|e| {
        format!(
            "matgto-client: the protos are not at {} ({e}); set MATGTO_PROTO_DIR to the repository's proto/ folder",
            proto_dir.display()
        )
    })?;
    let control = proto_dir.join("matgto/v1/control.proto");
    let cassette = proto_dir.join("matgto/v1/cassette.proto");
    println!("cargo:rerun-if-env-changed=MATGTO_PROTO_DIR");
    println!("cargo:rerun-if-env-changed=PROTOC");
    println!("cargo:rerun-if-changed={}", control.display());
    println!("cargo:rerun-if-changed={}", cassette.display());
    if std::env::var_os("PROTOC").is_none() && std::path::Path::new("/usr/bin/protoc").exists() {
        std::env::set_var("PROTOC", "/usr/bin/protoc");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_build::configure()
        .file_descriptor_set_path(out.join("matgto_v1_descriptor.bin"))
        .build_server(false)
        .build_client(true)
        .compile_protos(&[control, cassette], std::slice::from_ref(&proto_dir))
        .map_err(|e| {
            format!(
                "matgto-client: protoc failed on {} (install Debian's protobuf-compiler, or set PROTOC): {e}",
                proto_dir.display()
            )
        })?;
    Ok(())
}
