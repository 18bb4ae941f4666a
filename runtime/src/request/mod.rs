//! The two kinds of request a handler receives: a connection or a datagram.

mod datagram;
mod stream;

pub use datagram::{DatagramRequest, DatagramSocket};
pub use stream::{RFile, StreamRequest, StreamSocket, WFile};
