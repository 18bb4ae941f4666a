//! Failing requests: errors and panics at every stage are reported once through
//! `handle_error`, the failing connection is closed, the lifecycle rules hold (no handle
//! after a failed setup, finish after a failed handle), and the server goes on serving.

mod common;

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use socketserver_runtime::mixin::{Mixin, Serial, Threading};
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{HandlerResult, RequestHandler, Server, Stage, StreamRequest};

/// A handler scripted by its client: setup reads one line of words such as `setup-err`,
/// `handle-panic` or `finish-err`, and each method fails that way when its word is there.
/// Every call is recorded as `(command, method)`; `handle` answers `ok` when it succeeds.
#[derive(Clone, Default)]
struct Scripted {
    calls: Arc<Mutex<Vec<(String, &'static str)>>>,
    command: String,
}

impl Scripted {
    /// Records the call, then fails if the command says so.
    fn step(&self, method: &'static str) -> HandlerResult {
        self.calls
            .lock()
            .unwrap()
            .push((self.command.clone(), method));
        let words: Vec<&str> = self.command.split_whitespace().collect();
        if words.contains(&format!("{method}-err").as_str()) {
            return Err(format!("{method} failed on purpose").into());
        }
        if words.contains(&format!("{method}-panic").as_str()) {
            panic!("{method} panicked on purpose");
        }
        Ok(())
    }

    /// The methods that ran for `command`, in order.
    fn calls_for(&self, command: &str) -> Vec<&'static str> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(c, _)| c == command)
            .map(|(_, m)| *m)
            .collect()
    }
}

impl RequestHandler<StreamRequest> for Scripted {
    fn setup(&mut self, req: &mut StreamRequest) -> HandlerResult {
        req.rfile().read_line(&mut self.command)?;
        self.command = self.command.trim().to_owned();
        self.step("setup")
    }

    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        self.step("handle")?;
        req.wfile().write_all(b"ok\n")?;
        Ok(())
    }

    fn finish(&mut self, _req: &mut StreamRequest) -> HandlerResult {
        self.step("finish")
    }
}

/// What one failing request must come to.
struct Expected {
    stage: Stage,
    panic: bool,
    calls: &'static [&'static str],
    reply: &'static [u8],
}

/// Sends `command` to a server of mixin `M`, then a good request; checks the failure was
/// reported once as `expected` says, the failing client read EOF, the methods that ran, and
/// that the next client was served.
fn check_failure<M: Mixin>(command: &str, expected: Expected) {
    let hooks = Recorder::default();
    let handler = Scripted::default();
    let server = Server::<Tcp, M, Scripted>::builder()
        .handler(handler.clone())
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let address = serving.address();

    let mut failing = Client::connect(&address);
    failing.send(format!("{command}\n").as_bytes());
    assert_eq!(
        failing.read_to_end(),
        expected.reply,
        "the failing connection is closed"
    );
    let failing_address = failing.local_address();
    assert_eq!(
        roundtrip(&address, b"fine\n"),
        b"ok\n",
        "the next client is served"
    );

    // Closing joins request threads: every report is in.
    serving.stop().close();
    let errors = hooks.errors();
    assert_eq!(errors.len(), 1, "reported once: {errors:?}");
    let error = &errors[0];
    assert_eq!(error.stage, expected.stage, "{error:?}");
    assert_eq!(error.is_panic, expected.panic, "{error:?}");
    assert_eq!(error.client, failing_address);
    let purpose = if expected.panic {
        "panicked on purpose"
    } else {
        "failed on purpose"
    };
    assert!(error.message.contains(purpose), "{error:?}");
    assert_eq!(handler.calls_for(command), expected.calls);
    assert_eq!(handler.calls_for("fine"), ["setup", "handle", "finish"]);
}

const HANDLE_FAILED: Expected = Expected {
    stage: Stage::Handle,
    panic: false,
    calls: &["setup", "handle", "finish"],
    reply: b"",
};

