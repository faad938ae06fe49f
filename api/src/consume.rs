//! `ledger consume`: the other half of the confirmations path, a subscriber
//! that applies each confirmation to its own PostgreSQL table
//! (`docs/confirmations.md`). It is an example application, not part of the
//! ledger: its SQL is about its own database, never the ledger's.
//!
//! It reads the stream with a durable pull consumer (explicit acks) and runs
//! in one of three delivery guarantees, so the difference can be seen:
//!
//! - at most once: acknowledge, then apply. A crash between the two loses
//!   the confirmation.
//! - at least once: apply, commit, then acknowledge. A crash between the two
//!   applies it again when JetStream redelivers it.
//! - exactly once (the effect): in one transaction insert the message id
//!   into an inbox table (`ON CONFLICT DO NOTHING`) and apply only if the
//!   insert happened; commit; then acknowledge. A redelivery finds the id
//!   and changes nothing.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use async_nats::jetstream::consumer::pull;
use tokio_stream::StreamExt;

use crate::relay::{StreamArgs, HEADER_PAYMENT_ID, HEADER_STATE, HEADER_STATUS_CODE};

/// The delivery guarantee the consumer gives its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Guarantee {
    /// Acknowledge, then apply: a crash in between loses the message.
    AtMostOnce,
    /// Apply, then acknowledge: a crash in between applies it twice.
    AtLeastOnce,
    /// Inbox and effect in one transaction, then acknowledge.
    ExactlyOnce,
}

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub stream: StreamArgs,
    /// The consumer's own PostgreSQL database (a URL or key=value string),
    /// where it keeps `confirmations_applied` and `confirmations_inbox`.
    #[arg(long, env = "LEDGER_CONSUMER_DATABASE_URL", hide_env_values = true)]
    pub consumer_database_url: String,
    /// The durable consumer's name: a restarted consumer resumes where the
    /// last one acknowledged.
    #[arg(long, default_value = "ledger-confirmations-consumer")]
    pub durable_name: String,
    #[arg(long, value_enum, default_value = "exactly-once")]
    pub guarantee: Guarantee,
    /// How long JetStream waits for an acknowledgement before delivering a
    /// message again, in milliseconds.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub ack_wait_ms: u64,
    /// Exit after this long without a message, in milliseconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub exit_when_idle_ms: u64,
    /// Testing: after this many messages, stop between the two steps of the
    /// guarantee (after acknowledging for at-most-once, after committing
    /// otherwise), say so on stdout, and wait to be killed.
    #[arg(long, hide = true)]
    pub halt_after_messages: Option<u64>,
}

/// The consumer's tables: what it applied (one row per application, so a
/// confirmation applied twice shows twice) and its inbox.
const CONSUMER_SCHEMA: &str = "\
    CREATE TABLE IF NOT EXISTS confirmations_applied ( \
        applied_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
        message_id TEXT NOT NULL, \
        payment_id BIGINT NOT NULL, \
        state TEXT NOT NULL, \
        status_code TEXT NOT NULL, \
        stream_sequence BIGINT NOT NULL, \
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
    CREATE TABLE IF NOT EXISTS confirmations_inbox ( \
        message_id TEXT PRIMARY KEY, \
        received_at TIMESTAMPTZ NOT NULL DEFAULT now());";

/// One confirmation as the consumer applies it.
#[derive(Debug)]
struct Confirmation {
    message_id: String,
    payment_id: i64,
    state: String,
    status_code: String,
    stream_sequence: i64,
}

impl Confirmation {
    fn of(message: &jetstream::Message) -> anyhow::Result<Confirmation> {
        let headers = message
            .headers
            .as_ref()
            .context("a confirmation without headers")?;
        let header = |name: &str| -> anyhow::Result<String> {
            Ok(headers
                .get(name)
                .with_context(|| format!("a confirmation without {name}"))?
                .as_str()
                .to_owned())
        };
        let info = message.info().map_err(|error| anyhow::anyhow!("{error}"))?;
        Ok(Confirmation {
            message_id: header("Nats-Msg-Id")?,
            payment_id: header(HEADER_PAYMENT_ID)?
                .parse()
                .context("Ledger-Payment-Id")?,
            state: header(HEADER_STATE)?,
            status_code: header(HEADER_STATUS_CODE)?,
            stream_sequence: info.stream_sequence as i64,
        })
    }
}

