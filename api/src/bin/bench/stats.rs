//! What PostgreSQL saw during a point (`BENCH_PG_STATS=1`), and row counts.

pub fn pg_stats() -> bool {
    std::env::var_os("BENCH_PG_STATS").is_some()
}

pub async fn print_pg_stats(client: &tokio_postgres::Client) {
    let rows = client
        .query(
            "SELECT calls, total_exec_time, rows, shared_blks_hit, shared_blks_read, \
               shared_blks_dirtied, wal_records, wal_fpi, wal_bytes::BIGINT, \
               left(regexp_replace(query, '\\s+', ' ', 'g'), 110), plans, total_plan_time \
             FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 20",
            &[],
        )
        .await
        .expect("pg_stat_statements");
    println!("  calls  total_ms  ms/call  plans plan_ms/call rows/call hit/call read/call dirt/call walrec/call fpi/call walKB/call query");
    for row in rows {
        let calls: i64 = row.get(0);
        let total: f64 = row.get(1);
        let per = |v: i64| v as f64 / calls.max(1) as f64;
        let plans: i64 = row.get(10);
        let plan_ms: f64 = row.get(11);
        println!(
            "{calls:>7} {total:>9.0} {:>8.3} {plans:>6} {:>12.3} {:>9.1} {:>8.1} {:>9.1} {:>9.1} {:>11.1} {:>8.1} {:>10.1} {}",
            total / calls.max(1) as f64,
            plan_ms / plans.max(1) as f64,
            per(row.get(2)),
            per(row.get(3)),
            per(row.get(4)),
            per(row.get(5)),
            per(row.get(6)),
            per(row.get(7)),
            per(row.get::<_, i64>(8)) / 1024.0,
            row.get::<_, String>(9)
        );
    }
    let wal = client
        .query_one(
            "SELECT wal_records, wal_fpi, wal_bytes::BIGINT, wal_sync, wal_write FROM pg_stat_wal",
            &[],
        )
        .await
        .expect("pg_stat_wal");
    let bg = client
        .query_one(
            "SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_backend \
             FROM pg_stat_bgwriter",
            &[],
        )
        .await
        .expect("pg_stat_bgwriter");
    println!(
        "  WAL: records {} fpi {} bytes {} MiB syncs {} writes {}; checkpoints timed {} requested {}, buffers {} backend {}",
        wal.get::<_, i64>(0),
        wal.get::<_, i64>(1),
        wal.get::<_, i64>(2) / 1024 / 1024,
        wal.get::<_, i64>(3),
        wal.get::<_, i64>(4),
        bg.get::<_, i64>(0),
        bg.get::<_, i64>(1),
        bg.get::<_, i64>(2),
        bg.get::<_, i64>(3),
    );
    for row in client
        .query(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, pg_relation_size(relid) / 8192, \
               seq_scan, seq_tup_read, coalesce(idx_scan, 0) \
             FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd > 0 ORDER BY relname",
            &[],
        )
        .await
        .expect("pg_stat_user_tables")
    {
        println!(
            "  table {:<22} ins {:>7} upd {:>7} hot {:>7} pages {:>6} seq_scan {:>7} seq_tup_read {:>10} idx_scan {:>8}",
            row.get::<_, String>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(3),
            row.get::<_, i64>(4),
            row.get::<_, i64>(5),
            row.get::<_, i64>(6),
            row.get::<_, i64>(7)
        );
    }
}

pub async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}
