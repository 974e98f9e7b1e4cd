//! Both APIs' OpenAPI documents are valid, as an independent validator
//! (openapi-spec-validator from PyPI, which scripts/test installs in a venv)
//! sees them, and precise where a generated client depends on it: query
//! parameters in the query and optional, wallets with their pattern, limits
//! with their bounds, sources and perk kinds as enums, errors described.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use utoipa::OpenApi;

fn indexer_doc() -> Value {
    serde_json::to_value(sparks_indexer::api::ApiDoc::openapi()).unwrap()
}

fn issuer_doc() -> Value {
    serde_json::to_value(sparks_issuer::routes::ApiDoc::openapi()).unwrap()
}

/// The validator scripts/test installed (`SPARKS_OPENAPI_VALIDATOR`).
fn validator() -> PathBuf {
    support::venv_tool("SPARKS_OPENAPI_VALIDATOR", "openapi-spec-validator")
}

fn assert_valid(name: &str, doc: &Value) {
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(validator()).arg(file.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{name}'s /openapi.json is not valid OpenAPI:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn both_documents_are_valid_openapi_for_an_independent_validator() {
    assert_valid("the indexer API", &indexer_doc());
    assert_valid("the issuer API", &issuer_doc());
}

/// The parameter `name` of `GET path`.
fn parameter<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{path} has no parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
}

/// A schema, with a `$ref` followed.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

#[test]
fn query_parameters_are_optional_and_in_the_query_with_their_bounds() {
    let doc = indexer_doc();
    for (path, names) in [
        (
            "/v1/wallets/{wallet}/history",
            &["limit", "cursor", "source"][..],
        ),
        ("/v1/wallets/{wallet}/invitees", &["limit", "cursor"][..]),
        ("/v1/leaderboard", &["limit", "source"][..]),
    ] {
        for name in names {
            let p = parameter(&doc, path, name);
            assert_eq!(p["in"], "query", "{path} {name}: {p}");
            assert_ne!(p["required"], json!(true), "{path} {name}: {p}");
        }
        let limit = &parameter(&doc, path, "limit")["schema"];
        assert_eq!(limit["minimum"], json!(1), "{path}: {limit}");
        assert_eq!(limit["maximum"], json!(100), "{path}: {limit}");
    }
    for path in ["/v1/wallets/{wallet}/history", "/v1/leaderboard"] {
        let source = parameter(&doc, path, "source");
        let schema = resolved(&doc, &source["schema"]);
        let schema = schema["oneOf"]
            .as_array()
            .and_then(|one| one.iter().find(|s| s["type"] != "null"))
            .map(|s| resolved(&doc, s))
            .unwrap_or(schema);
        assert_eq!(
            schema["enum"],
            json!(["trading", "subscription", "campaign", "referral"]),
            "{path}: {source}"
        );
    }
}

#[test]
fn wallets_have_their_pattern_and_every_route_describes_its_errors() {
    let doc = indexer_doc();
    let paths = doc["paths"].as_object().unwrap();
    let mut with_wallet = 0;
    for (path, item) in paths {
        let get = &item["get"];
        if path.contains("{wallet}") {
            with_wallet += 1;
            let wallet = resolved(&doc, &parameter(&doc, path, "wallet")["schema"]);
            assert_eq!(
                wallet["pattern"],
                sparks_client::address_pattern::address_pattern(),
                "{path}"
            );
            assert_eq!(wallet["minLength"], json!(32), "{path}");
            assert_eq!(wallet["maxLength"], json!(44), "{path}");
            assert!(get["responses"]["400"].is_object(), "{path} lacks its 400");
        }
        // The config is the API's own; the stream reports an unreadable
        // database inside the stream (`unavailable` events), not as a status.
        if path != "/v1/config" && !path.ends_with("/stream") {
            assert!(
                get["responses"]["503"].is_object(),
                "{path} lacks its 503 (the database could not answer)"
            );
        }
    }
    assert!(with_wallet >= 7, "{with_wallet} wallet routes");
    let kind = resolved(
        &doc,
        &doc["components"]["schemas"]["PerkView"]["properties"]["kind"],
    );
    assert_eq!(
        kind["enum"],
        json!([
            "discord_role",
            "nft_whitelist",
            "traffic_boost",
            "event_ticket",
            "plan_upgrade",
            "custom"
        ])
    );
}

/// The OpenAPI documents clients/js generates its API types from
/// (`npm run generate`) are what the services serve: a changed API fails
/// here until the documents are rewritten (`SPARKS_BLESS=1` does it) and the
/// TypeScript types regenerated (tests/tests/codama.rs checks those).
#[test]
fn the_typescript_clients_openapi_documents_are_the_services_own() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/js/openapi");
    let bless = std::env::var_os("SPARKS_BLESS").is_some();
    for (name, doc) in [("indexer", indexer_doc()), ("issuer", issuer_doc())] {
        let path = dir.join(format!("{name}.json"));
        let served = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        if bless {
            std::fs::write(&path, &served).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == served,
            "clients/js/openapi/{name}.json differs from the {name}'s /openapi.json: run \
             `SPARKS_BLESS=1 cargo test -p sparks-indexer --test openapi`, then \
             `npm run generate` in clients/js, and commit both"
        );
    }
}

