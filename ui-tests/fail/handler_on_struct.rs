use socketserver::prelude::*;

#[handler]
struct Echo;

fn main() {}
