//! The simulated database: a bounded connection pool every `/api` request
//! must get through, and the in-memory tables (users, tokens, rooms) it guards.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A fixed number of connections; waiting for one is bounded by the acquire timeout.
pub struct Pool {
    permits: Arc<Semaphore>,
    size: usize,
    acquire_timeout: Duration,
    query_time: Duration,
    timeouts: AtomicU64,
}

/// A checked-out connection; dropping it returns it to the pool.
pub struct Conn {
    _permit: OwnedSemaphorePermit,
    query_time: Duration,
}

/// The pool gave no connection within its acquire timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolTimeout(pub Duration);

/// Pool figures as `/_stats` shows them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PoolStats {
    pub size: usize,
    pub in_use: usize,
    pub timeouts: u64,
}

impl Pool {
    pub fn new(size: usize, acquire_timeout: Duration, query_time: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            acquire_timeout,
            query_time,
            timeouts: AtomicU64::new(0),
        }
    }

    /// Waits for a free connection, at most the acquire timeout.
    pub async fn acquire(&self) -> Result<Conn, PoolTimeout> {
        let waiting = self.permits.clone().acquire_owned();
        match tokio::time::timeout(self.acquire_timeout, waiting).await {
            Ok(Ok(permit)) => Ok(Conn {
                _permit: permit,
                query_time: self.query_time,
            }),
            // The semaphore is never closed, so an error here can only be the timeout.
            _ => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(PoolTimeout(self.acquire_timeout))
            }
        }
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.size,
            in_use: self.size - self.permits.available_permits(),
            timeouts: self.timeouts.load(Ordering::Relaxed),
        }
    }
}

impl Conn {
    /// Runs the request's queries: holds the connection for the configured query time.
    pub async fn query(&self) {
        tokio::time::sleep(self.query_time).await;
    }

    /// Holds the connection through a longer operation, such as a vector search.
    pub async fn hold(&self, time: Duration) {
        tokio::time::sleep(time).await;
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Room {
    pub id: u64,
    pub name: String,
    pub parent_id: Option<u64>,
    #[serde(skip)]
    pub owner: u64,
    #[serde(skip)]
    messages: u64,
}

/// The rows of the simulated database. Short critical sections only: callers
/// never hold the lock across an await.
#[derive(Default)]
pub struct Tables {
    inner: Mutex<TablesInner>,
}

#[derive(Default)]
struct TablesInner {
    last_user: u64,
    last_room: u64,
    tokens: HashMap<String, u64>,
    rooms: BTreeMap<u64, Room>,
}

impl Tables {
    fn lock(&self) -> std::sync::MutexGuard<'_, TablesInner> {
        self.inner.lock().expect("tables lock")
    }

    pub fn create_user(&self, name: String) -> User {
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let mut tables = self.lock();
        tables.last_user += 1;
        let id = tables.last_user;
        tables.tokens.insert(token.clone(), id);
        User { id, name, token }
    }

    pub fn user_for_token(&self, token: &str) -> Option<u64> {
        self.lock().tokens.get(token).copied()
    }

    /// Creates a room for `owner`; with a parent, only under one of the owner's rooms.
    pub fn create_room(&self, owner: u64, name: String, parent_id: Option<u64>) -> Option<Room> {
        let mut tables = self.lock();
        if let Some(parent) = parent_id {
            tables
                .rooms
                .get(&parent)
                .filter(|room| room.owner == owner)?;
        }
        tables.last_room += 1;
        let room = Room {
            id: tables.last_room,
            name,
            parent_id,
            owner,
            messages: 0,
        };
        tables.rooms.insert(room.id, room.clone());
        Some(room)
    }

    /// The owner's rooms, main rooms and sub-rooms, ordered by id.
    pub fn rooms_of(&self, owner: u64) -> Vec<Room> {
        let tables = self.lock();
        tables
            .rooms
            .values()
            .filter(|room| room.owner == owner)
            .cloned()
            .collect()
    }

    /// A room, if it exists and belongs to `owner`.
    pub fn room_of(&self, owner: u64, id: u64) -> Option<Room> {
        let tables = self.lock();
        tables
            .rooms
            .get(&id)
            .filter(|room| room.owner == owner)
            .cloned()
    }

    /// Allocates the id of the next message in a room (ids count up per room from 1).
    pub fn next_message_id(&self, owner: u64, id: u64) -> Option<u64> {
        let mut tables = self.lock();
        let room = tables
            .rooms
            .get_mut(&id)
            .filter(|room| room.owner == owner)?;
        room.messages += 1;
        Some(room.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pool_times_out_and_counts_when_all_connections_are_held() {
        let pool = Pool::new(1, Duration::from_millis(20), Duration::ZERO);
        let held = pool.acquire().await.unwrap();
        assert_eq!(pool.stats().in_use, 1);
        assert_eq!(
            pool.acquire().await.err(),
            Some(PoolTimeout(Duration::from_millis(20)))
        );
        drop(held);
        assert!(pool.acquire().await.is_ok());
        let stats = pool.stats();
        assert_eq!((stats.size, stats.in_use, stats.timeouts), (1, 0, 1));
    }

    #[test]
    fn rooms_are_private_to_their_owner() {
        let tables = Tables::default();
        let alice = tables.create_user("alice".into());
        let bob = tables.create_user("bob".into());
        assert_eq!(alice.token.len(), 32);
        assert_ne!(alice.token, bob.token);
        let main = tables.create_room(alice.id, "main".into(), None).unwrap();
        assert!(
            tables
                .create_room(bob.id, "sub".into(), Some(main.id))
                .is_none()
        );
        let sub = tables
            .create_room(alice.id, "sub".into(), Some(main.id))
            .unwrap();
        assert_eq!(tables.rooms_of(alice.id), vec![main.clone(), sub]);
        assert!(tables.rooms_of(bob.id).is_empty());
        assert!(tables.room_of(bob.id, main.id).is_none());
        assert_eq!(tables.next_message_id(alice.id, main.id), Some(1));
        assert_eq!(tables.next_message_id(alice.id, main.id), Some(2));
        assert_eq!(tables.next_message_id(bob.id, main.id), None);
    }
}