const HANDLE_PANICKED: Expected = Expected {
    panic: true,
    ..HANDLE_FAILED
};

#[test]
fn handler_error_is_reported_once_and_next_client_served() {
    check_failure::<Serial>("handle-err", HANDLE_FAILED);
}

#[test]
fn handler_panic_is_reported_once_and_next_client_served() {
    check_failure::<Serial>("handle-panic", HANDLE_PANICKED);
}

#[test]
fn threading_handler_error_is_reported_once_and_next_client_served() {
    check_failure::<Threading>("handle-err", HANDLE_FAILED);
}

#[test]
fn threading_handler_panic_is_reported_once_and_next_client_served() {
    check_failure::<Threading>("handle-panic", HANDLE_PANICKED);
}

#[test]
fn failed_setup_skips_handle_and_finish() {
    for (command, panic) in [("setup-err", false), ("setup-panic", true)] {
        let expected = Expected {
            stage: Stage::Setup,
            panic,
            calls: &["setup"],
            reply: b"",
        };
        check_failure::<Serial>(command, expected);
    }
}

#[test]
fn failed_finish_is_reported_after_a_complete_reply() {
    for (command, panic) in [("finish-err", false), ("finish-panic", true)] {
        let expected = Expected {
            stage: Stage::Finish,
            panic,
            calls: &["setup", "handle", "finish"],
            reply: b"ok\n",
        };
        check_failure::<Serial>(command, expected);
    }
}

#[test]
fn when_handle_and_finish_both_fail_only_the_first_failure_is_reported() {
    check_failure::<Serial>("handle-err finish-panic", HANDLE_FAILED);
    check_failure::<Threading>("handle-panic finish-err", HANDLE_PANICKED);
}

/// A prototype whose clone panics while `panic_on_clone` is set.
#[derive(Default)]
struct PanicsWhenCreated {
    panic_on_clone: Arc<AtomicBool>,
}

impl Clone for PanicsWhenCreated {
    fn clone(&self) -> Self {
        if self.panic_on_clone.load(Ordering::SeqCst) {
            panic!("creating the handler panicked on purpose");
        }
        PanicsWhenCreated {
            panic_on_clone: self.panic_on_clone.clone(),
        }
    }
}

impl RequestHandler<StreamRequest> for PanicsWhenCreated {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        req.wfile().write_all(b"created\n")?;
        Ok(())
    }
}

#[test]
fn panic_creating_the_handler_is_reported_at_the_create_stage() {
    let hooks = Recorder::default();
    let prototype = PanicsWhenCreated::default();
    let panic_on_clone = prototype.panic_on_clone.clone();
    let server = Server::<Tcp, Serial, PanicsWhenCreated>::builder()
        .handler(prototype)
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);

    panic_on_clone.store(true, Ordering::SeqCst);
    assert_eq!(roundtrip(&serving.address(), b""), b"");
    panic_on_clone.store(false, Ordering::SeqCst);
    assert_eq!(roundtrip(&serving.address(), b""), b"created\n");

    serving.stop().close();
    let errors = hooks.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].stage, Stage::Create);
    assert!(errors[0].is_panic);
}

fn check_resets_do_not_stop_the_server<M: Mixin>() {
    let hooks = Recorder::default();
    let server = Server::<Tcp, M, Echo>::builder()
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    for _ in 0..10 {
        connect_and_reset(&serving.address());
        assert_echoes(&serving.address());
    }
    assert!(!serving.has_returned());
    serving.stop().close();
    // A reset seen by the handler is an ordinary failed request, reported, never a panic.
    assert!(
        hooks.errors().iter().all(|e| !e.is_panic),
        "{:?}",
        hooks.errors()
    );
}

#[test]
fn client_resetting_at_once_does_not_stop_a_sync_server() {
    check_resets_do_not_stop_the_server::<Serial>();
}

#[test]
fn client_resetting_at_once_does_not_stop_a_threading_server() {
    check_resets_do_not_stop_the_server::<Threading>();
}
