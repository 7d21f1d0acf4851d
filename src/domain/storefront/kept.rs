//! The kept shelves of many customers in little memory. A storefront names its customer by
//! external id, and a shop may have a million who browse: most are in one of a few sets of
//! roles and share one shelf, so what a customer costs is their entry — a 128-bit keyed hash
//! of their external id and a pointer, 25 bytes in a table that never grows — not their id's
//! letters and a cache's bookkeeping.
//!
//! The hash is keyed with secrets drawn when the process starts, so nobody can choose two
//! external ids that collide; two of a billion customers collide by chance with a probability
//! of about 10^-21. The tables are sharded, each behind its own lock, and each sized once for
//! its share of the bytes; a full shard forgets an eighth of its entries, chosen by their hash.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

/// Entries per shard: a power of two's seven eighths, so the table fills its buckets exactly.
const SHARD_ENTRIES: usize = 7 * 1024;
/// What one bucket takes: the key, the pointer and hashbrown's control byte.
const BUCKET_BYTES: u64 = 16 + 8 + 1;
/// The bytes of one shard's table.
const SHARD_TABLE_BYTES: u64 = (SHARD_ENTRIES as u64 * 8 / 7) * BUCKET_BYTES;

/// A customer's key: two independent keyed hashes of their external id. The first picks the
/// shard, the second the bucket.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(u64, u64);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.1);
    }
}

