//! The checked-in `src/protocol/messages/` must be exactly what
//! `codegen/generate.py` produces from the JSON message definitions.
//!
//! Fails (never skips) when the output drifted, when the generator fails, or
//! when the definitions cannot be found. The definitions are looked up as the
//! generator does: `KAFKA_PROTOCOL_DIR`, else `codegen/kafka-protocol/message`
//! (vendored in this repository, with Apache's LICENSE and NOTICE).

use std::path::Path;
use std::process::Command;

#[test]
fn generated_messages_match_the_generator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let protocol_dir = std::env::var_os("KAFKA_PROTOCOL_DIR")
        .map(Into::into)
        .unwrap_or_else(|| root.join("codegen").join("kafka-protocol").join("message"));
    assert!(
        protocol_dir.is_dir(),
        "Kafka JSON message definitions not found: looked in {} \
         (set KAFKA_PROTOCOL_DIR to the directory holding e.g. MetadataRequest.json)",
        protocol_dir.display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = Command::new(&python)
        .current_dir(root)
        .arg("codegen/generate.py")
        .arg("--check")
        .arg("--protocol-dir")
        .arg(&protocol_dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} codegen/generate.py: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "codegen/generate.py --check failed ({}): the generated code differs from the \
         checked-in src/protocol/messages/ (run `python3 codegen/generate.py`), or the \
         generator failed.\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
}
