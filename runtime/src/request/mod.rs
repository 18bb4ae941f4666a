//! The two kinds of request a handler receives: a connection or a datagram.

mod datagram;
mod layer;
mod spare;
mod stream;

pub use datagram::{DatagramRequest, DatagramSocket};
pub(crate) use layer::Layers;
pub use layer::{Opening, Session, StreamLayer};
pub(crate) use spare::{
    keep as keep_spare_buffer, keep_none as keep_no_spare_buffers, keep_reply as keep_spare_reply,
    prepare as prepare_spare_buffer, take as take_spare_buffer, take_reply_for_child,
};
pub use stream::{RFile, StreamRequest, StreamSocket, WFile};
