//! `ciba-crash`: kills a running `ciba-server` with SIGKILL under load, again and again, and
//! checks that nothing it acknowledged was lost or doubled. See `ciba_bench::crash` and
//! `bench/CRASH.md`; `scripts/crash.sh` runs it.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let options = ciba_bench::crash::Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ciba-crash: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(ciba_bench::crash::run(options)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ciba-crash: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
