#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keyrite_fuzz::share_text(data));