async fn apply(
    client: &mut tokio_postgres::Client,
    confirmation: &Confirmation,
    with_inbox: bool,
) -> anyhow::Result<bool> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await?;
    if with_inbox {
        let inserted = tx
            .execute(
                "INSERT INTO confirmations_inbox (message_id) VALUES ($1) \
                 ON CONFLICT (message_id) DO NOTHING",
                &[&confirmation.message_id],
            )
            .await?;
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
    }
    tx.execute(
        "INSERT INTO confirmations_applied \
           (message_id, payment_id, state, status_code, stream_sequence) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &confirmation.message_id,
            &confirmation.payment_id,
            &confirmation.state,
            &confirmation.status_code,
            &confirmation.stream_sequence,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Stops here when asked to (`--halt-after-messages`), to be killed.
async fn halt_point(args: &ConsumeArgs, processed: u64, message_id: &str) {
    if args.halt_after_messages == Some(processed) {
        println!("consume: halted at message {message_id}");
        std::future::pending::<()>().await;
    }
}

/// Runs `ledger consume`; returns the exit status.
pub async fn main(args: &ConsumeArgs) -> i32 {
    match consume(args).await {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error:#}");
            2
        }
    }
}

async fn consume(args: &ConsumeArgs) -> anyhow::Result<()> {
    let config: tokio_postgres::Config = args
        .consumer_database_url
        .parse()
        .context("--consumer-database-url")?;
    let (mut client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to the consumer's database")?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("consume: database connection: {error}");
        }
    });
    client
        .batch_execute(CONSUMER_SCHEMA)
        .await
        .context("creating the consumer's tables")?;
    let nats = crate::relay::connect(&args.stream).await?;
    let context = jetstream::new(nats);
    let stream = context
        .get_stream(&args.stream.stream_name)
        .await
        .with_context(|| format!("opening the stream {}", args.stream.stream_name))?;
    let consumer: jetstream::consumer::Consumer<pull::Config> = stream
        .get_or_create_consumer(
            &args.durable_name,
            pull::Config {
                durable_name: Some(args.durable_name.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_millis(args.ack_wait_ms),
                filter_subject: args.stream.subjects_all(),
                ..Default::default()
            },
        )
        .await
        .context("creating or opening the durable consumer")?;
    let mut messages = consumer
        .messages()
        .await
        .context("reading the consumer's messages")?;
    println!(
        "consume: reading {} as {} ({:?})",
        args.stream.stream_name, args.durable_name, args.guarantee
    );
    let mut processed: u64 = 0;
    let mut applied: u64 = 0;
    let mut skipped: u64 = 0;
    loop {
        let next = if args.exit_when_idle_ms > 0 {
            match tokio::time::timeout(
                Duration::from_millis(args.exit_when_idle_ms),
                messages.next(),
            )
            .await
            {
                Ok(next) => next,
                Err(_) => break,
            }
        } else {
            messages.next().await
        };
        let message = match next {
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                tracing::warn!(%error, "reading a message failed");
                continue;
            }
            None => break,
        };
        let confirmation = Confirmation::of(&message)?;
        processed += 1;
        let acknowledge = || async {
            message
                .double_ack()
                .await
                .map_err(|error| anyhow::anyhow!("acknowledging: {error}"))
        };
        match args.guarantee {
            Guarantee::AtMostOnce => {
                acknowledge().await?;
                halt_point(args, processed, &confirmation.message_id).await;
                apply(&mut client, &confirmation, false).await?;
                applied += 1;
            }
            Guarantee::AtLeastOnce => {
                apply(&mut client, &confirmation, false).await?;
                applied += 1;
                halt_point(args, processed, &confirmation.message_id).await;
                acknowledge().await?;
            }
            Guarantee::ExactlyOnce => {
                if apply(&mut client, &confirmation, true).await? {
                    applied += 1;
                } else {
                    skipped += 1;
                }
                halt_point(args, processed, &confirmation.message_id).await;
                acknowledge().await?;
            }
        }
    }
    println!("consume: applied {applied}, skipped {skipped} already applied");
    Ok(())
}
