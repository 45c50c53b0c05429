//! A batch of likes written set-wise: per slot one read of the live comments the
//! batch likes, one read of the likes it touches, then one delete, one multi-row
//! insert and one multi-row append of counter events — instead of four statements
//! (savepoint, insert, counter event, release) per like. On MariaDB every statement
//! is a round trip, so this is what bounds a like writer.
//!
//! The batch is applied in order in memory first (a user's like then unlike in the
//! same batch nets out; each op gets its own answer), then the net change is written.
//! If the database disagrees with what was read — another replica changed one of
//! these likes between the read and the write (a delete finds fewer rows, an insert a
//! duplicate) — the attempt reports a conflict and the caller redoes the batch one
//! like at a time.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement, Value};

use super::{
    StoreError, Target,
    group::{Change, Op},
    sea::SeaInteractionStore,
};

/// Largest number of rows in one statement.
const CHUNK: usize = 300;

pub(super) type Key = (i64, i16, i64);

/// Per op its answer, or `None` when the database disagreed (redo one by one).
pub(super) async fn apply_batch(
    txn: &DatabaseTransaction,
    store: &SeaInteractionStore,
    batch: &[Op],
) -> Result<Option<Vec<Result<(), StoreError>>>, DbErr> {
    let mut by_slot: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, op) in batch.iter().enumerate() {
        by_slot.entry(op.slot).or_default().push(i);
    }
    let mut answers: Vec<Option<Result<(), StoreError>>> = batch.iter().map(|_| None).collect();
    for (slot, ops) in by_slot {
        let at = store.at(slot);
        let likes = at.shard.table("likes");
        let comments = at.shard.table("comments");
        let keys: HashSet<Key> = ops.iter().map(|&i| key(&batch[i])).collect();
        let comment_ids: HashSet<i64> = ops
            .iter()
            .filter_map(|&i| match batch[i].target {
                Target::Comment(c) => Some(c),
                Target::Video(_) => None,
            })
            .collect();
        let live = live_comments(txn, &comments, &comment_ids).await?;
        let existing = existing_likes(txn, &likes, &keys).await?;

        // the batch in order, in memory
        let mut present: HashMap<Key, bool> =
            keys.iter().map(|k| (*k, existing.contains(k))).collect();
        let mut unliked: HashSet<Key> = HashSet::new();
        let mut liked_at: HashMap<Key, i64> = HashMap::new();
        let mut deltas: BTreeMap<(i16, i64), i64> = BTreeMap::new();
        for &i in &ops {
            let op = &batch[i];
            let k = key(op);
            if let Target::Comment(c) = op.target
                && !live.contains(&c)
            {
                answers[i] = Some(Err(StoreError::NotFound));
                continue;
            }
            let here = present.entry(k).or_insert(false);
            answers[i] = Some(match op.change {
                Change::Like { .. } if *here => Err(StoreError::NoChange),
                Change::Unlike if !*here => Err(StoreError::NoChange),
                Change::Like { now } => {
                    *here = true;
                    liked_at.insert(k, now);
                    *deltas
                        .entry((op.target.like_counter(), op.target.id()))
                        .or_default() += 1;
                    Ok(())
                }
                Change::Unlike => {
                    *here = false;
                    unliked.insert(k);
                    *deltas
                        .entry((op.target.like_counter(), op.target.id()))
                        .or_default() -= 1;
                    Ok(())
                }
            });
        }

        // the net change: rows that were there and were unliked go (and come back if
        // liked again, with the new time); rows that were not there and end liked come
        // in key order, so two writers (replicas) lock rows in the same order
        let mut keys: Vec<Key> = keys.into_iter().collect();
        keys.sort_unstable();
        let deletes: Vec<Key> = keys
            .iter()
            .filter(|k| existing.contains(k) && unliked.contains(k))
            .copied()
            .collect();
        let inserts: Vec<(Key, i64)> = keys
            .iter()
            .filter(|k| present[k] && (!existing.contains(k) || unliked.contains(k)))
            .map(|k| (*k, liked_at[k]))
            .collect();
        if !delete_likes(txn, &likes, &deletes).await?
            || !insert_likes(txn, &likes, &inserts).await?
        {
            return Ok(None);
        }
        let changes: Vec<(i16, i64, i64)> = deltas
            .into_iter()
            .filter(|&(_, d)| d != 0)
            .map(|((kind, target), d)| (kind, target, d))
            .collect();
        at.counters.add_many(txn, &changes).await?;
    }
    Ok(Some(
        answers
            .into_iter()
            .map(|a| a.unwrap_or(Err(StoreError::NoChange)))
            .collect(),
    ))
}

pub(super) fn key(op: &Op) -> Key {
    (op.user_id, op.target.kind(), op.target.id())
}

fn placeholders(n: usize, one: &str) -> String {
    vec![one; n].join(", ")
}

/// A condition matching any of `n` like keys ([`key_values`]: three values each),
/// spelled as equalities joined by `OR`, not as `(user_id, kind, target_id) IN (...)`:
/// MariaDB 10.11 runs a `DELETE` whose row-constructor `IN` holds a single key as a
/// full table scan (with two keys or more it uses the primary key). Every batch with
/// one unlike in it read the whole likes table, inside the writer's transaction.
fn any_key(n: usize) -> String {
    vec!["(user_id = ? AND kind = ? AND target_id = ?)"; n].join(" OR ")
}

