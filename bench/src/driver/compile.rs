//! Compile cost: the same threading TCP echo server written with the macros (`#[handler]`,
//! `server!`) and against the generic runtime type (`Server<Tcp, Threading, Echo>`, a
//! `RequestHandler` impl by hand), each a tiny crate of its own, built with cargo from a
//! clean target directory and again after touching its `main.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::common::median;

/// The server written with `#[handler]` and `server!`.
const MACROS_MAIN: &str = r#"use socketserver::prelude::*;
use std::io;

#[derive(Default)]
struct StreamEcho;

#[handler]
impl StreamEcho {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile)?;
        Ok(())
    }
}

server! {
    struct TcpThreading {
        transport: Tcp,
        mixin: Threading,
        handler: StreamEcho,
        allow_reuse_address: true,
    }
}

fn main() -> io::Result<()> {
    let server = TcpThreading::bind("127.0.0.1:0")?;
    println!("listening on {}", server.server_address());
    server.serve_forever()
}
"#;

/// The server written against `Server<Tcp, Threading, H>`, its handler by hand.
const GENERIC_MAIN: &str = r#"use socketserver_runtime::mixin::Threading;
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{HandlerResult, RequestHandler, Server, ServerConfig, StreamRequest};
use std::io;

#[derive(Default)]
struct StreamEcho;

impl RequestHandler<StreamRequest> for StreamEcho {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile)?;
        Ok(())
    }
}

type TcpThreading = Server<Tcp, Threading, StreamEcho>;

fn main() -> io::Result<()> {
    let mut config = ServerConfig::default();
    config.allow_reuse_address = true;
    let server = TcpThreading::builder().config(config).bind("127.0.0.1:0")?;
    println!("listening on {}", server.server_address());
    server.serve_forever()
}
"#;

/// Build times of one crate, in seconds.
#[derive(Clone, Debug, Default)]
pub struct Times {
    /// What the crate is.
    pub name: &'static str,
    /// Its dependencies.
    pub depends_on: &'static str,
    /// From an empty target directory, dependencies included.
    pub clean: Option<f64>,
    /// The crate alone, its dependencies built (`cargo clean -p` then build).
    pub crate_only: Option<f64>,
    /// Median of rebuilds after touching `main.rs`.
    pub incremental: Option<f64>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// One crate to build.
struct Example {
    /// What it is, for the report.
    name: &'static str,
    /// Its package name.
    package: &'static str,
    /// Its `[dependencies]` line.
    dependency: String,
    /// Its dependencies, for the report.
    depends_on: &'static str,
    /// Its `src/main.rs`.
    main: &'static str,
}

/// The workspace's root directory.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ sits in the workspace")
        .to_path_buf()
}

/// Writes the crate under `target/bench-compile/`, with the workspace's lock file so that
/// it builds offline with the same dependency versions.
fn write(example: &Example) -> Result<PathBuf, String> {
    let root = workspace();
    let dir = root.join("target/bench-compile").join(example.package);
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir.join("src")).map_err(io)?;
    let manifest = format!(
        "[package]\nname = \"{}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\n{}\n\n[workspace]\n",
        example.package, example.dependency
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).map_err(io)?;
    std::fs::write(dir.join("src/main.rs"), example.main).map_err(io)?;
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).map_err(io)?;
    Ok(dir)
}

/// Runs `cargo ARGS --offline` in the crate at `dir`; returns the seconds it took.
fn cargo(dir: &Path, args: &[&str]) -> Result<f64, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let start = Instant::now();
    let output = Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if output.status.success() {
        Ok(secs)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("cargo {}: {}", args.join(" "), stderr.trim()))
    }
}

/// Marks the crate's `main.rs` as changed.
fn touch(dir: &Path) -> Result<(), String> {
    let main = dir.join("src/main.rs");
    let file = std::fs::File::options()
        .append(true)
        .open(&main)
        .map_err(|e| format!("{}: {e}", main.display()))?;
    file.set_modified(std::time::SystemTime::now())
        .map_err(|e| format!("{}: {e}", main.display()))
}

/// The two crates: the server written with the macros, and against the generic type.
fn examples(root: &Path) -> [Example; 2] {
    [
        Example {
            name: "macros (`#[handler]` + `server!`)",
            package: "compile-macros",
            dependency: format!(
                "socketserver = {{ path = {:?} }}",
                root.display().to_string()
            ),
            depends_on: "socketserver (runtime + macros: syn, quote)",
            main: MACROS_MAIN,
        },
        Example {
            name: "generic (`Server<Tcp, Threading, H>`)",
            package: "compile-generic",
            dependency: format!(
                "socketserver-runtime = {{ path = {:?} }}",
                root.join("runtime").display().to_string()
            ),
            depends_on: "socketserver-runtime only",
            main: GENERIC_MAIN,
        },
    ]
}

/// Measures both crates (debug profile, as in an edit-compile loop): clean, crate only,
/// and `rebuilds` incremental rebuilds each, alternating.
pub fn measure(rebuilds: usize) -> Vec<Times> {
    let examples = examples(&workspace());
    let mut results: Vec<Times> = Vec::new();
    let mut dirs = Vec::new();
    for example in &examples {
        let mut times = Times {
            name: example.name,
            depends_on: example.depends_on,
            ..Times::default()
        };
        let prepared = write(example).and_then(|dir| {
            let _ = std::fs::remove_dir_all(dir.join("target"));
            times.clean = Some(cargo(&dir, &["build", "--quiet"])?);
            cargo(&dir, &["clean", "--quiet", "-p", example.package])?;
            times.crate_only = Some(cargo(&dir, &["build", "--quiet"])?);
            Ok(dir)
        });
        match prepared {
            Ok(dir) => dirs.push(Some(dir)),
            Err(e) => {
                times.error = Some(e);
                dirs.push(None);
            }
        }
        results.push(times);
    }
    let mut samples = vec![Vec::new(); examples.len()];
    for _ in 0..rebuilds {
        for (i, dir) in dirs.iter().enumerate() {
            let Some(dir) = dir else { continue };
            match touch(dir).and_then(|()| cargo(dir, &["build", "--quiet"])) {
                Ok(secs) => samples[i].push(secs),
                Err(e) => results[i].error = Some(e),
            }
        }
    }
    for (times, samples) in results.iter_mut().zip(samples) {
        times.incremental = median(&samples);
    }
    results
}
