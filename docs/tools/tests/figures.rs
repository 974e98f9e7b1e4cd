//! One source for the headline figures: docs/BENCHMARKS.md's summary table
//! (between its `figures` markers) is what README.md shows, and every
//! number a summary row gives as its latest figure is in the section the row
//! links (a check that catches a summary figure no section holds, not one a
//! section holds only among older runs), whose text says when, at which
//! commit and by which command it was measured. `SPARKS_BLESS=1` copies the summary into README.md.

use std::path::PathBuf;

const BEGIN: &str = "<!-- figures -->";
const END: &str = "<!-- /figures -->";

/// From the running package (cargo sets it for tests), not the path this
/// was first compiled in: a build cache shared with a clone elsewhere may
/// hand over a binary built there.
fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The text between the markers, and where it sits.
fn block(document: &str, name: &str) -> (usize, usize) {
    let start = document
        .find(BEGIN)
        .unwrap_or_else(|| panic!("{name} has no {BEGIN} line"))
        + BEGIN.len();
    let end = start
        + document[start..]
            .find(END)
            .unwrap_or_else(|| panic!("{name} has no {END} line"));
    (start, end)
}

/// GitHub's anchor for a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Each `## ` section of a document by its anchor.
fn sections(document: &str) -> Vec<(String, String)> {
    document
        .split("\n## ")
        .skip(1)
        .map(|section| {
            let (heading, body) = section.split_once('\n').unwrap_or((section, ""));
            (slug(heading), body.to_owned())
        })
        .collect()
}

/// The figures in a text, as written ("30,629", "62.9", "1.4"); digits
/// glued to a letter ("p99", "v0") name something and are not figures.
fn numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        if i > 0 && chars[i - 1].is_alphabetic() {
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || ((chars[i] == ',' || chars[i] == '.')
                    && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())))
        {
            i += 1;
        }
        found.push(chars[start..i].iter().collect());
    }
    found
}

#[test]
fn readme_shows_the_benchmarks_summary() {
    let benchmarks = read("docs/BENCHMARKS.md");
    let (start, end) = block(&benchmarks, "docs/BENCHMARKS.md");
    let wanted = benchmarks[start..end].replace("](#", "](docs/BENCHMARKS.md#");
    let readme = read("README.md");
    let (start, end) = block(&readme, "README.md");
    if readme[start..end] == wanted {
        return;
    }
    if std::env::var_os("SPARKS_BLESS").is_some() {
        let updated = format!("{}{wanted}{}", &readme[..start], &readme[end..]);
        std::fs::write(root().join("README.md"), updated).expect("writing README.md");
        return;
    }
    panic!(
        "README.md's figures differ from docs/BENCHMARKS.md's summary; \
         copy them with SPARKS_BLESS=1 cargo test -p sparks-docs --test figures"
    );
}

#[test]
fn every_summary_figure_is_in_the_section_it_links() {
    let benchmarks = read("docs/BENCHMARKS.md");
    let (start, end) = block(&benchmarks, "docs/BENCHMARKS.md");
    let sections = sections(&benchmarks);
    let mut problems = Vec::new();
    for row in benchmarks[start..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (what, latest) = (cells[1], cells[3]);
        let anchor = what
            .split_once("](#")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(anchor, _)| anchor)
            .unwrap_or_else(|| panic!("summary row {what:?} links no section"));
        let Some((_, section)) = sections.iter().find(|(slug, _)| slug == anchor) else {
            problems.push(format!("{what}: no section #{anchor}"));
            continue;
        };
        for number in numbers(latest) {
            if !numbers(section).contains(&number) {
                problems.push(format!("{what}: {number} is not in its section"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/BENCHMARKS.md's summary:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_section_says_when_at_which_commit_and_how() {
    let benchmarks = read("docs/BENCHMARKS.md");
    let mut problems = Vec::new();
    for (anchor, body) in sections(&benchmarks).iter().filter(|(a, _)| a != "summary") {
        let dated = body
            .split(|c: char| !c.is_ascii_digit() && c != '-')
            .any(|word| {
                let bytes = word.as_bytes();
                bytes.len() == 10
                    && bytes.iter().enumerate().all(|(i, b)| match i {
                        4 | 7 => *b == b'-',
                        _ => b.is_ascii_digit(),
                    })
            });
        let commit = body.split("commit `").skip(1).any(|rest| {
            rest.split('`')
                .next()
                .is_some_and(|hash| hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit()))
        });
        let command = body.contains("`./scripts/bench") || body.contains("`cargo ");
        if !(dated && commit && command) {
            problems.push(format!(
                "#{anchor}: date {dated}, commit {commit}, command {command}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/BENCHMARKS.md sections without their provenance:\n{}",
        problems.join("\n")
    );
}

#[test]
fn numbers_are_read_as_written() {
    assert_eq!(
        numbers("30,629 events/s, p99 62.9 ms (1.4M), 78–108%"),
        ["30,629", "62.9", "1.4", "78", "108"]
    );
    assert_eq!(
        slug("Webhooks: the outbox's cost on ingest, and deliveries/s"),
        "webhooks-the-outboxs-cost-on-ingest-and-deliveriess"
    );
}
