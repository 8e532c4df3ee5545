//! RFC 6455 payload masking (XOR with a repeating 4-byte key).
//!
//! Masking touches every received byte, so it uses the widest SIMD path the
//! CPU offers; every path is checked against the byte-by-byte reference.

/// Reference implementation: one byte at a time.
pub fn apply_mask_scalar(buf: &mut [u8], key: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// Portable fast path: 8 bytes per step through an unaligned u64.
pub fn apply_mask_u64(buf: &mut [u8], key: [u8; 4]) {
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap()) ^ key64;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so the key phase is still 0.
    apply_mask_scalar(chunks.into_remainder(), key);
}

/// Masks `buf` in place with the fastest available implementation.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    if buf.len() < 16 {
        // Tiny payloads (most control frames) gain nothing from SIMD setup.
        apply_mask_scalar(buf, key);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2() {
            // SAFETY: AVX2 support was detected at runtime.
            unsafe { x86::apply_mask_avx2(buf, key) };
        } else {
            // SAFETY: SSE2 is part of the x86_64 baseline.
            unsafe { x86::apply_mask_sse2(buf, key) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { arm::apply_mask_neon(buf, key) };
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    apply_mask_u64(buf, key);
}

/// Masks `buf` as if it started at byte `offset` of the key stream, so a
/// frame payload can be unmasked in several pieces.
#[inline]
pub fn apply_mask_offset(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let shift = offset & 3;
    let rotated = [
        key[shift],
        key[(shift + 1) & 3],
        key[(shift + 2) & 3],
        key[(shift + 3) & 3],
    ];
    apply_mask(buf, rotated);
}

/// Cached result of the AVX2 runtime check (the std macro already caches,
/// but a relaxed atomic load keeps the hot path to a single branch).
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static DETECTED: AtomicU8 = AtomicU8::new(UNKNOWN);
    match DETECTED.load(Ordering::Relaxed) {
        YES => true,
        NO => false,
        _ => {
            let found = is_x86_feature_detected!("avx2");
            DETECTED.store(if found { YES } else { NO }, Ordering::Relaxed);
            found
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use super::apply_mask_scalar;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn apply_mask_avx2(buf: &mut [u8], key: [u8; 4]) {
        let len = buf.len();
        let ptr = buf.as_mut_ptr();
        let key32 = i32::from_ne_bytes(key);
        let mask = _mm256_set1_epi32(key32);
        let mut i = 0;
        while i + 32 <= len {
            // SAFETY: i + 32 <= len keeps the unaligned access in bounds.
            unsafe {
                let p = ptr.add(i) as *mut __m256i;
                _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), mask));
            }
            i += 32;
        }
        // Offsets stay multiples of 4, so the key phase is unchanged.
        // SAFETY: SSE2 is implied by AVX2.
        unsafe { apply_mask_sse2(&mut buf[i..], key) };
    }

    /// # Safety
    /// The CPU must support SSE2 (always true on x86_64).
    #[target_feature(enable = "sse2")]
    pub unsafe fn apply_mask_sse2(buf: &mut [u8], key: [u8; 4]) {
        let len = buf.len();
        let ptr = buf.as_mut_ptr();
        let mask = _mm_set1_epi32(i32::from_ne_bytes(key));
        let mut i = 0;
        while i + 16 <= len {
            // SAFETY: i + 16 <= len keeps the unaligned access in bounds.
            unsafe {
                let p = ptr.add(i) as *mut __m128i;
                _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), mask));
            }
            i += 16;
        }
        apply_mask_scalar(&mut buf[i..], key);
    }
}

#[cfg(target_arch = "aarch64")]
pub mod arm {
    use super::apply_mask_scalar;
    use std::arch::aarch64::*;

    /// # Safety
    /// The CPU must support NEON (always true on aarch64).
    #[target_feature(enable = "neon")]
    pub unsafe fn apply_mask_neon(buf: &mut [u8], key: [u8; 4]) {
        let len = buf.len();
        let ptr = buf.as_mut_ptr();
        let mask = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_ne_bytes(key)));
        let mut i = 0;
        while i + 16 <= len {
            // SAFETY: i + 16 <= len keeps the access in bounds.
            unsafe {
                let p = ptr.add(i);
                vst1q_u8(p, veorq_u8(vld1q_u8(p), mask));
            }
            i += 16;
        }
        apply_mask_scalar(&mut buf[i..], key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type MaskFn = fn(&mut [u8], [u8; 4]);

    fn paths() -> Vec<(&'static str, MaskFn)> {
        let mut paths: Vec<(&'static str, MaskFn)> = vec![
            ("u64", apply_mask_u64),
            ("dispatch", apply_mask),
            ("offset0", |b, k| apply_mask_offset(b, k, 0)),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            paths.push(("sse2", |b, k| unsafe { x86::apply_mask_sse2(b, k) }));
            if is_x86_feature_detected!("avx2") {
                paths.push(("avx2", |b, k| unsafe { x86::apply_mask_avx2(b, k) }));
            }
        }
        #[cfg(target_arch = "aarch64")]
        paths.push(("neon", |b, k| unsafe { arm::apply_mask_neon(b, k) }));
        paths
    }

    #[test]
    fn every_path_matches_reference_for_all_lengths_and_alignments() {
        let mut rng = fastrand::Rng::with_seed(0x6455);
        let keys = [
            [0, 0, 0, 0],
            [0xff, 0xff, 0xff, 0xff],
            [1, 2, 3, 4],
            [rng.u8(..), rng.u8(..), rng.u8(..), rng.u8(..)],
        ];
        let mut source = vec![0u8; 300 + 32];
        rng.fill(&mut source);
        for (name, path) in paths() {
            for key in keys {
                for align in 0..=31 {
                    for len in 0..=300 {
                        let mut expected = source.clone();
                        apply_mask_scalar(&mut expected[align..align + len], key);
                        let mut actual = source.clone();
                        path(&mut actual[align..align + len], key);
                        assert_eq!(actual, expected, "{name} len {len} align {align}");
                    }
                }
            }
        }
    }

    #[test]
    fn offset_continues_the_key_stream() {
        let mut rng = fastrand::Rng::with_seed(7);
        let key = [0x12, 0x34, 0x56, 0x78];
        let mut data = vec![0u8; 200];
        rng.fill(&mut data);
        let mut expected = data.clone();
        apply_mask_scalar(&mut expected, key);
        for split in 0..data.len() {
            let mut actual = data.clone();
            let (head, tail) = actual.split_at_mut(split);
            apply_mask(head, key);
            apply_mask_offset(tail, key, split);
            assert_eq!(actual, expected, "split {split}");
        }
    }

    #[test]
    fn masking_twice_restores_the_input() {
        let original: Vec<u8> = (0..=255).collect();
        let mut data = original.clone();
        apply_mask(&mut data, [9, 8, 7, 6]);
        assert_ne!(data, original);
        apply_mask(&mut data, [9, 8, 7, 6]);
        assert_eq!(data, original);
    }
}
