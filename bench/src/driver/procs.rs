//! Starting, watching and stopping the processes of a measurement: a server (in its own
//! process group, so that forked children go with it) and the load generator. Every wait
//! is bounded.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::common::{Addr, Transport};
use crate::kinds::{Kind, Launch};
use crate::loadgen::{Outcome, Spec};

/// How long a server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the programs and scratch files are.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The `servers` binary.
    pub servers: PathBuf,
    /// The echo example (`target/release/examples/echo`), or the one `--echo` names.
    pub echo: PathBuf,
    /// The `loadgen` binary.
    pub loadgen: PathBuf,
    /// `bench/python/echo_server.py`.
    pub python_script: PathBuf,
    /// The Python interpreter.
    pub python: String,
    /// A scratch directory for unix socket files and server logs, removed at the end.
    pub work: PathBuf,
}

impl Paths {
    /// Finds the sibling binaries of the running driver and the echo example (building them
    /// first when run through cargo; `echo` names another build of the example) and makes
    /// the scratch directory.
    pub fn discover(python: &str, echo: Option<&Path>) -> Result<Paths, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let dir = exe
            .parent()
            .ok_or("the driver has no directory")?
            .to_path_buf();
        if let Ok(cargo) = std::env::var("CARGO") {
            build_siblings(&cargo)?;
        }
        let servers = dir.join("servers");
        let loadgen = dir.join("loadgen");
        // The example is built in release whatever the driver's profile: it is what users run.
        let echo = match echo {
            Some(path) => path.to_path_buf(),
            None => dir.join("../release/examples/echo"),
        };
        for bin in [&servers, &loadgen, &echo] {
            if !bin.exists() {
                return Err(format!(
                    "{} is missing: run the driver through cargo (`cargo run --release -p socketserver-bench --bin bench`), which builds it",
                    bin.display()
                ));
            }
        }
        let work = std::env::temp_dir().join(format!("ssbench-{}", std::process::id()));
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        Ok(Paths {
            servers,
            echo,
            loadgen,
            python_script: Path::new(env!("CARGO_MANIFEST_DIR")).join("python/echo_server.py"),
            python: python.to_string(),
            work,
        })
    }
}

/// Builds what `cargo run --bin bench` does not (it builds only the driver): the other
/// binaries of this package, in the driver's profile, and the echo example in release.
fn build_siblings(cargo: &str) -> Result<(), String> {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let profile: &[&str] = if cfg!(debug_assertions) {
        &[]
    } else {
        &["--release"]
    };
    let bins = ["--quiet", "--bins", "--features", "tokio"];
    let args: Vec<&str> = bins.iter().chain(profile).copied().collect();
    cargo_build(cargo, &args, &bench, "the servers and loadgen binaries")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let example = ["--quiet", "--release", "--example", "echo"];
    cargo_build(cargo, &example, &workspace, "the echo example")
}

/// `cargo build ARGS --manifest-path MANIFEST`; `what` names what it builds.
fn cargo_build(cargo: &str, args: &[&str], manifest: &Path, what: &str) -> Result<(), String> {
    let status = Command::new(cargo)
        .arg("build")
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building {what} failed"))
    }
}

