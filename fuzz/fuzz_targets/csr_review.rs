#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keyrite_fuzz::csr_review(data));
