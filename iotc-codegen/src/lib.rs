//! Rust device types generated from DTDL v2 models and IoT Central device templates.
//!
//! [`Builder`] reads DTDL files (one interface, an array of interfaces, or an IoT Central
//! device template), resolves Components and `extends` by DTMI in a repository laid out like
//! the Device Models Repository, and writes one Rust module per interface: its schema types,
//! a telemetry struct, a properties struct, a commands enum and the interface type, all with
//! the `iotc-sdk` derives, so that `Interface::interfaces()` exports the model read. A
//! `mod.rs` (or, for `build.rs`, one file of inline modules for `include!`) adds
//! `pub fn interfaces() -> Vec<iotc_sdk::model::InterfaceInfo>`.
//!
//! ```no_run
//! // build.rs
//! iotc_codegen::Builder::new()
//!     .repository("models")
//!     .file("models/dtmi/com/example/thermostat-1.json")
//!     .write_to_out_dir()
//!     .unwrap();
//! // src/lib.rs: include!(concat!(env!("OUT_DIR"), "/iotc_models.rs"));
//! ```
//!
//! Generated code needs `iotc-sdk` (with `derive`), `serde` (with `derive`) and `serde_json`.
//! Values of the temporal schemas are ISO 8601 / RFC 3339 strings, and those of the
//! geospatial and IoT Central schemas JSON values, each marked with its schema
//! (`iotc_sdk::model::marker`). See `docs/codegen.md` for what is not generated yet.

mod emit;
mod names;
mod resolve;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use resolve::dmr_path;

/// Why generation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not a DTDL document the SDK's model types read.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error, naming the element.
        source: iotc_sdk::model::ParseError,
    },
    /// A Component or `extends` names an interface that is in no file and not in the
    /// repository.
    #[error("`{id}` (needed by `{from}`) is not in the input files{}", .path.as_ref().map(|p| format!(" nor at {}", p.display())).unwrap_or_default())]
    Unresolved {
        /// The missing DTMI.
        id: String,
        /// The interface that needs it.
        from: String,
        /// Where the repository should have it.
        path: Option<PathBuf>,
    },
    /// An interface uses something the generator (or the derives) cannot express yet.
    #[error("`{id}`: cannot generate {what}")]
    Unsupported {
        /// The interface.
        id: String,
        /// What it uses.
        what: String,
    },
    /// The output could not be written or formatted.
    #[error("{0}")]
    Output(String),
}

/// The generated Rust: file name → text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// One module per interface (`thermostat_v1.rs`) and `mod.rs`.
    pub files: BTreeMap<String, String>,
    /// Every generated interface: DTMI → `(module, type)`.
    pub interfaces: BTreeMap<String, (String, String)>,
    /// With [`Builder::skip_unsupported`]: the interfaces left out, and why.
    pub skipped: BTreeMap<String, String>,
}

/// Configures and runs the generator.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    files: Vec<PathBuf>,
    repository: Option<PathBuf>,
    renames: BTreeMap<String, String>,
    format: bool,
    skip_unsupported: bool,
}

impl Builder {
    /// A generator with no input yet, formatting its output with `rustfmt`.
    pub fn new() -> Self {
        Builder {
            format: true,
            ..Builder::default()
        }
    }

    /// Adds an input file.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// Adds input files.
    pub fn files<P: Into<PathBuf>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.files.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Where Components and `extends` not in the files are looked up by DTMI
    /// (`dtmi:com:example:Thermostat;1` is `DIR/dtmi/com/example/thermostat-1.json`).
    pub fn repository(mut self, dir: impl Into<PathBuf>) -> Self {
        self.repository = Some(dir.into());
        self
    }

    /// Names the Rust type of the interface `dtmi` (instead of its last DTMI segment in
    /// `CamelCase`).
    pub fn rename(mut self, dtmi: impl Into<String>, rust_type: impl Into<String>) -> Self {
        self.renames.insert(dtmi.into(), rust_type.into());
        self
    }

    /// Whether to run `rustfmt` (the `RUSTFMT` variable, else `rustfmt` on `PATH`) on the
    /// output; on by default.
    pub fn format(mut self, format: bool) -> Self {
        self.format = format;
        self
    }

    /// Leaves out the interfaces the generator cannot express (and those whose components are
    /// among them), listing them in [`Output::skipped`], instead of failing.
    pub fn skip_unsupported(mut self, skip: bool) -> Self {
        self.skip_unsupported = skip;
        self
    }

