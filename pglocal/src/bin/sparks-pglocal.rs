//! Starts a private Postgres, prints its URL on stdout, and keeps it running
//! until SIGINT/SIGTERM; then stops it and deletes its data.
//! Used by scripts (e.g. `scripts/sqlx-prepare`) that need a throwaway server.

use sparks_pglocal::PgServer;

fn main() {
    // Block the signals first so sigwait receives them instead of the default handler.
    // SAFETY: plain signal-mask calls on a zeroed set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let server = match PgServer::start() {
        Ok(server) => server,
        Err(error) => {
            eprintln!("sparks-pglocal: {error}");
            std::process::exit(1);
        }
    };
    println!("{}", server.url());
    let mut signal = 0;
    // SAFETY: waits on the set built above.
    unsafe { libc::sigwait(&set, &mut signal) };
    drop(server);
}
