//! Every masking path (runtime SIMD dispatch, the explicit SSE2/AVX2/NEON and u64
//! paths, and the key-stream offset) against a byte-by-byte reference written here,
//! for arbitrary lengths, key offsets and buffer alignments; bytes around the
//! masked slice must be untouched.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rsws::protocol::mask::{apply_mask, apply_mask_offset, apply_mask_u64};

#[derive(Arbitrary, Debug)]
struct Input {
    key: [u8; 4],
    /// Position of the slice in the key stream.
    offset: usize,
    /// Start of the slice within its buffer (0..64).
    align: u8,
    /// Where a second pass splits the slice (mod len + 1).
    split: u16,
    data: Vec<u8>,
}

fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset.wrapping_add(i)) % 4];
    }
}

/// Runs `f` on the slice at `align` within a buffer with guard bytes on both sides
/// and checks the result and the guards.
fn check(input: &Input, name: &str, f: impl Fn(&mut [u8])) {
    const GUARD: usize = 64;
    let align = input.align as usize % 64;
    let len = input.data.len();
    let mut buffer = vec![0xA5u8; align + len + GUARD];
    buffer[align..align + len].copy_from_slice(&input.data);
    let mut expected = buffer.clone();
    reference(&mut expected[align..align + len], input.key, input.offset);
    f(&mut buffer[align..align + len]);
    assert!(
        buffer == expected,
        "{name}: align {align} len {len} offset {}",
        input.offset
    );
}

fuzz_target!(|input: Input| {
    let key = input.key;
    let offset = input.offset;
    check(&input, "apply_mask_offset", |b| {
        apply_mask_offset(b, key, offset)
    });
    // The functions without an offset start at key phase 0.
    let at_zero = Input {
        offset: 0,
        data: input.data.clone(),
        ..input
    };
    check(&at_zero, "apply_mask", |b| apply_mask(b, key));
    check(&at_zero, "apply_mask_u64", |b| apply_mask_u64(b, key));
    #[cfg(target_arch = "x86_64")]
    {
        use rsws::protocol::mask::x86;
        // SAFETY: SSE2 is part of the x86_64 baseline.
        check(&at_zero, "sse2", |b| unsafe {
            x86::apply_mask_sse2(b, key)
        });
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 support was just detected.
            check(&at_zero, "avx2", |b| unsafe {
                x86::apply_mask_avx2(b, key)
            });
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        use rsws::protocol::mask::arm;
        // SAFETY: NEON is part of the aarch64 baseline.
        check(&at_zero, "neon", |b| unsafe {
            arm::apply_mask_neon(b, key)
        });
    }
    // A payload unmasked in two reads continues the key stream.
    let split = input.split as usize % (input.data.len() + 1);
    check(&input, "split", |b| {
        let (head, tail) = b.split_at_mut(split);
        apply_mask_offset(head, key, offset);
        apply_mask_offset(tail, key, offset.wrapping_add(split));
    });
    // Masking is an involution.
    check(&at_zero, "twice", |b| {
        let original = b.to_vec();
        apply_mask(b, key);
        apply_mask(b, key);
        assert_eq!(b, &original[..]);
        apply_mask(b, key);
    });
});
