//! `iotc-codegen --repository DIR --out OUT FILE...`: Rust device types from DTDL models.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Generates Rust device types (iotc-sdk derives) from DTDL v2 models.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Where Components and `extends` not in FILE are found by DTMI (Device Models
    /// Repository layout).
    #[arg(long, value_name = "DIR")]
    repository: Option<PathBuf>,
    /// The output directory: one module per interface and `mod.rs`.
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    /// Names an interface's Rust type: `DTMI=Name` (repeatable).
    #[arg(long, value_name = "DTMI=NAME")]
    rename: Vec<String>,
    /// DTDL files: an interface, an array of interfaces, or an IoT Central device template.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = iotc_codegen::Builder::new().files(args.files);
    if let Some(repository) = args.repository {
        builder = builder.repository(repository);
    }
    for rename in &args.rename {
        let Some((dtmi, name)) = rename.rsplit_once('=') else {
            eprintln!("iotc-codegen: --rename wants DTMI=Name, not `{rename}`");
            return ExitCode::from(2);
        };
        builder = builder.rename(dtmi, name);
    }
    match builder.write_to(&args.out) {
        Ok(output) => {
            for (id, (module, ty)) in &output.interfaces {
                println!("{id} -> {module}::{ty}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("iotc-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}