    /// Generates the modules.
    ///
    /// # Errors
    ///
    /// [`Error`]: unreadable or invalid files, unresolved references, unsupported models, or
    /// `rustfmt` failing.
    pub fn generate(&self) -> Result<Output, Error> {
        let all = resolve::resolve(&self.files, self.repository.as_deref())?;
        let mut modules = names::Scope::default();
        let mut output = Output::default();
        for id in all.keys() {
            let (path, version) = id.split_once(';').unwrap_or((id, "1"));
            let last = path.rsplit(':').next().unwrap_or("model");
            let mut module = format!("{}_v{version}", names::snake(last).trim_start_matches("r#"));
            if modules.claim(&module) != module {
                module = modules.claim(&format!(
                    "{}_v{version}",
                    names::snake(path.trim_start_matches("dtmi:")).trim_start_matches("r#")
                ));
            }
            let ty = match self.renames.get(id) {
                Some(name) => name.clone(),
                None => names::camel(last),
            };
            output.interfaces.insert(id.clone(), (module, ty));
        }
        // Generate; with `skip_unsupported`, drop what fails and retry until nothing does
        // (a dropped interface makes the components that use it fail).
        let texts = loop {
            let mut texts = BTreeMap::new();
            let mut failed = Vec::new();
            for (id, interface) in &all {
                if !output.interfaces.contains_key(id) {
                    continue;
                }
                match emit::Module::generate(interface, &output.interfaces) {
                    Ok(text) => {
                        texts.insert(id.clone(), text);
                    }
                    Err(what) if self.skip_unsupported => failed.push((id.clone(), what)),
                    Err(what) => {
                        return Err(Error::Unsupported {
                            id: id.clone(),
                            what,
                        })
                    }
                }
            }
            if failed.is_empty() {
                break texts;
            }
            for (id, what) in failed {
                output.interfaces.remove(&id);
                output.skipped.insert(id, what);
            }
        };
        for (id, text) in &texts {
            let (module, _) = &output.interfaces[id];
            output
                .files
                .insert(format!("{module}.rs"), self.formatted(text)?);
        }
        let mut root = String::from(
            "//! Generated by iotc-codegen from DTDL: edit the models, not these files.\n\n",
        );
        root.push_str(&self.root_items(&output, |module, _| format!("pub mod {module};\n")));
        output
            .files
            .insert("mod.rs".to_owned(), self.formatted(&root)?);
        Ok(output)
    }

    /// `pub mod` lines (or inline modules) and `interfaces()`.
    fn root_items(&self, output: &Output, module: impl Fn(&str, &str) -> String) -> String {
        let mut text = String::new();
        for (name, _) in output.interfaces.values() {
            let file = format!("{name}.rs");
            text.push_str(&module(
                name,
                output.files.get(&file).map_or("", String::as_str),
            ));
        }
        text.push_str(
            "\n/// Every generated interface, each once (components' interfaces included).\n\
             pub fn interfaces() -> Vec<iotc_sdk::model::InterfaceInfo> {\n\
             let mut all: Vec<iotc_sdk::model::InterfaceInfo> = Vec::new();\n",
        );
        for (module, ty) in output.interfaces.values() {
            text.push_str(&format!(
                "for interface in <{module}::{ty} as iotc_sdk::Interface>::interfaces() {{\n\
                 if !all.iter().any(|known| known.id == interface.id) {{ all.push(interface); }}\n}}\n"
            ));
        }
        text.push_str("all\n}\n");
        text
    }

    /// Writes the modules and `mod.rs` into `dir`.
    ///
    /// # Errors
    ///
    /// As [`Builder::generate`], and [`Error::Output`] when a file cannot be written.
    pub fn write_to(&self, dir: &Path) -> Result<Output, Error> {
        let output = self.generate()?;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Output(format!("{}: {e}", dir.display())))?;
        for (name, text) in &output.files {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| Error::Output(format!("{}: {e}", path.display())))?;
        }
        Ok(output)
    }

    /// For `build.rs`: writes every module inline into one file, `$OUT_DIR/iotc_models.rs`, for
    /// `include!(concat!(env!("OUT_DIR"), "/iotc_models.rs"))`, and tells cargo to rerun when
    /// an input changes.
    ///
    /// # Errors
    ///
    /// As [`Builder::write_to`], and [`Error::Output`] without `OUT_DIR`.
    pub fn write_to_out_dir(&self) -> Result<Output, Error> {
        let out_dir = std::env::var_os("OUT_DIR").ok_or_else(|| {
            Error::Output("OUT_DIR is not set (call this from build.rs)".to_owned())
        })?;
        let output = self.generate()?;
        let inline = self.root_items(&output, |module, text| {
            let body: String = text
                .lines()
                .filter(|line| !line.starts_with("//!"))
                .map(|line| format!("{line}\n"))
                .collect();
            format!("/// Generated from DTDL.\npub mod {module} {{\n{body}}}\n")
        });
        let path = Path::new(&out_dir).join("iotc_models.rs");
        std::fs::write(&path, self.formatted(&inline)?)
            .map_err(|e| Error::Output(format!("{}: {e}", path.display())))?;
        for file in &self.files {
            println!("cargo:rerun-if-changed={}", file.display());
        }
        if let Some(repository) = &self.repository {
            println!("cargo:rerun-if-changed={}", repository.display());
        }
        Ok(output)
    }

    fn formatted(&self, text: &str) -> Result<String, Error> {
        if !self.format {
            return Ok(text.to_owned());
        }
        let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
        let mut child = Command::new(&rustfmt)
            .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Output(format!("cannot run rustfmt: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| Error::Output(format!("rustfmt: {e}")))?;
        }
        let result = child
            .wait_with_output()
            .map_err(|e| Error::Output(format!("rustfmt: {e}")))?;
        if !result.status.success() {
            return Err(Error::Output(format!(
                "rustfmt failed on the generated code: {}",
                String::from_utf8_lossy(&result.stderr)
            )));
        }
        String::from_utf8(result.stdout).map_err(|e| Error::Output(format!("rustfmt: {e}")))
    }
}
