//! Sharding (分库分表) of a service's growing tables: N databases × M tables each.
//!
//! - **Routing.** A row's *slot* is `mix(key) % (N × M)` where `key` is the owning id
//!   the service chose (a video id, a user id) and [`mix`] is the SplitMix64
//!   finaliser (fixed forever: any tool can compute where a row lives). Slot `s` is
//!   table `<name>_<s>` in database `s % N`, so doubling M splits every table in place,
//!   inside its own database (`docs/data.md`, "Resharding").
//! - **One path for every layout.** With one database and one table (standalone, and
//!   the default) the slot's table is the plain name (`likes`), so the same store code
//!   serves sharded and unsharded deployments.
//! - **Schema.** Each database runs the service's migrator (which creates the plain
//!   tables, kept empty as templates) and then `CREATE TABLE <name>_<s> LIKE <name>`
//!   for its slots: every shard has the template's columns, keys and indexes.
//!   Sharded layouts need a MySQL-protocol server.
//! - **Statements.** [`Place::on`] points a sea-orm select, insert, update or delete at
//!   a slot's table. Selects keep the entity's name as the table alias, so qualified
//!   column references keep working; updates and deletes must filter on unqualified
//!   columns (`Expr::col(Column::X)`), since MySQL allows no alias there.
//!
//! Everything a transaction touches must live in one database: a service routes the
//! rows that one change writes (a like, its counter event) by the same key.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, DeleteMany,
    EntityTrait, Insert, QueryTrait, Select, UpdateMany, sea_query::Alias,
};
use sea_orm_migration::MigratorTrait;

/// The SplitMix64 finaliser: spreads snowflake ids (whose low bits are mostly a
/// small sequence) evenly over slots. Part of the on-disk format: never change it.
pub fn mix(key: i64) -> u64 {
    let mut z = key as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How the sharded tables are split: `databases` × `tables` (per database) slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    databases: usize,
    tables: usize,
}

impl Layout {
    /// Most tables per database (and so per sharded table name) a layout may ask for.
    pub const MAX_TABLES: usize = 1024;

    pub fn new(databases: usize, tables: usize) -> Result<Self, DbErr> {
        if databases == 0 || tables == 0 || tables > Self::MAX_TABLES {
            return Err(DbErr::Custom(format!(
                "shard layout {databases} databases x {tables} tables: both must be 1..={}",
                Self::MAX_TABLES
            )));
        }
        Ok(Self { databases, tables })
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    pub fn slots(&self) -> usize {
        self.databases * self.tables
    }

    pub fn is_sharded(&self) -> bool {
        self.slots() > 1
    }

    /// The slot of rows owned by `key`.
    pub fn slot_of(&self, key: i64) -> usize {
        (mix(key) % self.slots() as u64) as usize
    }

    /// The database (index into the layout's URLs) holding slot `slot`.
    pub fn database_of(&self, slot: usize) -> usize {
        slot % self.databases
    }

    /// The physical name of table `name` in slot `slot`.
    pub fn table(&self, name: &str, slot: usize) -> String {
        if self.is_sharded() {
            format!("{name}_{slot}")
        } else {
            name.to_owned()
        }
    }
}

/// A service's connections to the databases of its sharded tables.
#[derive(Clone)]
pub struct Shards {
    layout: Layout,
    dbs: Vec<DatabaseConnection>,
}

/// One slot: a table suffix in one database.
#[derive(Clone, Copy)]
pub struct Shard<'a> {
    pub slot: usize,
    layout: Layout,
    db: &'a DatabaseConnection,
}

impl Shard<'_> {
    /// The connection of this slot's database.
    pub fn db(&self) -> &DatabaseConnection {
        self.db
    }

    /// The physical name of table `name` in this slot.
    pub fn table(&self, name: &str) -> String {
        self.layout.table(name, self.slot)
    }
}

impl Shards {
    /// One database, unsplit tables.
    pub fn single(db: DatabaseConnection) -> Self {
        Self {
            layout: Layout {
                databases: 1,
                tables: 1,
            },
            dbs: vec![db],
        }
    }

    /// Connect to every database of the layout (`urls.len()` × `tables`), migrate each
    /// with `M` and create its slots' copies of the `sharded` tables.
    pub async fn connect_and_migrate<M: MigratorTrait>(
        urls: &[String],
        tables: usize,
        sharded: &[&str],
    ) -> Result<Self, DbErr> {
        let layout = Layout::new(urls.len(), tables)?;
        let mut dbs = Vec::with_capacity(urls.len());
        for url in urls {
            dbs.push(fanone_db::connect_and_migrate::<M>(url).await?);
        }
        let shards = Self { layout, dbs };
        shards.create_tables(sharded).await?;
        if layout.is_sharded() {
            tracing::info!(
                databases = layout.databases,
                tables = layout.tables,
                sharded = ?sharded,
                "sharded tables ready"
            );
        }
        Ok(shards)
    }

    /// `CREATE TABLE IF NOT EXISTS <name>_<s> LIKE <name>` for every slot (nothing to
    /// do unsharded). Idempotent: runs at every start.
    async fn create_tables(&self, names: &[&str]) -> Result<(), DbErr> {
        if !self.layout.is_sharded() {
            return Ok(());
        }
        for shard in self.all() {
            if shard.db.get_database_backend() != DbBackend::MySql {
                return Err(DbErr::Custom(
                    "sharded tables need a MySQL-protocol database".into(),
                ));
            }
            for name in names {
                shard
                    .db
                    .execute_unprepared(&format!(
                        "CREATE TABLE IF NOT EXISTS `{}` LIKE `{name}`",
                        shard.table(name)
                    ))
                    .await?;
            }
        }
        Ok(())
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The slot of rows owned by `key`.
    pub fn of(&self, key: i64) -> Shard<'_> {
        self.at(self.layout.slot_of(key))
    }

