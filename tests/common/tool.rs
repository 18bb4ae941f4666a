//! Finding the foreign programs tests drive, and skipping visibly where one is missing
//! (shared by the facade's tests and the runtime's by path).

use std::path::PathBuf;

/// The program `name` from PATH or, where it is missing, `None` after saying so (the test
/// then skips, visibly); under `CI=true` a missing program fails the test, since `.ci/run`
/// installs `package`, which has it.
pub fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.exists())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is missing (.ci/run installs {package})"
        );
        eprintln!("SKIPPED: {name} is not installed (package {package})");
    }
    found
}
