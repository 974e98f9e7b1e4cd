use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::events::SparksEvent;
use sparks_tests::TestFixture;

#[tokio::test]
async fn smoke_award_emits_event() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = solana_keypair::Keypair::new().pubkey();
    let events = f.award(&issuer, &wallet, Source::Trading, 100).await.unwrap();
    println!("{events:#?}");
    assert!(matches!(&events[..], [SparksEvent::SparksAwarded(_)]));
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 100);
}