async fn live_comments(
    txn: &DatabaseTransaction,
    table: &str,
    ids: &HashSet<i64>,
) -> Result<HashSet<i64>, DbErr> {
    let ids: Vec<i64> = ids.iter().copied().collect();
    let mut live = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT id FROM {table} WHERE id IN ({}) AND deleted_at IS NULL",
            placeholders(chunk.len(), "?")
        );
        let values: Vec<Value> = chunk.iter().map(|&i| i.into()).collect();
        for row in txn
            .query_all_raw(Statement::from_sql_and_values(
                txn.get_database_backend(),
                sql,
                values,
            ))
            .await?
        {
            live.insert(row.try_get_by_index::<i64>(0)?);
        }
    }
    Ok(live)
}

fn key_values(keys: &[Key]) -> Vec<Value> {
    keys.iter()
        .flat_map(|&(u, k, t)| [u.into(), k.into(), t.into()])
        .collect()
}

async fn existing_likes(
    txn: &DatabaseTransaction,
    table: &str,
    keys: &HashSet<Key>,
) -> Result<HashSet<Key>, DbErr> {
    let keys: Vec<Key> = keys.iter().copied().collect();
    let mut found = HashSet::new();
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "SELECT user_id, kind, target_id FROM {table} WHERE {}",
            any_key(chunk.len())
        );
        for row in txn
            .query_all_raw(Statement::from_sql_and_values(
                txn.get_database_backend(),
                sql,
                key_values(chunk),
            ))
            .await?
        {
            found.insert((
                row.try_get_by_index::<i64>(0)?,
                row.try_get_by_index::<i16>(1)?,
                row.try_get_by_index::<i64>(2)?,
            ));
        }
    }
    Ok(found)
}

/// `false` when fewer rows went than were read (someone else removed one meanwhile).
async fn delete_likes(txn: &DatabaseTransaction, table: &str, keys: &[Key]) -> Result<bool, DbErr> {
    for chunk in keys.chunks(CHUNK) {
        let sql = format!("DELETE FROM {table} WHERE {}", any_key(chunk.len()));
        let res = txn
            .execute_raw(Statement::from_sql_and_values(
                txn.get_database_backend(),
                sql,
                key_values(chunk),
            ))
            .await?;
        if res.rows_affected() != chunk.len() as u64 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `false` when a row already exists (someone else inserted it meanwhile).
async fn insert_likes(
    txn: &DatabaseTransaction,
    table: &str,
    rows: &[(Key, i64)],
) -> Result<bool, DbErr> {
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO {table} (user_id, kind, target_id, created_at) VALUES {}",
            placeholders(chunk.len(), "(?, ?, ?, ?)")
        );
        let values: Vec<Value> = chunk
            .iter()
            .flat_map(|&((u, k, t), at)| [u.into(), k.into(), t.into(), at.into()])
            .collect();
        match txn
            .execute_raw(Statement::from_sql_and_values(
                txn.get_database_backend(),
                sql,
                values,
            ))
            .await
        {
            Ok(_) => {}
            Err(e) if fanone_db::is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    use super::{any_key, key_values};

    /// The plans MariaDB picks for the batch's statements on a real likes table: the
    /// primary key for any number of keys, never a scan of the table.
    #[tokio::test]
    async fn likes_are_found_and_deleted_by_primary_key() {
        let Some(url) = fanone_testkit::mysql_database("interaction_plans").await else {
            return;
        };
        let db = fanone_db::connect_and_migrate::<crate::Migrator>(&url)
            .await
            .expect("migrate");
        // 64 users x 200 videos, so that a scan costs more than the key lookups
        db.execute_unprepared(
            "INSERT INTO likes (user_id, kind, target_id, created_at) \
             SELECT u.seq, 1, 1000 + v.seq, u.seq * 1000 + v.seq \
             FROM seq_1_to_64 u, seq_1_to_200 v",
        )
        .await
        .expect("seed likes");
        db.execute_unprepared("ANALYZE TABLE likes")
            .await
            .expect("analyze");
        for n in [1, 2, 40] {
            let keys: Vec<_> = (0..n).map(|i| (i + 1, 1i16, 1001 + i)).collect();
            for sql in [
                format!("DELETE FROM likes WHERE {}", any_key(keys.len())),
                format!(
                    "SELECT user_id FROM likes WHERE {} FOR UPDATE",
                    any_key(keys.len())
                ),
            ] {
                let plan = db
                    .query_one_raw(Statement::from_sql_and_values(
                        db.get_database_backend(),
                        format!("EXPLAIN {sql}"),
                        key_values(&keys),
                    ))
                    .await
                    .expect("explain")
                    .expect("a plan");
                let access: String = plan.try_get("", "type").expect("type");
                let key: Option<String> = plan.try_get("", "key").expect("key");
                assert!(
                    access != "ALL" && key.as_deref() == Some("PRIMARY"),
                    "{n} keys: {sql} runs as {access} on {key:?}"
                );
            }
        }
    }
}
