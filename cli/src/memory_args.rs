//! `--memory-budget-mb`: the one setting that sizes a process's memory
//! pools (the broker's entry cache; each bookie's write cache and RocksDB
//! memtables and block cache). The pools take fixed shares of the budget;
//! the rest is headroom for what is not pooled: connections and their
//! queues, reads in flight, the allocator's own overhead, the program.
//! `docs/memory.md` lists the shares and what stays outside them.

use clap::Args;
use magnetar_bookie::server::config::IndexMemory;

/// The default budget, in MiB.
pub const DEFAULT_MEMORY_BUDGET_MB: u64 = 256;

/// The memory budget of a broker, bookie or standalone process.
#[derive(Debug, Clone, Args)]
pub struct MemoryArgs {
    /// Memory the process's pools share, in MiB: the broker's entry cache
    /// and each bookie's write cache and index. About half of it is left
    /// as headroom for connections, reads in flight and the program.
    #[arg(long, env = "MAGNETAR_MEMORY_BUDGET_MB", default_value_t = DEFAULT_MEMORY_BUDGET_MB,
          value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    pub memory_budget_mb: u64,
    /// Which roles share the budget: set by the command, not a flag.
    #[arg(skip)]
    pub roles: MemoryRoles,
}

/// Which pools a process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryRoles {
    /// A broker alone: the entry cache.
    #[default]
    Broker,
    /// A bookie alone: its write cache and index.
    Bookie,
    /// A broker and `bookies` bookies in one process.
    Standalone { bookies: u32 },
}

/// Pool sizes, in bytes, of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPools {
    /// The broker's entry cache (0 where no broker runs).
    pub entry_cache_bytes: usize,
    /// Each bookie's write cache half (a flush starts when the active half
    /// is full; adds wait while both are).
    pub write_cache_half_bytes: usize,
    /// Each bookie's index memory.
    pub index: IndexMemory,
}

impl MemoryArgs {
    /// The budget in bytes.
    pub fn budget_bytes(&self) -> usize {
        usize::try_from(self.memory_budget_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    /// The pool sizes for this process's roles. Shares of the budget `B`:
    /// a broker alone gives its entry cache `B/4`; a bookie alone gives
    /// its write cache `B/2` (two halves of `B/4`), its memtables `B/8`
    /// and its block cache `B/16`; a standalone gives the entry cache
    /// `B/8` and its bookies together half the shares of a lone bookie.
    pub fn pools(&self) -> MemoryPools {
        let budget = self.budget_bytes();
        let bookie_pools = |share: usize| MemoryPools {
            entry_cache_bytes: 0,
            write_cache_half_bytes: budget / 4 / share,
            index: IndexMemory {
                memtable_bytes: budget / 8 / share,
                block_cache_bytes: budget / 16 / share,
            },
        };
        match self.roles {
            MemoryRoles::Broker => MemoryPools {
                entry_cache_bytes: budget / 4,
                ..bookie_pools(usize::MAX)
            },
            MemoryRoles::Bookie => bookie_pools(1),
            MemoryRoles::Standalone { bookies } => MemoryPools {
                entry_cache_bytes: budget / 8,
                ..bookie_pools(2 * bookies.max(1) as usize)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(mb: u64, roles: MemoryRoles) -> MemoryPools {
        MemoryArgs {
            memory_budget_mb: mb,
            roles,
        }
        .pools()
    }

    /// Bytes every pool of the process may hold together.
    fn pooled(pools: MemoryPools, bookies: usize) -> usize {
        pools.entry_cache_bytes
            + bookies
                * (2 * pools.write_cache_half_bytes
                    + pools.index.memtable_bytes
                    + pools.index.block_cache_bytes)
    }

    #[test]
    fn the_pools_leave_headroom_in_every_role() {
        for mb in [16, 256, 4096] {
            let budget = (mb as usize) << 20;
            for (roles, bookies) in [
                (MemoryRoles::Broker, 0),
                (MemoryRoles::Bookie, 1),
                (MemoryRoles::Standalone { bookies: 1 }, 1),
                (MemoryRoles::Standalone { bookies: 3 }, 3),
            ] {
                let pools = pools(mb, roles);
                let pooled = pooled(pools, bookies);
                assert!(pooled <= budget * 3 / 4, "{roles:?} {mb} MiB: {pools:?}");
                assert!(
                    pooled >= budget / 4,
                    "{roles:?} {mb} MiB leaves the budget unused"
                );
            }
        }
    }

    #[test]
    fn the_default_standalone_pools() {
        let pools = pools(
            DEFAULT_MEMORY_BUDGET_MB,
            MemoryRoles::Standalone { bookies: 1 },
        );
        assert_eq!(pools.entry_cache_bytes, 32 << 20);
        assert_eq!(pools.write_cache_half_bytes, 32 << 20);
        assert_eq!(pools.index.memtable_bytes, 16 << 20);
        assert_eq!(pools.index.block_cache_bytes, 8 << 20);
        let broker = self::pools(DEFAULT_MEMORY_BUDGET_MB, MemoryRoles::Broker);
        assert_eq!(
            (broker.entry_cache_bytes, broker.write_cache_half_bytes),
            (64 << 20, 0)
        );
    }
}
