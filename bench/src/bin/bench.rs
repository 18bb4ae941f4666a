//! The benchmark driver: one command runs every scenario against every server and prints
//! the report (markdown) on stdout; progress goes to stderr.
//!
//!     cargo run --release -p socketserver-bench --bin bench -- [--quick] [--compile]
//!
//! See `--help` and BENCHMARKS.md.

use std::process::ExitCode;

use socketserver_bench::driver::{self, Config};

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args().skip(1).collect()) {
        Ok(config) => config,
        Err(e) if e.is_empty() => {
            println!("{}", driver::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bench: {e}\n{}", driver::USAGE);
            return ExitCode::from(2);
        }
    };
    match driver::run(config) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
