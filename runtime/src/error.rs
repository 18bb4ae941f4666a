//! Errors a request can end with, as `handle_error` receives them.

use std::any::Any;
use std::error::Error;
use std::fmt;

/// Any error a handler method returns, boxed (what `?` converts into).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// What handler methods return: `Ok(())` or any error.
pub type HandlerResult = Result<(), BoxError>;

/// The step of a request at which it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Creating the handler value (its `Default` or prototype `Clone` panicked).
    Create,
    /// `setup`.
    Setup,
    /// `handle`.
    Handle,
    /// `finish`.
    Finish,
    /// Starting the request in the mixin (spawning a thread, forking).
    Dispatch,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Create => "creating the handler",
            Stage::Setup => "setup",
            Stage::Handle => "handle",
            Stage::Finish => "finish",
            Stage::Dispatch => "starting the request",
        })
    }
}

/// A request that failed: at which stage, and whether by an error or a panic.
#[derive(Debug)]
pub struct RequestError {
    stage: Stage,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Error(BoxError),
    Panic(String),
}

impl RequestError {
    pub(crate) fn error(stage: Stage, error: impl Into<BoxError>) -> Self {
        RequestError {
            stage,
            cause: Cause::Error(error.into()),
        }
    }

    pub(crate) fn panic(stage: Stage, payload: Box<dyn Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "Box<dyn Any>".to_owned()
        };
        RequestError {
            stage,
            cause: Cause::Panic(message),
        }
    }

    /// The step that failed.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// True when the handler panicked rather than returned an error.
    pub fn is_panic(&self) -> bool {
        matches!(self.cause, Cause::Panic(_))
    }

    /// True when the peer went away: the error is an I/O error of a connection reset,
    /// aborted or no longer connected, a broken pipe, or an end of stream in the middle of
    /// something (`UnexpectedEof`). A server may report these more quietly than its own
    /// failures; the default hooks report them like any other.
    pub fn is_disconnect(&self) -> bool {
        let Cause::Error(error) = &self.cause else {
            return false;
        };
        error.downcast_ref::<std::io::Error>().is_some_and(|e| {
            use std::io::ErrorKind::*;
            matches!(
                e.kind(),
                ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe | UnexpectedEof
            )
        })
    }

    /// The panic message, when the handler panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.cause {
            Cause::Panic(message) => Some(message),
            Cause::Error(_) => None,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Error(error) => write!(f, "{} failed: {error}", self.stage),
            Cause::Panic(message) => write!(f, "{} panicked: {message}", self.stage),
        }
    }
}

impl Error for RequestError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.cause {
            Cause::Error(error) => Some(&**error),
            Cause::Panic(_) => None,
        }
    }
}
