//! The server's TOML configuration file (`Settings`, as `config::sources::load` reads the file), then
//! `Settings::validate`.
#![no_main]

use ciba_server::config::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(settings) = toml::from_str::<Settings>(text) else {
        return;
    };
    let _ = settings.issuer();
    let _ = settings.validate();
});