    /// Slot `slot` (`< layout().slots()`).
    pub fn at(&self, slot: usize) -> Shard<'_> {
        Shard {
            slot,
            layout: self.layout,
            db: &self.dbs[self.layout.database_of(slot)],
        }
    }

    /// Every slot, in order.
    pub fn all(&self) -> impl Iterator<Item = Shard<'_>> {
        (0..self.layout.slots()).map(|s| self.at(s))
    }

    /// Every database connection (one per database, not per slot).
    pub fn databases(&self) -> &[DatabaseConnection] {
        &self.dbs
    }

    /// `items` grouped by the slot of `key(item)`, slots in order, each group in
    /// input order: one statement per slot instead of one per item.
    pub fn group<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> i64,
    ) -> Vec<(Shard<'_>, Vec<T>)> {
        let mut by_slot: BTreeMap<usize, Vec<T>> = BTreeMap::new();
        for item in items {
            by_slot
                .entry(self.layout.slot_of(key(&item)))
                .or_default()
                .push(item);
        }
        by_slot
            .into_iter()
            .map(|(slot, items)| (self.at(slot), items))
            .collect()
    }

    /// Run `f` on every slot at once (a query that spans shards) and collect the
    /// answers in slot order; the first error wins.
    pub async fn scatter<'a, T, F, Fut>(&'a self, f: F) -> Result<Vec<T>, DbErr>
    where
        F: Fn(Shard<'a>) -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        futures::future::try_join_all(self.all().map(f)).await
    }
}

/// Point a sea-orm statement at a slot's copy of its entity's table (a no-op
/// unsharded).
pub trait Place: Sized {
    fn on(self, shard: Shard<'_>) -> Self;
}

fn physical<E: EntityTrait>(shard: Shard<'_>) -> Option<Alias> {
    shard
        .layout
        .is_sharded()
        .then(|| Alias::new(shard.table(E::default().table_name())))
}

impl<E: EntityTrait> Place for Select<E> {
    fn on(mut self, shard: Shard<'_>) -> Self {
        if let Some(t) = physical::<E>(shard) {
            // the entity's own name as alias: `"likes"."user_id"` still resolves
            self.query().from_clear().from_as(t, E::default());
        }
        self
    }
}

impl<A: ActiveModelTrait> Place for Insert<A> {
    fn on(mut self, shard: Shard<'_>) -> Self {
        if let Some(t) = physical::<A::Entity>(shard) {
            self.query().into_table(t);
        }
        self
    }
}

impl<E: EntityTrait> Place for UpdateMany<E> {
    fn on(mut self, shard: Shard<'_>) -> Self {
        if let Some(t) = physical::<E>(shard) {
            self.query().table(t);
        }
        self
    }
}

impl<E: EntityTrait> Place for DeleteMany<E> {
    fn on(mut self, shard: Shard<'_>) -> Self {
        if let Some(t) = physical::<E>(shard) {
            self.query().from_table(t);
        }
        self
    }
}

/// The first `window.offset + window.limit` rows of every slot, merged into one
/// ordered list and cut to the window: how a list that spans shards is paged.
/// `before(a, b)` = `a` comes first.
pub fn merge_page<T>(
    per_slot: Vec<Vec<T>>,
    offset: usize,
    limit: usize,
    before: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    let mut all: Vec<T> = per_slot.into_iter().flatten().collect();
    all.sort_by(&before);
    all.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_is_fixed_and_even() {
        // part of the on-disk format: these values must never change
        assert_eq!(mix(0), 0);
        assert_eq!(mix(1), 0x5692_161d_100b_05e5);
        let layout = Layout::new(2, 2).unwrap();
        let mut per_slot = [0usize; 4];
        // snowflake-like ids: time in the high bits, a small sequence below
        for ms in 0..2_000i64 {
            for seq in 0..4 {
                per_slot[layout.slot_of((ms << 22) | seq)] += 1;
            }
        }
        for n in per_slot {
            assert!((1_800..2_200).contains(&n), "{per_slot:?}");
        }
        assert_eq!(layout.database_of(3), 1);
        assert_eq!(layout.table("likes", 3), "likes_3");
        assert_eq!(Layout::new(1, 1).unwrap().table("likes", 0), "likes");
        assert!(Layout::new(0, 2).is_err() && Layout::new(2, 0).is_err());
    }

    #[test]
    fn doubling_tables_splits_in_place() {
        let before = Layout::new(2, 2).unwrap();
        let after = Layout::new(2, 4).unwrap();
        for key in 0..10_000i64 {
            let (old, new) = (before.slot_of(key * 7919), after.slot_of(key * 7919));
            assert!(new == old || new == old + before.slots());
            assert_eq!(before.database_of(old), after.database_of(new));
        }
    }

    #[test]
    fn pages_merge_across_slots() {
        let slots = vec![vec![9, 5, 1], vec![8, 7], vec![6, 2]];
        let page = merge_page(slots, 1, 3, |a, b| b.cmp(a));
        assert_eq!(page, vec![8, 7, 6]);
    }
}
