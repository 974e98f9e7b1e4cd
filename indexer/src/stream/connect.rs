//! Opening a subscription: the filters, and where it replays from.
//!
//! Where the endpoint replays, a subscription asks from the slot after the
//! one the mirror is complete through, so every slot it brings is whole and
//! nothing needs RPC; failing that (a fresh mirror, a cursor older than the
//! endpoint keeps) from the RPC node's current slot, the listing covering
//! what lies before; failing that at the live tip. A refusal (`from_slot`
//! too old, or not served) is recognized by its status, whenever it comes.

use std::time::Duration;

use futures::StreamExt;
use yellowstone_grpc_client::{
    GeyserGrpcClient, GeyserGrpcClientError, GeyserStream, SubscribeRequestSink,
};
use yellowstone_grpc_proto::prelude::{
    CommitmentLevel, SubscribeRequest, SubscribeRequestFilterBlocksMeta,
    SubscribeRequestFilterSlots, SubscribeRequestFilterTransactions, SubscribeUpdate,
};
use yellowstone_grpc_proto::tonic::{Code, Status};

use super::{Follower, StreamError};

/// How a subscription began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// Replaying from the slot after the one the mirror is complete through.
    Replayed,
    /// Replaying from this slot: every slot from it on arrives whole, and
    /// what lies between the mirror and it is repaired over RPC.
    WholeFrom(u64),
    /// At the live tip: the first slot may arrive in part.
    Live,
}

/// Which replays the endpoint has refused since it last delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) enum Replays {
    #[default]
    FromCursor,
    /// It refused the cursor's slot: ask from the node's current slot.
    FromTip,
    /// It refused that too: subscribe at the live tip.
    None,
}

/// How long a replay's refusal may take to arrive before the subscription
/// is taken as accepted (a later one still counts, see [`is_refusal`]).
const REFUSAL_WITHIN: Duration = Duration::from_secs(1);

/// The stream's updates, whichever way they were opened.
pub(super) type Updates =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<SubscribeUpdate, Status>> + Send>>;

/// Whether a status refuses a replay (providers differ in which they use).
pub(super) fn is_refusal(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::InvalidArgument | Code::Unimplemented | Code::OutOfRange
    )
}

/// A status as a stream error: a refusal of the credentials is fatal.
pub(super) fn refused_or(status: Status, url: &str) -> StreamError {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => StreamError::Refused {
            url: url.to_owned(),
            message: status.message().to_owned(),
        },
        _ => StreamError::Status(status),
    }
}

impl Follower<'_> {
    /// Connects and subscribes. Where the endpoint replays, from the slot
    /// after the one the mirror is complete through, or failing that (a
    /// fresh mirror, a cursor older than the endpoint keeps) from the
    /// node's current slot, so that every slot the stream brings is whole.
    pub(super) async fn subscribe(
        &self,
    ) -> Result<(SubscribeRequestSink, Updates, Start), StreamError> {
        if self.config.replay && self.replays < Replays::None {
            let complete = self.tracker.complete_through();
            if complete > 0 && self.replays == Replays::FromCursor {
                if let Some((sink, updates)) = self.replaying(complete + 1).await? {
                    return Ok((sink, updates, Start::Replayed));
                }
            }
            let tip =
                self.indexer
                    .source()
                    .processed_slot()
                    .await
                    .map_err(|e| StreamError::Connect {
                        url: self.config.url.clone(),
                        message: format!("reading the node's slot over RPC: {e}"),
                    })?;
            if let Some((sink, updates)) = self.replaying(tip).await? {
                return Ok((sink, updates, Start::WholeFrom(tip)));
            }
        }
        let (sink, stream) = self.open(None).await?;
        Ok((sink, Box::pin(stream), Start::Live))
    }

    /// A subscription replaying from `from_slot`, or `None` when the
    /// endpoint refuses to (it says so at once, as the stream's first item).
    async fn replaying(
        &self,
        from_slot: u64,
    ) -> Result<Option<(SubscribeRequestSink, Updates)>, StreamError> {
        let (sink, mut stream) = self.open(Some(from_slot)).await?;
        let first = match tokio::time::timeout(REFUSAL_WITHIN, stream.next()).await {
            // Nothing yet: a quiet chain, and no refusal.
            Err(_) => return Ok(Some((sink, Box::pin(stream)))),
            Ok(first) => first,
        };
        match first {
            Some(Err(status)) if is_refusal(&status) => {
                metrics::counter!("sparks_stream_replay_refused_total").increment(1);
                tracing::warn!(
                    from_slot,
                    message = status.message(),
                    "the endpoint cannot replay from there; what lies before is repaired over RPC"
                );
                Ok(None)
            }
            Some(Err(status)) => Err(refused_or(status, &self.config.url)),
            None => Err(StreamError::Ended),
            Some(Ok(first)) => {
                let updates = futures::stream::once(async { Ok(first) }).chain(stream);
                Ok(Some((sink, Box::pin(updates))))
            }
        }
    }

    async fn open(
        &self,
        from_slot: Option<u64>,
    ) -> Result<(SubscribeRequestSink, GeyserStream), StreamError> {
        let failed = |message: String| StreamError::Connect {
            url: self.config.url.clone(),
            message,
        };
        let mut client = GeyserGrpcClient::build_from_shared(self.config.url.clone())
            .map_err(|e| failed(e.to_string()))?
            .x_token(self.config.x_token.clone())
            .map_err(|e| failed(e.to_string()))?
            .connect_timeout(self.config.connect_timeout)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .tcp_nodelay(true)
            .max_decoding_message_size(64 << 20)
            .connect()
            .await
            .map_err(|e| failed(e.to_string()))?;
        client
            .subscribe_with_request(Some(self.request(from_slot)))
            .await
            .map_err(|e| match e {
                GeyserGrpcClientError::TonicStatus(status) => refused_or(status, &self.config.url),
                other => failed(other.to_string()),
            })
    }

    fn request(&self, from_slot: Option<u64>) -> SubscribeRequest {
        let program = self.indexer.source().config().program.to_string();
        SubscribeRequest {
            transactions: [(
                "sparks".to_owned(),
                SubscribeRequestFilterTransactions {
                    vote: Some(false),
                    failed: Some(false),
                    account_include: vec![program],
                    ..Default::default()
                },
            )]
            .into(),
            slots: [(
                "slots".to_owned(),
                SubscribeRequestFilterSlots {
                    filter_by_commitment: Some(false),
                    interslot_updates: Some(false),
                },
            )]
            .into(),
            blocks_meta: [("blocks".to_owned(), SubscribeRequestFilterBlocksMeta {})].into(),
            commitment: Some(CommitmentLevel::Processed as i32),
            from_slot,
            ..Default::default()
        }
    }
}
