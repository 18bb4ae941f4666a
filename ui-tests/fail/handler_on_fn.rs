use socketserver::prelude::*;

#[handler]
fn handle(_req: &mut StreamRequest) {}

fn main() {}
