//! docs/CONFIGURATION.md holds every binary's `--help`, each subcommand's
//! too, so the flags, environment variables and defaults a reader finds
//! there are the ones the binary parses. Each binary's package runs
//! [`check`] from a test (`tests/configuration.rs`): the test fails when the
//! section differs from what the binary prints; `SPARKS_BLESS=1` rewrites it.
//!
//! The binaries are run rather than their clap types read, since not every
//! binary exports them; clap prints help unwrapped (no `wrap_help`), so the
//! text does not depend on the terminal.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The generated document, from the workspace root.
pub const DOCUMENT: &str = "docs/CONFIGURATION.md";

/// docs/CONFIGURATION.md of the clone this test runs in: found from the
/// running package (cargo sets `CARGO_MANIFEST_DIR` for tests), since a build
/// cache shared by clones at other paths keeps the path this library was
/// first compiled in.
fn document_path() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|toml| toml.contains("[workspace]"))
        })
        .map(Path::to_path_buf)
        .unwrap_or(start);
    root.join(DOCUMENT)
}

fn begin_marker(binary: &str) -> String {
    format!("<!-- help:{binary} (generated: SPARKS_BLESS=1 cargo test --test configuration) -->")
}

fn end_marker(binary: &str) -> String {
    format!("<!-- /help:{binary} -->")
}

/// What `exe args… --help` prints, with no environment variable but PATH:
/// clap shows an option's variable with its value when it is set.
fn help_of(exe: &Path, args: &[String]) -> String {
    let output = Command::new(exe)
        .args(args)
        .arg("--help")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?} --help: {e}", exe.display()));
    assert!(
        output.status.success(),
        "{} {args:?} --help exited with {}: {}",
        exe.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// The subcommands a help text lists under `Commands:` (clap's `help` aside).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim_end() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // A subcommand line starts with two spaces; a wrapped description with more.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The section of one binary: its help, then each subcommand's, depth first.
pub fn render(binary: &str, exe: &Path) -> String {
    fn walk(binary: &str, exe: &Path, path: &mut Vec<String>, out: &mut String) {
        let help = help_of(exe, path);
        let title = std::iter::once(binary.to_owned())
            .chain(path.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let heading = if path.is_empty() { "##" } else { "###" };
        out.push_str(&format!(
            "{heading} `{title}`\n\n```text\n{}\n```\n\n",
            help.trim_end()
        ));
        for sub in subcommands(&help) {
            path.push(sub);
            walk(binary, exe, path, out);
            path.pop();
        }
    }
    let mut out = String::new();
    walk(binary, exe, &mut Vec::new(), &mut out);
    out
}

/// Fails when the binary's section of docs/CONFIGURATION.md differs from
/// what it prints; with `SPARKS_BLESS=1`, writes the section instead.
pub fn check(binary: &str, exe: &Path) {
    // One package's tests may check several binaries at once: one read-modify-write at a time.
    static DOCUMENT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = DOCUMENT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = document_path();
    let document = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let (begin, end) = (begin_marker(binary), end_marker(binary));
    let start = document
        .find(&begin)
        .unwrap_or_else(|| panic!("{DOCUMENT} has no line {begin:?}; add it and its end {end:?}"))
        + begin.len();
    let stop = start
        + document[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("{DOCUMENT} has no line {end:?} after {begin:?}"));
    let wanted = format!("\n\n{}", render(binary, exe));
    if document[start..stop] == wanted {
        return;
    }
    if std::env::var_os("SPARKS_BLESS").is_some() {
        let updated = format!("{}{wanted}{}", &document[..start], &document[stop..]);
        std::fs::write(&path, updated)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    // cargo names the package whose tests it runs.
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "<package>".into());
    panic!(
        "{DOCUMENT}: the section of {binary} differs from its --help; \
         regenerate it with SPARKS_BLESS=1 cargo test -p {package} --test configuration"
    );
}

#[cfg(test)]
mod tests {
    use super::subcommands;

    #[test]
    fn subcommands_are_read_from_the_commands_list() {
        let help = "About\n\nUsage: x <COMMAND>\n\nCommands:\n  run     Run it\n  webhooks  Hooks\n            wrapped description\n  help    Print this message\n\nOptions:\n  -h, --help  Print help\n";
        assert_eq!(subcommands(help), ["run", "webhooks"]);
        assert!(subcommands("Usage: x [OPTIONS]\n\nOptions:\n  -h\n").is_empty());
    }
}
