//! The kernel limits that cap how many users one process can hold: memory
//! mappings (each instance holds a few) and open files (each user holds at
//! least one connection). Checked at start, so the user learns what to
//! raise before the run fails halfway.

use std::path::Path;

/// Memory mappings one instance holds, measured with wasmtime's pooling
/// allocator, plus margin.
const MAPS_PER_USER: u64 = 7;

/// Mappings and files the host needs besides its users.
const BASE: u64 = 1024;

/// Warnings for the limits that `users` would exceed.
pub fn check(users: u32) -> Vec<String> {
    let users = u64::from(users);
    let mut warnings = Vec::new();
    if let Some(max_maps) = read_number(Path::new("/proc/sys/vm/max_map_count")) {
        let needed = users * MAPS_PER_USER + BASE;
        if needed > max_maps {
            warnings.push(format!(
                "{users} users need about {needed} memory mappings but vm.max_map_count is {max_maps}: \
                 raise it with `sysctl -w vm.max_map_count={}`",
                needed.next_power_of_two()
            ));
        }
    }
    if let Some(max_files) = open_files_limit() {
        let needed = users + BASE;
        if needed > max_files {
            warnings.push(format!(
                "{users} users need at least {needed} open files but the limit is {max_files}: \
                 raise it with `ulimit -n {}`",
                needed.next_power_of_two()
            ));
        }
    }
    warnings
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handful_of_users_needs_nothing_raised() {
        assert!(check(10).is_empty());
    }

    #[test]
    fn millions_of_users_name_what_to_raise() {
        let warnings = check(10_000_000);
        assert!(
            warnings.iter().any(|w| w.contains("vm.max_map_count")),
            "{warnings:?}"
        );
    }
}
