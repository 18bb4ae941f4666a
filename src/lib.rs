pub use socketserver_runtime::*;