/// `program args...`, or `taskset -c 0 program args...` when pinned.
fn command(program: &Path, pinned: bool) -> Command {
    if pinned {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// A running server.
pub struct Server {
    child: Child,
    /// Its process id (also its process group's).
    pub pid: u32,
    /// Where it listens.
    pub addr: Addr,
    stderr: PathBuf,
    socket_file: Option<PathBuf>,
}

impl Server {
    /// Starts `kind` over `transport` and waits until it says where it listens.
    pub fn start(
        paths: &Paths,
        kind: &Kind,
        transport: Transport,
        pinned: bool,
        run: usize,
    ) -> Result<Server, String> {
        let socket_file = transport
            .is_unix()
            .then(|| paths.work.join(format!("s{run}.sock")));
        let bind = match &socket_file {
            Some(path) => path.display().to_string(),
            None => "127.0.0.1:0".to_string(),
        };
        let mut cmd = server_command(paths, kind, transport, pinned, &bind);
        let stderr = paths.work.join(format!("server{run}.err"));
        let log = File::create(&stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", kind.name))?;
        let pid = child.id();
        let said = listening_address(child.stdout.take().expect("piped stdout"));
        let mut server = Server {
            child,
            pid,
            addr: Addr::Unix(PathBuf::new()),
            stderr,
            socket_file,
        };
        match said.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                server.addr = Addr::parse(&addr)?;
                Ok(server)
            }
            Err(_) => {
                let log = server.stop();
                Err(format!(
                    "{} did not say where it listens within {START_TIMEOUT:?}: {}",
                    kind.name,
                    log.unwrap_or_default()
                ))
            }
        }
    }

    /// The CPU seconds the server has used, user and system: its threads, and its
    /// children it has waited for (`utime + cutime`, `stime + cstime` of `/proc/PID/stat`).
    pub fn cpu_seconds(&self) -> Option<(f64, f64)> {
        cpu_seconds(self.pid)
    }

    /// Kills the server and its children; returns the first line of what it printed on
    /// stderr and how many lines there were, if any.
    pub fn stop(mut self) -> Option<String> {
        self.kill();
        let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let _ = std::fs::remove_file(&self.stderr);
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        lines
            .first()
            .map(|first| format!("{} stderr lines, first: {first}", lines.len()))
    }

    fn kill(&mut self) {
        // SAFETY: plain system call; the group is the one we created for this server.
        unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(path) = &self.socket_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The command that starts `kind` over `transport`, bound to `bind`.
fn server_command(
    paths: &Paths,
    kind: &Kind,
    transport: Transport,
    pinned: bool,
    bind: &str,
) -> Command {
    let mut cmd = match kind.launch {
        Launch::Rust => {
            let mut cmd = command(&paths.servers, pinned);
            cmd.args(["--kind", kind.name]);
            cmd
        }
        Launch::Python(mixin) => {
            let mut cmd = command(Path::new(&paths.python), pinned);
            cmd.arg(&paths.python_script).args(["--mixin", mixin]);
            cmd
        }
        Launch::Example(flags) => {
            let mut cmd = command(&paths.echo, pinned);
            cmd.args(flags);
            cmd
        }
    };
    let transport_name = match kind.launch {
        Launch::Example(_) => transport.example_name(),
        _ => transport.name(),
    };
    cmd.args(["--transport", transport_name, "--bind", bind]);
    cmd
}

/// Reads a server's `stdout` on a thread of its own; the address it says it listens on
/// (`listening on ADDR`) comes out of the returned channel.
fn listening_address(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    rx
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// User and system CPU seconds of `pid` and its waited-for children, from
/// `/proc/PID/stat` (clock ticks: 10 ms at the usual 100 Hz).
pub fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14..=17.
    let ticks: Vec<u64> = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((
        (ticks[0] + ticks[2]) as f64 / hz,
        (ticks[1] + ticks[3]) as f64 / hz,
    ))
}

/// Waits for `child` to exit and collects its output; past `bound` it is killed and the
/// error names it `what`.
pub fn output_within(child: Child, bound: Duration, what: &str) -> Result<Output, String> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(bound) {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => {
            // SAFETY: plain system call on our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            Err(format!("{what} overstayed {bound:?} and was killed"))
        }
    }
}

/// Runs the load generator on `spec` (pinned to CPU 0 when `pinned`) and returns what it
/// measured. Killed if it overstays its bound.
pub fn loadgen(paths: &Paths, spec: &Spec, pinned: bool) -> Result<Outcome, String> {
    let mut cmd = command(&paths.loadgen, pinned);
    cmd.args(["--scenario", spec.scenario.name()])
        .args(["--transport", spec.transport.name()])
        .args(["--addr", &spec.addr.to_string()])
        .args(["--conns", &spec.conns.to_string()])
        .args(["--size", &spec.size.to_string()])
        .args(["--duration", &spec.duration.as_secs_f64().to_string()])
        .args(["--timeout-ms", &spec.timeout.as_millis().to_string()])
        .args(["--limit", &spec.limit.as_secs_f64().to_string()]);
    if let Some(ops) = spec.ops {
        cmd.args(["--ops", &ops.to_string()]);
    }
    let bound = match spec.ops {
        Some(_) => spec.limit,
        None => spec.duration,
    } + spec.timeout * 10
        + Duration::from_secs(15);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting loadgen: {e}"))?;
    let output = output_within(child, bound, "loadgen")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut outcome = stdout
        .lines()
        .find_map(Outcome::parse)
        .ok_or_else(|| format!("loadgen failed ({}): {}", output.status, stderr.trim()))?;
    outcome.first_error = stderr
        .lines()
        .find(|l| l.contains("first:"))
        .map(str::to_string);
    Ok(outcome)
}
