//! Compiles `proto/rpc.proto` with protox (pure Rust, no `protoc`) and generates the tonic
//! client and server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/rpc.proto");
    let fds = protox::compile(["proto/rpc.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .bytes(".")
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
