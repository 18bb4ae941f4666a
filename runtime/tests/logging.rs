//! With a logger installed, the default `handle_error` goes through the `log` facade: one
//! record at error level, target `socketserver`, naming the client and the error.
//!
//! A binary of its own: the logger is global to the process.

mod common;

use std::sync::Mutex;

use common::*;
use log::{Level, LevelFilter, Log, Metadata, Record};
use socketserver_runtime::mixin::Threading;
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::Server;

/// One log record: level, target, message.
type Captured = (Level, String, String);

/// A logger keeping every record.
struct Capture(Mutex<Vec<Captured>>);

impl Log for Capture {
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let captured = (
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        );
        self.0.lock().unwrap().push(captured);
    }

    fn flush(&self) {}
}

static LOGGER: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn handler_error_is_logged_once_at_error_level_with_target_socketserver() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(LevelFilter::Trace);

    let serving = serve(Server::<Tcp, Threading, Failing>::bind("127.0.0.1:0").unwrap());
    let mut client = Client::connect(&serving.address());
    let client_address = client.local_address();
    assert_eq!(client.read_to_end(), b"");
    // Closing joins the request thread: the record is in.
    serving.stop().close();

    let records: Vec<Captured> = LOGGER
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, target, _)| target.starts_with("socketserver"))
        .cloned()
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let (level, target, message) = &records[0];
    assert_eq!(*level, Level::Error);
    assert_eq!(target, "socketserver");
    assert!(
        message.contains(&client_address.to_string()),
        "{message:?} names the client {client_address}"
    );
    assert!(message.contains("failed on purpose"), "{message:?}");
}
