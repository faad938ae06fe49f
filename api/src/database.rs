//! Where the ledger's database is: `DATABASE_URL` when set, else a private
//! PostgreSQL cluster the service runs itself in its data directory.

use std::path::PathBuf;

use anyhow::Context;
use pg_embedded::{Cluster, ClusterOptions, Durability};

/// The database the ledger keeps its books in, on the embedded cluster.
const EMBEDDED_DATABASE_NAME: &str = "ledger";

/// A connection configuration, and the embedded cluster behind it if this
/// process runs one (stopped cleanly when dropped, if this process started it).
#[derive(Debug)]
pub struct Database {
    pub config: tokio_postgres::Config,
    pub cluster: Option<Cluster>,
    /// Where the data lives, for messages: the URL's host or the data directory.
    pub description: String,
}

impl Database {
    /// `database_url` if given; else the embedded cluster in `data_dir`,
    /// started (and initialised) if needed, with its `ledger` database created.
    pub async fn open(database_url: Option<&str>, data_dir: PathBuf) -> anyhow::Result<Database> {
        if let Some(url) = database_url.filter(|url| !url.is_empty()) {
            let config: tokio_postgres::Config = url
                .parse()
                .context("DATABASE_URL is not a PostgreSQL connection URL")?;
            return Ok(Database {
                description: format!("DATABASE_URL (host {:?})", config.get_hosts()),
                config,
                cluster: None,
            });
        }
        let postgres_dir = data_dir.join("postgres");
        let options = ClusterOptions {
            data_dir: postgres_dir.clone(),
            durability: Durability::Durable,
        };
        let cluster = tokio::task::spawn_blocking(move || Cluster::start(options))
            .await
            .context("the cluster start task panicked")?
            .with_context(|| {
                format!(
                    "cannot start the embedded PostgreSQL in {} (set DATABASE_URL to use another server)",
                    postgres_dir.display()
                )
            })?;
        let admin: tokio_postgres::Config = cluster.connection_string("postgres").parse()?;
        create_database_if_missing(&admin, EMBEDDED_DATABASE_NAME).await?;
        let config = cluster.connection_string(EMBEDDED_DATABASE_NAME).parse()?;
        Ok(Database {
            description: format!("embedded PostgreSQL in {}", cluster.data_dir().display()),
            config,
            cluster: Some(cluster),
        })
    }

    /// Stops the embedded cluster if this process started it.
    pub async fn close(self) -> anyhow::Result<()> {
        if let Some(mut cluster) = self.cluster {
            if cluster.started_here() {
                tokio::task::spawn_blocking(move || cluster.stop())
                    .await
                    .context("the cluster stop task panicked")??;
            }
        }
        Ok(())
    }
}

async fn create_database_if_missing(
    admin: &tokio_postgres::Config,
    name: &str,
) -> anyhow::Result<()> {
    let (client, connection) = admin.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        // The name is a constant of ours, not input: safe to splice.
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}