/// schemathesis (PyPI, pinned in scripts/requirements.txt), run by
/// `./scripts/test` through `SPARKS_SCHEMATHESIS`.
fn schemathesis() -> PathBuf {
    support::venv_tool("SPARKS_SCHEMATHESIS", "schemathesis")
}

/// Requests per operation (`SPARKS_SCHEMATHESIS_EXAMPLES`; larger on demand).
fn examples() -> String {
    std::env::var("SPARKS_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "40".into())
}

/// Runs schemathesis against a live API with every check: no 5xx, every
/// status and body as documented, every request the document allows
/// accepted, every request it forbids refused.
fn run_schemathesis(name: &str, base: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    // An empty configuration of its own: nothing from a schemathesis.toml
    // that happens to sit above the working directory.
    let config_file = dir.path().join("schemathesis.toml");
    std::fs::write(&config_file, "").unwrap();
    let out = Command::new(schemathesis())
        .arg("--config-file")
        .arg(&config_file)
        .args(["run", &format!("{base}/openapi.json"), "--url", base])
        .args([
            "--checks",
            "all",
            "--max-examples",
            &examples(),
            "--seed",
            "31",
        ])
        .args(["--phases", "examples,coverage,fuzzing", "--workers", "2"])
        .args(["--generation-database", "none", "--no-color"])
        .args(extra)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!(
        "{name}:\n{}",
        stdout
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        out.status.success(),
        "schemathesis found answers {name}'s OpenAPI document does not describe:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_every_answer_as_the_documents_describe() {
    use sparks_indexer::api::ApiConfig;
    use sparks_indexer::indexer::IndexerConfig;

    let env = support::Env::start().await;
    // Real rows behind the API: every instruction once, indexed.
    let outcome = sparks_client::scenario::every_instruction(&env.rpc)
        .await
        .unwrap();
    env.indexer(IndexerConfig::default())
        .catch_up(&support::never())
        .await
        .unwrap();
    let indexer_base = support::serve_api(&env, ApiConfig::default()).await;
    let sources = ["trading", "subscription", "campaign", "referral"];
    let (_, issuer_base, token) =
        support::issuer_api(&env, &outcome.issuer, &sources, u64::MAX >> 1, false).await;

    tokio::task::spawn_blocking(move || {
        // The stream never ends by design: its document is checked above
        // (`wallets_are_exact_keys_cursors_exact_and_the_stream_is_described_as_events`),
        // not by requests.
        run_schemathesis(
            "the indexer API",
            &indexer_base,
            &["--exclude-path", "/v1/wallets/{wallet}/stream"],
        );
        run_schemathesis(
            "the issuer API",
            &issuer_base,
            &["-H", &format!("Authorization: Bearer {token}")],
        );
    })
    .await
    .unwrap();
}

#[test]
fn wallets_are_exact_keys_cursors_exact_and_the_stream_is_described_as_events() {
    let doc = indexer_doc();
    let address = &doc["components"]["schemas"]["Address"];
    assert_eq!(
        address["pattern"],
        sparks_client::address_pattern::address_pattern()
    );
    let issuer = issuer_doc();
    assert_eq!(issuer["components"]["schemas"]["Address"], *address);
    for (path, name) in [
        ("/v1/wallets/{wallet}/sparks", "wallet"),
        ("/v1/wallets/{wallet}/history", "wallet"),
        ("/v1/wallets/{wallet}/stream", "wallet"),
        ("/v1/whitelists/{id}/entries/{wallet}", "wallet"),
    ] {
        assert_eq!(
            parameter(&doc, path, name)["schema"]["$ref"],
            "#/components/schemas/Address",
            "{path}"
        );
    }
    // The patterns the parsers implement, as documented.
    use sparks_indexer::api::routes::{HISTORY_CURSOR_PATTERN, INVITEES_CURSOR_PATTERN};
    let history_cursor = parameter(&doc, "/v1/wallets/{wallet}/history", "cursor");
    assert_eq!(history_cursor["schema"]["pattern"], HISTORY_CURSOR_PATTERN);
    let invitees_cursor = parameter(&doc, "/v1/wallets/{wallet}/invitees", "cursor");
    assert_eq!(
        invitees_cursor["schema"]["pattern"],
        INVITEES_CURSOR_PATTERN
    );
    let stream = &doc["paths"]["/v1/wallets/{wallet}/stream"]["get"]["responses"]["200"];
    let content = &stream["content"]["text/event-stream"];
    assert_eq!(content["schema"]["type"], "string", "{stream}");
    let description = stream["description"].as_str().unwrap();
    assert!(
        description.contains("`sparks`") && description.contains("`unavailable`"),
        "{description}"
    );
}
