//! Which machine a process is on, as far as a Unix socket can tell: a worker serves HTTP on a
//! socket beside its TCP port, and a router uses that socket when it sees the same identity
//! (same kernel boot and same mount namespace, so the socket's path names the same file).

/// This process's machine identity: the kernel's boot id and the mount namespace. `None` where
/// either cannot be read (not Linux): such processes always use TCP.
pub fn host_id() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let mounts = std::fs::read_link("/proc/self/ns/mnt").ok()?;
    Some(format!("{}/{}", boot.trim(), mounts.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_stable_within_a_process() {
        if let Some(id) = super::host_id() {
            assert!(id.contains("mnt:["), "{id}");
            assert_eq!(super::host_id(), Some(id));
        }
    }
}