/// Hashes a [`Key`] to its second half, which is already a keyed hash.
#[derive(Default)]
struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key` is hashed here, through `write_u64`; anything else still hashes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// What a kept value holds that no other holds.
pub trait Owned {
    /// Roughly the bytes only this value holds (0 for one many customers share).
    fn own_bytes(&self) -> u64;
}

type Table<T> = HashMap<Key, Arc<T>, BuildHasherDefault<Passthrough>>;

struct Shard<T> {
    table: Table<T>,
    /// The bytes of the shelves only these entries hold (customers with banners).
    own_bytes: u64,
    /// Which eighth of the entries goes next when the shard is full.
    next_eighth: u64,
}

/// The customers' shelves (or any value of theirs), by external id, within a budget of bytes.
pub struct KeptShelves<T> {
    hashers: (RandomState, RandomState),
    shards: Box<[Mutex<Shard<T>>]>,
    /// The bytes of customers' own shelves one shard may hold besides its table.
    own_budget: u64,
}

impl<T: Owned> KeptShelves<T> {
    /// Shelves for as many customers as `tables` bytes hold (a shard's table for every
    /// [`SHARD_TABLE_BYTES`]) and shelves of customers' own (those with banners) in `own`
    /// bytes. The tables are allocated at once; their memory is used as they fill.
    pub fn new(tables: u64, own: u64) -> Self {
        let shards = (tables / SHARD_TABLE_BYTES).max(1);
        let own_budget = own / shards;
        let shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    table: Table::with_capacity_and_hasher(SHARD_ENTRIES, Default::default()),
                    own_bytes: 0,
                    next_eighth: 0,
                })
            })
            .collect();
        KeptShelves {
            hashers: (RandomState::new(), RandomState::new()),
            shards,
            own_budget,
        }
    }

    /// How many customers' entries fit.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.shards.len() * SHARD_ENTRIES
    }

    fn key(&self, customer: &str) -> Key {
        Key(
            self.hashers.0.hash_one(customer),
            self.hashers.1.hash_one(customer),
        )
    }

    fn shard(&self, key: Key) -> MutexGuard<'_, Shard<T>> {
        let n = (key.0 % self.shards.len() as u64) as usize;
        // A panic while a shard was held leaves nothing half-done worth refusing.
        self.shards[n]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The kept shelf of `customer`.
    pub fn get(&self, customer: &str) -> Option<Arc<T>> {
        let key = self.key(customer);
        self.shard(key).table.get(&key).cloned()
    }

    /// Keeps `shelf` as `customer`'s, making room when the shard is full. A shelf of its own
    /// larger than a shard's budget for them is not kept (nor one kept before).
    pub fn insert(&self, customer: &str, shelf: Arc<T>) {
        let key = self.key(customer);
        let own = shelf.own_bytes();
        if own > self.own_budget {
            self.remove(customer);
            return;
        }
        self.shard(key).insert(key, shelf, own, self.own_budget);
    }

    /// Forgets `customer`'s shelf.
    pub fn remove(&self, customer: &str) {
        let key = self.key(customer);
        let mut shard = self.shard(key);
        if let Some(old) = shard.table.remove(&key) {
            shard.own_bytes -= old.own_bytes();
        }
    }

    /// Forgets every shelf.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            shard.table.clear();
            shard.own_bytes = 0;
        }
    }
}

impl<T: Owned> Shard<T> {
    /// Keeps `shelf` (owning `own` bytes) under `key`, making room first; the table never grows.
    fn insert(&mut self, key: Key, shelf: Arc<T>, own: u64, own_budget: u64) {
        if let Some(old) = self.table.remove(&key) {
            self.own_bytes -= old.own_bytes();
        }
        if self.table.len() >= SHARD_ENTRIES || self.own_bytes + own > own_budget {
            self.make_room(own, own_budget);
        }
        if self.table.capacity() <= self.table.len() {
            // Forgotten entries left tombstones that use up the table's room; hashbrown
            // would double the table rather than reuse them, so it is built again instead.
            let mut fresh = Table::with_capacity_and_hasher(SHARD_ENTRIES, Default::default());
            fresh.extend(self.table.drain());
            self.table = fresh;
        }
        self.own_bytes += own;
        self.table.insert(key, shelf);
    }

    /// Forgets an eighth of the entries at a time (by their hash, a different eighth each
    /// time) until one more entry and `own` more bytes fit.
    fn make_room(&mut self, own: u64, own_budget: u64) {
        while self.table.len() >= SHARD_ENTRIES || self.own_bytes + own > own_budget {
            let eighth = self.next_eighth;
            self.next_eighth = (eighth + 1) % 8;
            let mut freed = 0;
            self.table.retain(|key, shelf| {
                let keep = (key.1 >> 61) != eighth;
                if !keep {
                    freed += shelf.own_bytes();
                }
                keep
            });
            self.own_bytes -= freed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value holding as many bytes of its own as it says.
    struct Value(u64);

    impl Owned for Value {
        fn own_bytes(&self) -> u64 {
            self.0
        }
    }

    fn shared() -> Arc<Value> {
        Arc::new(Value(0))
    }

    #[test]
    fn a_kept_shelf_is_found_by_its_customer_only() {
        let kept = KeptShelves::<Value>::new(1 << 20, 1 << 18);
        let shelf = shared();
        kept.insert("c1", shelf.clone());

        assert!(Arc::ptr_eq(&kept.get("c1").expect("kept"), &shelf));
        assert!(kept.get("c2").is_none());
        kept.remove("c1");
        assert!(kept.get("c1").is_none());
    }

    #[test]
    fn a_full_table_forgets_some_and_never_grows() {
        let kept = KeptShelves::<Value>::new(1 << 20, 1 << 18);
        let capacity = kept.capacity();
        let shelf = shared();
        for i in 0..capacity * 3 {
            kept.insert(&format!("c{i}"), shelf.clone());
        }

        let held: usize = kept
            .shards
            .iter()
            .map(|s| s.lock().unwrap().table.len())
            .sum();
        assert!(held <= capacity, "{held} entries in room for {capacity}");
        assert!(held >= capacity / 2, "only {held} of {capacity} kept");
        for shard in kept.shards.iter() {
            let shard = shard.lock().unwrap();
            assert!(shard.table.capacity() <= SHARD_ENTRIES, "a table grew");
        }
        // The latest are there.
        assert!(kept.get(&format!("c{}", capacity * 3 - 1)).is_some());
    }

    #[test]
    fn shelves_of_their_own_stay_within_their_bytes() {
        let kept = KeptShelves::<Value>::new(1 << 20, 1 << 18);
        let budget = kept.own_budget * kept.shards.len() as u64;
        let own = Arc::new(Value(2_000));
        for i in 0..10_000 {
            kept.insert(&format!("c{i}"), own.clone());
        }

        let bytes: u64 = kept
            .shards
            .iter()
            .map(|s| s.lock().unwrap().own_bytes)
            .sum();
        let counted: u64 = kept
            .shards
            .iter()
            .flat_map(|s| {
                let s = s.lock().unwrap();
                s.table.values().map(|v| v.own_bytes()).collect::<Vec<_>>()
            })
            .sum();
        assert_eq!(bytes, counted);
        assert!(bytes <= budget, "{bytes} bytes of shelves in {budget}");
        assert!(bytes > 0);
    }

    #[test]
    fn a_million_customers_fit_in_30_mib() {
        let kept = KeptShelves::<Value>::new(30 << 20, 0);
        assert!(kept.capacity() >= 1_000_000, "{}", kept.capacity());
    }
}
