//! The decoder on real transactions from the local chain (fixtures/README.md)
//! and on variants of them for the log path.

use anchor_lang::Event;
use base64::Engine as _;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta;
use sparks::state::Source;
use sparks_client::events::SparksEvent;
use sparks_indexer::decoder::{decode, Origin, Problem};

fn fixture(name: &str) -> EncodedConfirmedTransactionWithStatusMeta {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn logs_mut(tx: &mut EncodedConfirmedTransactionWithStatusMeta) -> &mut Vec<String> {
    match &mut tx.transaction.meta.as_mut().unwrap().log_messages {
        OptionSerializer::Some(logs) => logs,
        _ => panic!("fixture has logs"),
    }
}

/// `Program data:` line carrying `event` as `emit!` would log it.
fn data_line(event: &SparksEvent) -> String {
    let bytes = match event {
        SparksEvent::SparksAwarded(e) => e.data(),
        other => panic!("test helper covers SparksAwarded, got {other:?}"),
    };
    format!(
        "Program data: {}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Inserts `line` right after the first `invoke` line of `program`.
fn insert_in_frame(
    tx: &mut EncodedConfirmedTransactionWithStatusMeta,
    program: &str,
    line: String,
) {
    let logs = logs_mut(tx);
    let at = logs
        .iter()
        .position(|l| l.starts_with(&format!("Program {program} invoke")))
        .unwrap();
    logs.insert(at + 1, line);
}

#[test]
fn an_award_decodes_from_its_inner_instruction() {
    // Arrange
    let tx = fixture("award");
    // Act
    let decoded = decode(&tx, &sparks::ID);
    // Assert
    assert_eq!(decoded.problems, vec![]);
    assert_eq!(decoded.events.len(), 1);
    let event = &decoded.events[0];
    assert_eq!((event.index, event.origin), (0, Origin::InnerInstruction));
    let SparksEvent::SparksAwarded(award) = &event.event else {
        panic!("{event:?}")
    };
    assert_eq!(
        (
            award.amount,
            award.source,
            award.account.balance,
            award.account.seq
        ),
        (250, Source::Trading, 250, 1)
    );
    assert_eq!(&award.reference[..6], b"trade-");
    assert_eq!(decoded.slot, tx.slot);
}

#[test]
fn a_referral_credit_is_the_second_event() {
    let decoded = decode(&fixture("award_with_referral"), &sparks::ID);
    let awards: Vec<_> = decoded
        .events
        .iter()
        .map(|e| match &e.event {
            SparksEvent::SparksAwarded(a) => {
                (e.index, a.source, a.amount, a.referral_from.is_some())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        awards,
        vec![
            (0, Source::Trading, 1_000, false),
            (1, Source::Referral, 100, true)
        ]
    );
}

#[test]
fn a_failed_transaction_is_reported_and_yields_nothing() {
    let decoded = decode(&fixture("failed_award"), &sparks::ID);
    assert!(decoded.events.is_empty());
    assert!(
        matches!(&decoded.problems[..], [Problem::Failed(reason)] if reason.contains("6039")),
        "{:?}",
        decoded.problems
    );
}

#[test]
fn events_under_another_programs_cpi_are_found_and_its_calls_are_not_events() {
    // The mint invokes consume_whitelist_spot (not an event) which emits one event.
    let decoded = decode(&fixture("example_mint"), &sparks::ID);
    assert_eq!(decoded.problems, vec![]);
    assert!(
        matches!(&decoded.events[..], [e] if matches!(e.event, SparksEvent::WhitelistSpotConsumed(_)))
    );
}

#[test]
fn an_event_seen_in_logs_and_inner_instructions_counts_once() {
    let mut tx = fixture("award");
    let event = decode(&tx, &sparks::ID).events[0].event.clone();
    insert_in_frame(&mut tx, &sparks::ID.to_string(), data_line(&event));
    let decoded = decode(&tx, &sparks::ID);
    assert_eq!(decoded.events.len(), 1);
    assert_eq!(decoded.events[0].origin, Origin::InnerInstruction);
}

#[test]
fn an_event_only_in_the_logs_is_kept() {
    let mut tx = fixture("award");
    let event = decode(&tx, &sparks::ID).events[0].event.clone();
    tx.transaction.meta.as_mut().unwrap().inner_instructions = OptionSerializer::None;
    insert_in_frame(&mut tx, &sparks::ID.to_string(), data_line(&event));
    let decoded = decode(&tx, &sparks::ID);
    assert_eq!(decoded.events.len(), 1);
    assert_eq!(decoded.events[0].origin, Origin::Log);
    assert_eq!(decoded.events[0].event, event);
}

#[test]
fn another_programs_data_is_never_taken_for_ours() {
    // Valid Sparks event bytes, but logged while SPL Token was executing.
    let mut tx = fixture("example_mint");
    let award = decode(&fixture("award"), &sparks::ID).events[0]
        .event
        .clone();
    tx.transaction.meta.as_mut().unwrap().inner_instructions = OptionSerializer::None;
    insert_in_frame(
        &mut tx,
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        data_line(&award),
    );
    let decoded = decode(&tx, &sparks::ID);
    assert!(decoded.events.is_empty(), "{:?}", decoded.events);
    assert_eq!(decoded.problems, vec![]);
}

#[test]
fn a_truncated_log_is_reported_and_inner_events_survive() {
    let mut tx = fixture("award_with_referral");
    let logs = logs_mut(&mut tx);
    logs.truncate(3);
    logs.push("Log truncated".into());
    let decoded = decode(&tx, &sparks::ID);
    assert_eq!(decoded.problems, vec![Problem::LogTruncated]);
    assert_eq!(decoded.events.len(), 2);
}

#[test]
fn undecodable_data_is_reported_not_fatal() {
    let mut tx = fixture("award");
    insert_in_frame(
        &mut tx,
        &sparks::ID.to_string(),
        "Program data: AAECAwQFBgcI".into(),
    );
    insert_in_frame(
        &mut tx,
        &sparks::ID.to_string(),
        "Program data: not-base64!".into(),
    );
    let decoded = decode(&tx, &sparks::ID);
    assert_eq!(decoded.events.len(), 1, "the good event still decodes");
    assert_eq!(decoded.problems.len(), 2);
    assert!(decoded.problems.iter().all(|p| matches!(
        p,
        Problem::Undecodable {
            origin: Origin::Log,
            ..
        }
    )));
}

#[test]
fn an_unknown_inner_event_is_reported() {
    let mut tx = fixture("award");
    let meta = tx.transaction.meta.as_mut().unwrap();
    let OptionSerializer::Some(groups) = &mut meta.inner_instructions else {
        panic!()
    };
    let mut replaced = false;
    for instruction in groups.iter_mut().flat_map(|g| g.instructions.iter_mut()) {
        if let solana_transaction_status_client_types::UiInstruction::Compiled(c) = instruction {
            let data = bs58::decode(&c.data).into_vec().unwrap();
            if data.starts_with(anchor_lang::event::EVENT_IX_TAG_LE) {
                let mut unknown = data[..8].to_vec();
                unknown.extend([9u8; 8]);
                c.data = bs58::encode(unknown).into_string();
                replaced = true;
            }
        }
    }
    assert!(replaced);
    let decoded = decode(&tx, &sparks::ID);
    assert!(decoded.events.is_empty());
    assert!(
        matches!(&decoded.problems[..], [Problem::Undecodable { origin: Origin::InnerInstruction, reason }] if reason.contains("unknown event"))
    );
}

#[test]
fn a_transaction_of_another_program_has_no_events() {
    let decoded = decode(
        &fixture("award"),
        &anchor_lang::prelude::Pubkey::new_unique(),
    );
    assert!(decoded.events.is_empty());
}

#[test]
fn a_quantity_beyond_bigint_is_a_problem_of_its_transaction_not_a_stall() {
    // Arrange: the award as a log-only event, at the largest quantity the
    // program stores and one past it.
    let first = decode(&fixture("award"), &sparks::ID).events[0]
        .event
        .clone();
    let SparksEvent::SparksAwarded(award) = first else {
        panic!("the award fixture decodes to an award")
    };
    let with_balance = |balance: u64| {
        let mut tx = fixture("award");
        tx.transaction.meta.as_mut().unwrap().inner_instructions = OptionSerializer::None;
        let mut award = award.clone();
        award.account.balance = balance;
        insert_in_frame(
            &mut tx,
            &sparks::ID.to_string(),
            data_line(&SparksEvent::SparksAwarded(award)),
        );
        decode(&tx, &sparks::ID)
    };
    // Act
    let largest = with_balance(i64::MAX as u64);
    let beyond = with_balance(i64::MAX as u64 + 1);
    // Assert: the largest is an event; one more, a problem and no events.
    assert_eq!(largest.events.len(), 1);
    assert!(largest.problems.is_empty(), "{:?}", largest.problems);
    assert!(beyond.events.is_empty());
    assert_eq!(
        beyond.problems,
        vec![Problem::OutOfRange(
            "balance = 9223372036854775808 exceeds 2^63-1".into()
        )]
    );
}
