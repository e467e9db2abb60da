//! Checkpoints on NOR flash (`io::checkpoint`): power cut at every byte of a save, corrupted
//! headers and payloads, generations that wrap around, the mock flash's NOR semantics, flash
//! driver errors, the on-flash format, and the fuzzer's seed corpus.
//!
//! The power-cut sweep cuts each of several saves after every possible number of bytes written
//! or erased, with the byte being changed at the cut left untouched, fully changed or partly
//! changed, and requires every load afterwards to return exactly the checkpoint before the save
//! or exactly the new one. The flash it runs on also refuses a second write to any word and
//! any write or erase outside the checkpoint region.

// Tests may panic: the lints against panics guard the library.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::path::Path;

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use rand_core::RngCore;
use tinyprop::io::checkpoint::{
    Checkpoint, Crc32, RamFlash, RamFlashError, Stored, CHUNK, FORMAT_VERSION, HEADER_LEN, MAGIC,
};
use tinyprop::{Error, SplitMix64};

// --- Helpers ------------------------------------------------------------------------------------

fn bytes(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

/// Loads with a buffer of `cap` bytes; the payload and its generation.
fn load<F: NorFlash>(checkpoint: &mut Checkpoint<F>, cap: usize) -> Result<(Vec<u8>, u32), Error> {
    let mut buf = vec![0u8; cap];
    let Stored { generation, len } = checkpoint.load(&mut buf)?;
    buf.truncate(len);
    // The same through `newest` and reads in odd pieces.
    let mut payload = checkpoint.newest()?;
    assert_eq!(payload.stored(), Stored { generation, len });
    let mut again = vec![0u8; len];
    let mut at = 0;
    for piece in again.chunks_mut(37) {
        payload.read(at, piece)?;
        at += piece.len();
    }
    assert_eq!(again, buf, "newest().read differs from load");
    Ok((buf, generation))
}

/// A [`RamFlash`] that also fails the test if a word is written twice between erases, or if
/// anything is written or erased outside `[lo, hi)`. With `backwards`, it erases a range one
/// sector at a time from the last, so that a power cut leaves a slot's first sectors (its
/// header) as they were and its later ones erased.
#[derive(Clone)]
struct Strict<const N: usize, const W: usize, const E: usize> {
    flash: RamFlash<N, W, E>,
    programmed: Vec<bool>,
    lo: u32,
    hi: u32,
    backwards: bool,
}

impl<const N: usize, const W: usize, const E: usize> Strict<N, W, E> {
    fn new(lo: u32, hi: u32) -> Self {
        Self {
            flash: RamFlash::new(),
            programmed: vec![false; N / W],
            lo,
            hi,
            backwards: false,
        }
    }
}

impl<const N: usize, const W: usize, const E: usize> ErrorType for Strict<N, W, E> {
    type Error = RamFlashError;
}

impl<const N: usize, const W: usize, const E: usize> ReadNorFlash for Strict<N, W, E> {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.flash.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize, const W: usize, const E: usize> NorFlash for Strict<N, W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        assert!(
            self.lo <= from && to <= self.hi,
            "erase {from}..{to} outside the region"
        );
        if !self.flash.power_failed() && from <= to && (to as usize) <= N {
            for p in &mut self.programmed[from as usize / W..to as usize / W] {
                *p = false;
            }
        }
        if self.backwards && from < to && to as usize <= N {
            for sector in (from..to).step_by(E).rev() {
                self.flash.erase(sector, sector + E as u32)?;
            }
            Ok(())
        } else {
            self.flash.erase(from, to)
        }
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let end = offset + bytes.len() as u32;
        assert!(
            self.lo <= offset && end <= self.hi,
            "write {offset}..{end} outside the region"
        );
        if !self.flash.power_failed() && offset as usize % W == 0 && bytes.len() % W == 0 {
            for p in &mut self.programmed[offset as usize / W..end as usize / W] {
                assert!(
                    !*p,
                    "a word at {offset}..{end} written twice without an erase"
                );
                *p = true;
            }
        }
        self.flash.write(offset, bytes)
    }
}

/// A flash whose driver fails the `fail_at`-th operation (reads, writes and erases counted
/// together from 0) with `NorFlashErrorKind::Other`, and no other.
struct Failing<'a, F> {
    flash: &'a mut F,
    count: usize,
    fail_at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DriverError;

impl NorFlashError for DriverError {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::Other
    }
}

impl<F> Failing<'_, F> {
    fn tick(&mut self) -> Result<(), DriverError> {
        let n = self.count;
        self.count += 1;
        if n == self.fail_at {
            Err(DriverError)
        } else {
            Ok(())
        }
    }
}

impl<F: NorFlash> ErrorType for Failing<'_, F> {
    type Error = DriverError;
}

impl<F: NorFlash> ReadNorFlash for Failing<'_, F> {
    const READ_SIZE: usize = F::READ_SIZE;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.tick()?;
        self.flash.read(offset, bytes).map_err(|_| DriverError)
    }
    fn capacity(&self) -> usize {
        self.flash.capacity()
    }
}

impl<F: NorFlash> NorFlash for Failing<'_, F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.tick()?;
        self.flash.erase(from, to).map_err(|_| DriverError)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.tick()?;
        self.flash.write(offset, bytes).map_err(|_| DriverError)
    }
}

/// Writes a checkpoint straight into a slot's bytes, as the format describes it.
fn raw_checkpoint(slot: &mut [u8], header_area: usize, generation: u32, payload: &[u8]) {
    let mut header = Vec::new();
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&generation.to_le_bytes());
    header.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header);
    crc.update(payload);
    header.extend_from_slice(&crc.finalize().to_le_bytes());
    assert_eq!(header.len(), HEADER_LEN);
    slot.fill(0xFF);
    slot[..HEADER_LEN].copy_from_slice(&header);
    slot[header_area..header_area + payload.len()].copy_from_slice(payload);
}

// --- CRC-32 -------------------------------------------------------------------------------------

#[test]
fn crc32_matches_crc32fast() {
    assert_eq!(Crc32::checksum(b""), 0);
    assert_eq!(Crc32::checksum(b"123456789"), 0xCBF4_3926);
    let mut rng = SplitMix64::new(1);
    for len in (0..300).chain([1000, 4096, 65_537]) {
        let data = bytes(&mut rng, len);
        let mut ours = Crc32::new();
        for piece in data.chunks(7) {
            ours.update(piece);
        }
        assert_eq!(ours.finish(), crc32fast::hash(&data), "length {len}");
        assert_eq!(Crc32::checksum(&data), crc32fast::hash(&data));
    }
}

// --- Power cuts ---------------------------------------------------------------------------------

/// The sweep on one flash geometry: a region with one guard sector before it and one after,
/// `payloads` saved one after another; each save cut at every byte operation, three ways.
/// Returns the number of cut points.
fn power_cut_sweep<const N: usize, const W: usize, const E: usize>(
    payloads: &[Vec<u8>],
    backwards: bool,
) -> usize {
    let (lo, hi) = (E as u32, (N - E) as u32);
    let cap = N;
    let mut device = Strict::<N, W, E>::new(lo, hi);
    device.backwards = backwards;
    let mut cuts = 0;
    let mut old: Option<(Vec<u8>, u32)> = None;
    for (i, new) in payloads.iter().enumerate() {
        // The whole save, uncut: how many byte operations it takes.
        let before = device.clone();
        let mut whole = before.clone();
        let ops_before = whole.flash.byte_operations();
        let generation = Checkpoint::new(&mut whole, lo, hi - lo)
            .unwrap()
            .save(new)
            .unwrap();
        let ops = whole.flash.byte_operations() - ops_before;
        assert_eq!(generation, old.as_ref().map_or(0, |(_, g)| g + 1));
        assert!(ops > new.len(), "save {i}: {ops} byte operations");

        // Once a cut save leaves the new checkpoint, every later cut (of the same kind) does too.
        let mut new_from = [None; 3];
        for k in 0..=ops {
            for (variant, partial) in [0x00, 0xFF, 0x5A ^ (k as u8)].into_iter().enumerate() {
                let new_from = &mut new_from[variant];
                let mut cut = before.clone();
                cut.flash.cut_power_after(k, partial);
                let saved = Checkpoint::new(&mut cut, lo, hi - lo).unwrap().save(new);
                if k < ops {
                    assert_eq!(
                        saved,
                        Err(Error::Flash(NorFlashErrorKind::Other)),
                        "save {i} cut at {k}"
                    );
                    assert!(cut.flash.power_failed());
                } else {
                    assert_eq!(saved, Ok(generation));
                }
                cut.flash.restore_power();
                // Guard sectors untouched.
                assert!(cut.flash.as_bytes()[..E].iter().all(|&b| b == 0xFF));
                assert!(cut.flash.as_bytes()[N - E..].iter().all(|&b| b == 0xFF));

                let mut checkpoint = Checkpoint::new(&mut cut, lo, hi - lo).unwrap();
                let loaded = load(&mut checkpoint, cap);
                let is_new = match (&loaded, &old) {
                    (Ok((payload, g)), _) if payload == new && *g == generation => true,
                    (Ok(l), Some(o)) if l == o => false,
                    (Err(Error::NoCheckpoint), None) => false,
                    (other, _) => panic!(
                        "save {i} cut after {k} byte operations (partial {partial:#04x}): \
                         loaded {:?}, neither the old nor the new checkpoint",
                        other.as_ref().map(|(p, g)| (p.len(), *g))
                    ),
                };
                if is_new {
                    new_from.get_or_insert(k);
                } else {
                    assert!(
                        new_from.is_none(),
                        "save {i}: old again at {k} after new at {new_from:?}"
                    );
                }
                // A load changes nothing: loading again gives the same.
                assert_eq!(load(&mut checkpoint, cap), loaded);

                // After the reboot, the next save works, on whatever the cut left.
                if k % 7 == 0 {
                    let next = vec![k as u8; new.len() / 2 + 1];
                    let g = checkpoint.save(&next).unwrap();
                    assert_eq!(load(&mut checkpoint, cap).unwrap(), (next, g));
                }
                cuts += 1;
            }
        }
        // The header is the last thing written: the new checkpoint appears only at its end.
        for new_from in new_from {
            let new_from = new_from.expect("the uncut save leaves the new checkpoint");
            assert!(
                ops - new_from <= HEADER_LEN.next_multiple_of(W),
                "save {i}: new from {new_from} of {ops}"
            );
        }
        device = whole;
        old = Some((new.clone(), generation));
    }
    cuts
}

#[test]
fn power_cut_at_every_byte_of_several_saves() {
    let mut rng = SplitMix64::new(42);
    // Lengths around the buffer's size and the sectors', not multiples of the write size, and
    // an empty payload.
    let lengths = [300, 0, 1, CHUNK + 5, 77, CHUNK * 2, 123];
    let payloads: Vec<Vec<u8>> = lengths.iter().map(|&n| bytes(&mut rng, n)).collect();
    let mut cuts = 0;
    // Byte-writable flash with small sectors; words of 4 bytes; words of 8, large sectors.
    cuts += power_cut_sweep::<{ 64 * 22 }, 1, 64>(&payloads, false);
    cuts += power_cut_sweep::<{ 256 * 8 }, 4, 256>(&payloads, false);
    cuts += power_cut_sweep::<{ 1024 * 4 }, 8, 1024>(&payloads[..4], false);
    // Erases that reach the header's sector last: the CRC must catch the payload half erased.
    cuts += power_cut_sweep::<{ 64 * 22 }, 1, 64>(&payloads, true);
    println!("power cut at {cuts} points");
    assert!(cuts >= 1000, "{cuts} cut points");
}

/// Two cuts in a row, the second while saving onto what the first left.
#[test]
fn power_cut_twice() {
    let mut rng = SplitMix64::new(3);
    let (a, b, c) = (
        bytes(&mut rng, 200),
        bytes(&mut rng, 150),
        bytes(&mut rng, 250),
    );
    let mut base = Strict::<1024, 4, 128>::new(0, 1024);
    Checkpoint::new(&mut base, 0, 1024)
        .unwrap()
        .save(&a)
        .unwrap();
    for k1 in (0..440).step_by(13) {
        for k2 in (0..700).step_by(29) {
            let mut dev = base.clone();
            dev.flash.cut_power_after(k1, 0x33);
            let first = Checkpoint::new(&mut dev, 0, 1024).unwrap().save(&b);
            dev.flash.restore_power();
            let after_first = load(&mut Checkpoint::new(&mut dev, 0, 1024).unwrap(), 1024).unwrap();
            assert!(after_first == (a.clone(), 0) || after_first == (b.clone(), 1));
            if first.is_ok() {
                assert_eq!(after_first, (b.clone(), 1));
            }
            dev.flash.cut_power_after(k2, 0xC3);
            let second = Checkpoint::new(&mut dev, 0, 1024).unwrap().save(&c);
            dev.flash.restore_power();
            let loaded = load(&mut Checkpoint::new(&mut dev, 0, 1024).unwrap(), 1024).unwrap();
            let c_gen = after_first.1 + 1;
            assert!(
                loaded == after_first || (loaded == (c.clone(), c_gen)),
                "cuts at {k1} and {k2}: {:?}",
                (loaded.0.len(), loaded.1)
            );
            if second.is_ok() {
                assert_eq!(loaded, (c.clone(), c_gen));
            }
        }
    }
}

// --- Corruption ---------------------------------------------------------------------------------

#[test]
fn corrupted_header_or_payload_falls_back_to_the_older_checkpoint() {
    const N: usize = 2048;
    let mut rng = SplitMix64::new(5);
    let (old, new) = (bytes(&mut rng, 300), bytes(&mut rng, 500));
    let mut flash = RamFlash::<N, 4, 512>::new();
    let mut checkpoint = Checkpoint::new(&mut flash, 0, N as u32).unwrap();
    checkpoint.save(&old).unwrap();
    checkpoint.save(&new).unwrap();
    assert_eq!(load(&mut checkpoint, N).unwrap(), (new.clone(), 1));
    let good = flash.clone();
    // The new checkpoint is in the second slot (1024..2048); its header takes 20 bytes, rounded
    // up to 20; the payload follows.
    let new_slot = 1024;
    let mut flips = 0;
    for byte in (0..HEADER_LEN)
        .chain((HEADER_LEN..HEADER_LEN + 500).step_by(17))
        .chain([HEADER_LEN + 499])
    {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad.as_bytes_mut()[new_slot + byte] ^= 1 << bit;
            let mut checkpoint = Checkpoint::new(&mut bad, 0, N as u32).unwrap();
            assert_eq!(
                load(&mut checkpoint, N).unwrap(),
                (old.clone(), 0),
                "byte {byte} bit {bit}"
            );
            // Both corrupted: none left.
            bad.as_bytes_mut()[HEADER_LEN + 1] ^= 0x10;
            let mut checkpoint = Checkpoint::new(&mut bad, 0, N as u32).unwrap();
            assert_eq!(checkpoint.load(&mut [0u8; N]), Err(Error::NoCheckpoint));
            assert_eq!(checkpoint.newest().err(), Some(Error::NoCheckpoint));
            flips += 1;
        }
    }
    assert!(flips > 300);

    // A header of another format version, or a length past the slot, with a correct CRC.
    for (version, len) in [(2u32, 500u32), (0, 500), (1, 1024 - 20 + 1), (1, u32::MAX)] {
        let mut bad = good.clone();
        let slot = &mut bad.as_bytes_mut()[new_slot..];
        slot[4..8].copy_from_slice(&version.to_le_bytes());
        slot[12..16].copy_from_slice(&len.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&slot[..16]);
        crc.update(&slot[20..(20 + len as usize).min(1024)]);
        slot[16..20].copy_from_slice(&crc.finalize().to_le_bytes());
        let mut checkpoint = Checkpoint::new(&mut bad, 0, N as u32).unwrap();
        assert_eq!(load(&mut checkpoint, N).unwrap(), (old.clone(), 0));
    }

    // An erased flash, and one of zeros: no checkpoint.
    for fill in [0xFF, 0x00] {
        let mut blank = RamFlash::<N, 4, 512>::new();
        blank.as_bytes_mut().fill(fill);
        let mut checkpoint = Checkpoint::new(&mut blank, 0, N as u32).unwrap();
        assert_eq!(checkpoint.load(&mut [0u8; 8]), Err(Error::NoCheckpoint));
    }
}

#[test]
fn a_newer_generation_with_a_bad_crc_does_not_hide_the_valid_one() {
    // The save after it also overwrites the bad slot, not the good one.
    let mut flash = RamFlash::<1024, 1, 256>::new();
    let (a, b) = flash.as_bytes_mut().split_at_mut(512);
    raw_checkpoint(a, HEADER_LEN, 7, b"valid");
    raw_checkpoint(b, HEADER_LEN, 8, b"torn!");
    b[HEADER_LEN] ^= 1;
    let mut checkpoint = Checkpoint::new(&mut flash, 0, 1024).unwrap();
    assert_eq!(load(&mut checkpoint, 64).unwrap(), (b"valid".to_vec(), 7));
    assert_eq!(checkpoint.save(b"next").unwrap(), 8);
    assert_eq!(load(&mut checkpoint, 64).unwrap(), (b"next".to_vec(), 8));
    assert_eq!(&flash.as_bytes()[HEADER_LEN..HEADER_LEN + 5], b"valid");
}

// --- Generations --------------------------------------------------------------------------------

#[test]
fn generations_wrap_around() {
    let mut flash = RamFlash::<2048, 4, 256>::new();
    let header_area = HEADER_LEN; // 20 is a multiple of 4
    raw_checkpoint(
        &mut flash.as_bytes_mut()[..1024],
        header_area,
        u32::MAX - 4,
        b"start",
    );
    let mut checkpoint = Checkpoint::new(&mut flash, 0, 2048).unwrap();
    assert_eq!(
        load(&mut checkpoint, 64).unwrap(),
        (b"start".to_vec(), u32::MAX - 4)
    );
    let mut expected = u32::MAX - 4;
    for i in 0u32..12 {
        expected = expected.wrapping_add(1);
        let payload = format!("save {i}").into_bytes();
        assert_eq!(checkpoint.save(&payload).unwrap(), expected);
        assert_eq!(load(&mut checkpoint, 64).unwrap(), (payload, expected));
    }
    assert_eq!(expected, 7);

    // Which of two valid slots is newer, for pairs around the wrap and far apart.
    let pairs: [(u32, u32, u32); 6] = [
        (u32::MAX, 0, 0),
        (0, u32::MAX, 0),
        (5, 6, 6),
        (1 << 31, (1 << 31) - 1, 1 << 31),
        (3, 3 + (1 << 31) - 1, 3 + (1 << 31) - 1),
        (u32::MAX - 1, 2, 2),
    ];
    for (a, b, newest) in pairs {
        let mut flash = RamFlash::<1024, 1, 256>::new();
        let (sa, sb) = flash.as_bytes_mut().split_at_mut(512);
        raw_checkpoint(sa, HEADER_LEN, a, b"slot 0");
        raw_checkpoint(sb, HEADER_LEN, b, b"slot 1");
        let mut checkpoint = Checkpoint::new(&mut flash, 0, 1024).unwrap();
        assert_eq!(load(&mut checkpoint, 64).unwrap().1, newest, "{a} vs {b}");
    }
    // Equal generations (never written by a save) or exactly 2^31 apart: the first slot.
    for (a, b) in [(9, 9), (0, 1 << 31), (1 << 31, 0)] {
        let mut flash = RamFlash::<1024, 1, 256>::new();
        let (sa, sb) = flash.as_bytes_mut().split_at_mut(512);
        raw_checkpoint(sa, HEADER_LEN, a, b"slot 0");
        raw_checkpoint(sb, HEADER_LEN, b, b"slot 1");
        let mut checkpoint = Checkpoint::new(&mut flash, 0, 1024).unwrap();
        assert_eq!(load(&mut checkpoint, 64).unwrap(), (b"slot 0".to_vec(), a));
    }
}

// --- The mock flash -----------------------------------------------------------------------------

#[test]
fn ram_flash_has_nor_semantics() {
    let mut flash = RamFlash::<1024, 4, 256>::new();
    assert!(flash.as_bytes().iter().all(|&b| b == 0xFF));
    assert_eq!(flash.capacity(), 1024);

    // Writes clear bits and need an erase before the next write of the same word.
    flash.write(8, &[0xF0, 0x0F, 0xAA, 0xFF]).unwrap();
    assert_eq!(flash.as_bytes()[8..12], [0xF0, 0x0F, 0xAA, 0xFF]);
    assert_eq!(
        flash.write(8, &[0xF0, 0x0F, 0xAA, 0xFF]),
        Err(RamFlashError::NotErased)
    );
    assert_eq!(flash.write(4, &[0; 8]), Err(RamFlashError::NotErased));
    assert_eq!(
        flash.as_bytes()[4..8],
        [0xFF; 4],
        "a refused write changes nothing"
    );
    // A word of 0xFF may be written (it changes nothing).
    flash.write(12, &[0xFF; 4]).unwrap();

    // Granularity and bounds.
    assert_eq!(flash.write(2, &[0; 4]), Err(RamFlashError::NotAligned));
    assert_eq!(flash.write(0, &[0; 3]), Err(RamFlashError::NotAligned));
    assert_eq!(flash.write(1024, &[0; 4]), Err(RamFlashError::OutOfBounds));
    assert_eq!(flash.write(1020, &[0; 8]), Err(RamFlashError::OutOfBounds));
    assert_eq!(flash.erase(0, 128), Err(RamFlashError::NotAligned));
    assert_eq!(flash.erase(128, 256), Err(RamFlashError::NotAligned));
    assert_eq!(flash.erase(256, 0), Err(RamFlashError::OutOfBounds));
    assert_eq!(flash.erase(0, 1280), Err(RamFlashError::OutOfBounds));
    assert_eq!(
        flash.read(1020, &mut [0; 8]),
        Err(RamFlashError::OutOfBounds)
    );
    assert_eq!(flash.as_bytes()[8..12], [0xF0, 0x0F, 0xAA, 0xFF]);

    // Erase sets a whole sector to 0xFF, and only that sector.
    flash.write(256, &[0; 4]).unwrap();
    flash.erase(0, 256).unwrap();
    assert!(flash.as_bytes()[..256].iter().all(|&b| b == 0xFF));
    assert_eq!(flash.as_bytes()[256..260], [0; 4]);
    flash.write(8, &[1, 2, 3, 4]).unwrap();
    let mut read = [0u8; 4];
    flash.read(8, &mut read).unwrap();
    assert_eq!(read, [1, 2, 3, 4]);

    // Reads are byte-granular; every byte changed counts once.
    assert_eq!(RamFlash::<1024, 4, 256>::READ_SIZE, 1);
    let ops = flash.byte_operations();
    flash.erase(256, 512).unwrap();
    assert_eq!(flash.byte_operations(), ops + 256);
}

#[test]
fn ram_flash_loses_power_in_the_middle_of_an_operation() {
    let mut flash = RamFlash::<512, 4, 256>::new();
    // A write cut after 5 bytes, the 6th partly programmed: of its cleared bits, those in
    // `partial` (0x0F) are cleared.
    flash.cut_power_after(5, 0x0F);
    assert_eq!(flash.write(0, &[0; 8]), Err(RamFlashError::PowerFailed));
    assert!(flash.power_failed());
    assert_eq!(flash.as_bytes()[..8], [0, 0, 0, 0, 0, 0xF0, 0xFF, 0xFF]);
    // Everything fails until the power comes back, reads too.
    assert_eq!(flash.read(0, &mut [0; 1]), Err(RamFlashError::PowerFailed));
    assert_eq!(flash.erase(0, 256), Err(RamFlashError::PowerFailed));
    assert_eq!(flash.write(256, &[0; 4]), Err(RamFlashError::PowerFailed));
    flash.restore_power();
    assert!(!flash.power_failed());

    // An erase cut after 3 bytes: those are 0xFF, the 4th has the bits of `partial` set.
    flash.as_bytes_mut()[..8].fill(0);
    flash.cut_power_after(3, 0x81);
    assert_eq!(flash.erase(0, 256), Err(RamFlashError::PowerFailed));
    assert_eq!(flash.as_bytes()[..6], [0xFF, 0xFF, 0xFF, 0x81, 0, 0]);
    flash.restore_power();

    // A cut at 0 with partial 0 changes nothing; the budget spans operations.
    let before = flash.clone();
    flash.cut_power_after(0, 0);
    assert_eq!(flash.erase(256, 512), Err(RamFlashError::PowerFailed));
    flash.restore_power();
    assert_eq!(flash, before);
    flash.cut_power_after(6, 0);
    flash.write(256, &[1; 4]).unwrap();
    assert_eq!(flash.write(260, &[2; 4]), Err(RamFlashError::PowerFailed));
    assert_eq!(flash.as_bytes()[256..264], [1, 1, 1, 1, 2, 2, 0xFF, 0xFF]);
}

// --- Driver errors ------------------------------------------------------------------------------

#[test]
fn every_flash_driver_error_is_returned_and_changes_no_loaded_checkpoint() {
    let mut rng = SplitMix64::new(9);
    let (old, new) = (bytes(&mut rng, 600), bytes(&mut rng, 700));
    let mut base = RamFlash::<4096, 4, 512>::new();
    Checkpoint::new(&mut base, 0, 4096)
        .unwrap()
        .save(&old)
        .unwrap();

    // Count a save's operations, then fail each one in turn.
    let mut probe = base.clone();
    let mut counting = Failing {
        flash: &mut probe,
        count: 0,
        fail_at: usize::MAX,
    };
    Checkpoint::new(&mut counting, 0, 4096)
        .unwrap()
        .save(&new)
        .unwrap();
    let ops = counting.count;
    assert!(ops > 10);
    for fail_at in 0..ops {
        let mut flash = base.clone();
        let mut failing = Failing {
            flash: &mut flash,
            count: 0,
            fail_at,
        };
        let saved = Checkpoint::new(&mut failing, 0, 4096).unwrap().save(&new);
        assert_eq!(
            saved,
            Err(Error::Flash(NorFlashErrorKind::Other)),
            "failure at {fail_at}"
        );
        let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
        assert_eq!(
            load(&mut checkpoint, 4096).unwrap(),
            (old.clone(), 0),
            "failure at {fail_at}"
        );
    }

    // A load whose reads fail returns the driver's error; one that fails while it checks the
    // checkpoint (before it reads the payload into the buffer again) leaves the buffer as it was.
    let mut saved = base.clone();
    Checkpoint::new(&mut saved, 0, 4096)
        .unwrap()
        .save(&new)
        .unwrap();
    let mut probe = saved.clone();
    let mut counting = Failing {
        flash: &mut probe,
        count: 0,
        fail_at: usize::MAX,
    };
    assert!(Checkpoint::new(&mut counting, 0, 4096)
        .unwrap()
        .newest()
        .is_ok());
    let checks = counting.count;
    for fail_at in 0..40 {
        let mut failing = Failing {
            flash: &mut saved,
            count: 0,
            fail_at,
        };
        let mut checkpoint = Checkpoint::new(&mut failing, 0, 4096).unwrap();
        let mut buf = vec![0xA5u8; 4096];
        match checkpoint.load(&mut buf) {
            Err(e) => {
                assert_eq!(e, Error::Flash(NorFlashErrorKind::Other));
                if fail_at < checks {
                    assert!(buf.iter().all(|&b| b == 0xA5));
                }
            }
            Ok(stored) => {
                assert_eq!(
                    stored,
                    Stored {
                        generation: 1,
                        len: new.len()
                    }
                );
                assert_eq!(buf[..new.len()], new[..]);
            }
        }
    }
    let e = Error::Flash(NorFlashErrorKind::OutOfBounds);
    assert_eq!(e.to_string(), "flash error: Arguments are out of bounds");
}

/// A flash that writes what it is given with some bits stuck at 0: the save's read-back sees it.
struct StuckBit(RamFlash<1024, 1, 256>);

impl ErrorType for StuckBit {
    type Error = RamFlashError;
}
impl ReadNorFlash for StuckBit {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        1024
    }
}
impl NorFlash for StuckBit {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 256;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let stuck: Vec<u8> = bytes.iter().map(|b| b & 0xFE).collect();
        self.0.write(offset, &stuck)
    }
}

#[test]
fn a_flash_that_does_not_hold_what_was_written_fails_the_save() {
    let mut flash = StuckBit(RamFlash::new());
    let mut checkpoint = Checkpoint::new(&mut flash, 0, 1024).unwrap();
    assert_eq!(checkpoint.save(b"\x01\x03\x05"), Err(Error::FlashVerify));
    assert_eq!(checkpoint.newest().err(), Some(Error::NoCheckpoint));
}

// --- The API's errors ---------------------------------------------------------------------------

#[test]
fn regions_must_be_whole_sectors_inside_the_flash() {
    let mut flash = RamFlash::<8192, 4, 1024>::new();
    assert!(Checkpoint::new(&mut flash, 0, 8192).is_ok());
    assert!(Checkpoint::new(&mut flash, 2048, 2048).is_ok());
    assert_eq!(
        Checkpoint::new(&mut flash, 2048, 2048).unwrap().capacity(),
        1024 - 20
    );
    for (offset, len) in [
        (0, 0),
        (0, 1024),    // one sector: no room for two slots
        (0, 3072),    // slots of 1.5 sectors
        (0, 2049),    // a byte that belongs to neither slot
        (512, 2048),  // not on a sector boundary
        (6144, 4096), // past the end
        (u32::MAX - 1023, 2048),
        (0, u32::MAX),
    ] {
        assert_eq!(
            Checkpoint::new(&mut flash, offset, len).err(),
            Some(Error::CheckpointRegion),
            "{offset} + {len}"
        );
    }
    // Sectors smaller than a header: a slot of one sector cannot hold one.
    let mut tiny = RamFlash::<64, 1, 16>::new();
    assert_eq!(
        Checkpoint::new(&mut tiny, 0, 32).err(),
        Some(Error::CheckpointRegion)
    );
    assert_eq!(Checkpoint::new(&mut tiny, 0, 64).unwrap().capacity(), 12);
    // A write size that does not divide the chunk.
    let mut wide = RamFlash::<4096, 512, 1024>::new();
    assert_eq!(
        Checkpoint::new(&mut wide, 0, 4096).err(),
        Some(Error::CheckpointRegion)
    );
    let mut odd = RamFlash::<96, 3, 24>::new();
    assert_eq!(
        Checkpoint::new(&mut odd, 0, 96).err(),
        Some(Error::CheckpointRegion)
    );
    // The largest write size it takes: the header takes a whole word.
    let mut big = RamFlash::<4096, 256, 1024>::new();
    let mut checkpoint = Checkpoint::new(&mut big, 0, 4096).unwrap();
    assert_eq!(checkpoint.capacity(), 2048 - 256);
    let payload = vec![7u8; 2048 - 256];
    checkpoint.save(&payload).unwrap();
    checkpoint.save(&payload[..300]).unwrap();
    assert_eq!(
        load(&mut checkpoint, 4096).unwrap(),
        (payload[..300].to_vec(), 1)
    );
}

#[test]
fn saves_refuse_payloads_that_do_not_fit_or_do_not_match_their_length() {
    let mut flash = RamFlash::<2048, 4, 512>::new();
    let mut checkpoint = Checkpoint::new(&mut flash, 0, 2048).unwrap();
    let cap = checkpoint.capacity();
    assert_eq!(cap, 1024 - 20);
    assert_eq!(
        checkpoint.save(&vec![1; cap + 1]),
        Err(Error::CheckpointTooLarge {
            len: cap + 1,
            capacity: cap
        })
    );
    assert_eq!(checkpoint.newest().err(), Some(Error::NoCheckpoint));
    checkpoint.save(&vec![1; cap]).unwrap();
    checkpoint.save(b"kept").unwrap();

    // Too few, too many (refused at the write that goes past), the writer's own error, an
    // error the writer ignored: each fails the save and keeps the checkpoint.
    let too_few = checkpoint.save_with(10, |w| w.write(b"12345"));
    assert_eq!(
        too_few,
        Err(Error::CheckpointLength {
            declared: 10,
            written: 5
        })
    );
    let too_many = checkpoint.save_with(6, |w| {
        w.write(b"12345")?;
        assert_eq!(w.remaining(), 1);
        w.write(b"67")
    });
    assert_eq!(
        too_many,
        Err(Error::CheckpointLength {
            declared: 6,
            written: 7
        })
    );
    let ignored = checkpoint.save_with(6, |w| {
        let _ = w.write(b"1234567");
        w.write(b"123456") // refused: the writer keeps its first error
    });
    assert_eq!(
        ignored,
        Err(Error::CheckpointLength {
            declared: 6,
            written: 7
        })
    );
    let swallowed = checkpoint.save_with(6, |w| {
        let _ = w.write(b"1234567");
        Ok(())
    });
    assert_eq!(
        swallowed,
        Err(Error::CheckpointLength {
            declared: 6,
            written: 7
        })
    );
    let own = checkpoint.save_with(600, |w| {
        w.write(&[3; 500])?;
        Err(Error::NonFiniteModel)
    });
    assert_eq!(own, Err(Error::NonFiniteModel));
    assert_eq!(load(&mut checkpoint, 2048).unwrap(), (b"kept".to_vec(), 1));

    // In many pieces of every size.
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let g = checkpoint
        .save_with(payload.len(), |w| {
            let mut rest = &payload[..];
            let mut n = 0;
            while !rest.is_empty() {
                let (head, tail) = rest.split_at(n.min(rest.len()));
                w.write(head)?;
                rest = tail;
                n += 1;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(load(&mut checkpoint, 2048).unwrap(), (payload, g));
}

#[test]
fn loads_refuse_small_buffers_and_reads_past_the_payload() {
    let mut flash = RamFlash::<1024, 1, 128>::new();
    let mut checkpoint = Checkpoint::new(&mut flash, 0, 1024).unwrap();
    checkpoint.save(b"0123456789").unwrap();
    let mut small = [0xA5u8; 9];
    assert_eq!(
        checkpoint.load(&mut small),
        Err(Error::CheckpointTooLarge {
            len: 10,
            capacity: 9
        })
    );
    assert_eq!(small, [0xA5; 9]);
    let mut exact = [0u8; 10];
    assert_eq!(
        checkpoint.load(&mut exact).unwrap(),
        Stored {
            generation: 0,
            len: 10
        }
    );
    assert_eq!(&exact, b"0123456789");

    let mut payload = checkpoint.newest().unwrap();
    let mut two = [0u8; 2];
    payload.read(8, &mut two).unwrap();
    assert_eq!(&two, b"89");
    assert_eq!(
        payload.read(9, &mut two),
        Err(Error::IndexOutOfRange { index: 10, len: 10 })
    );
    assert_eq!(
        payload.read(12, &mut two),
        Err(Error::IndexOutOfRange { index: 12, len: 10 })
    );
    assert_eq!(
        payload.read(usize::MAX, &mut two),
        Err(Error::IndexOutOfRange {
            index: usize::MAX,
            len: 10
        })
    );
    payload.read(10, &mut []).unwrap();

    checkpoint.clear().unwrap();
    assert_eq!(checkpoint.load(&mut exact), Err(Error::NoCheckpoint));
}

/// A flash whose reads must be aligned to 4 bytes (as some memory-mapped flashes need).
struct WordReads(RamFlash<2048, 4, 256>);

impl ErrorType for WordReads {
    type Error = RamFlashError;
}
impl ReadNorFlash for WordReads {
    const READ_SIZE: usize = 4;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        assert!(
            offset % 4 == 0 && bytes.len() % 4 == 0,
            "unaligned read {offset} + {}",
            bytes.len()
        );
        self.0.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        2048
    }
}
impl NorFlash for WordReads {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 256;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.write(offset, bytes)
    }
}

#[test]
fn reads_are_aligned_to_the_read_size() {
    let mut flash = WordReads(RamFlash::new());
    let mut checkpoint = Checkpoint::new(&mut flash, 0, 2048).unwrap();
    let payload: Vec<u8> = (0..777u32).map(|i| (i % 251) as u8).collect();
    checkpoint.save(&payload).unwrap();
    assert_eq!(load(&mut checkpoint, 1024).unwrap(), (payload.clone(), 0));
    let mut p = checkpoint.newest().unwrap();
    for (pos, len) in [(1, 3), (3, 9), (255, 258), (770, 7), (0, 777)] {
        let mut out = vec![0u8; len];
        p.read(pos, &mut out).unwrap();
        assert_eq!(out, payload[pos..pos + len]);
    }
}

// --- The format ---------------------------------------------------------------------------------

#[test]
fn the_format_is_as_documented() {
    let mut flash = RamFlash::<4096, 8, 1024>::new();
    let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    checkpoint.save(b"first").unwrap();
    checkpoint.save(b"second payload").unwrap();
    let bytes = flash.as_bytes();
    for (slot, generation, payload) in [(0usize, 0u32, &b"first"[..]), (2048, 1, b"second payload")]
    {
        let mut expected = vec![0xFFu8; 2048];
        // 20 bytes of header rounded up to the write size 8: 24.
        raw_checkpoint(&mut expected, 24, generation, payload);
        // The payload is written in whole words; the sectors past it are left erased.
        assert_eq!(bytes[slot..slot + 2048], expected[..], "slot at {slot}");
        assert_eq!(bytes[slot + 20..slot + 24], [0xFF; 4]);
    }
    assert_eq!(&bytes[..4], b"TPCK");
    assert_eq!(bytes[4..8], 1u32.to_le_bytes());
}

// --- The fuzzer's seeds -------------------------------------------------------------------------

/// The flash geometries the fuzz target reads images for, by the first byte of its input.
fn seed_images() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut rng = SplitMix64::new(2024);
    // Geometry 0: 1 KiB, byte writes, 128-byte sectors.
    let mut flash = RamFlash::<1024, 1, 128>::new();
    let mut c = Checkpoint::new(&mut flash, 0, 1024).unwrap();
    c.save(&bytes(&mut rng, 100)).unwrap();
    seeds.push((
        "one-checkpoint".to_string(),
        [&[0u8, 0, 0, 0][..], flash.as_bytes()].concat(),
    ));
    let mut c = Checkpoint::new(&mut flash, 0, 1024).unwrap();
    c.save(&bytes(&mut rng, 300)).unwrap();
    seeds.push((
        "two-checkpoints".to_string(),
        [&[0u8, 40, 0, 0x5A][..], flash.as_bytes()].concat(),
    ));
    seeds.push(("blank".to_string(), vec![0u8, 0, 0, 0]));
    // Geometry 1: 2 KiB, 4-byte words, 256-byte sectors, a save cut in its header.
    let mut flash = RamFlash::<2048, 4, 256>::new();
    let mut c = Checkpoint::new(&mut flash, 0, 2048).unwrap();
    c.save(&bytes(&mut rng, 700)).unwrap();
    let mut cut = flash.clone();
    cut.cut_power_after(512 + 300 + 10, 0x0F);
    let _ = Checkpoint::new(&mut cut, 0, 2048)
        .unwrap()
        .save(&bytes(&mut rng, 290));
    seeds.push((
        "torn-header".to_string(),
        [&[1u8, 200, 1, 0][..], cut.as_bytes()].concat(),
    ));
    // Geometry 2: 4 KiB, 8-byte words, 1 KiB sectors, generations across the wrap.
    let mut flash = RamFlash::<4096, 8, 1024>::new();
    raw_checkpoint(
        &mut flash.as_bytes_mut()[..2048],
        24,
        u32::MAX,
        &bytes(&mut rng, 1500),
    );
    let mut c = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    c.save(&bytes(&mut rng, 2000)).unwrap();
    seeds.push((
        "wrapped".to_string(),
        [&[2u8, 0, 4, 0xFF][..], flash.as_bytes()].concat(),
    ));
    seeds
}

/// The committed seeds are what the current format gives (so a change of the format shows up
/// here); `TINYPROP_WRITE_SEEDS=1` writes them again. Each also loads as expected.
#[test]
fn fuzz_seeds_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/checkpoint");
    let write = std::env::var_os("TINYPROP_WRITE_SEEDS").is_some();
    let mut names = BTreeSet::new();
    for (name, image) in seed_images() {
        let path = dir.join(format!("seed-{name}"));
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &image).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (TINYPROP_WRITE_SEEDS=1 writes it)", path.display())
        });
        assert!(
            committed == image,
            "{} is out of date (TINYPROP_WRITE_SEEDS=1 writes it)",
            path.display()
        );
        names.insert(name);
    }
    assert_eq!(names.len(), 5);
}

// --- Resuming training ----------------------------------------------------------------------

mod resume {
    use nalgebra::SMatrix;
    use rand_core::RngCore;
    use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    use tinyprop::io::safetensors::{self, Dtype};
    use tinyprop::io::{StateDict, TrainingState};
    use tinyprop::optim::{AdamW, AdamWConfig, Optimizer, SgdConfig};
    use tinyprop::prelude::*;

    type Net = (Dense<f32, 4, 8>, BatchNorm<f32, 8>, Relu, Dense<f32, 8, 3>);
    type Batch = SMatrix<f32, 4, 5>;

    /// The batch of step `i`: the same in every program.
    fn batch(i: u64) -> (Batch, [usize; 5]) {
        let mut rng = SplitMix64::new(1000 + i);
        let x = Batch::from_fn(|_, _| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0);
        let labels = core::array::from_fn(|_| (rng.next_u64() % 3) as usize);
        (x, labels)
    }

    fn train<O: Optimizer<f32, Net>>(net: &mut Net, opt: &mut O, steps: std::ops::Range<u64>) {
        let mut ws = Workspace::<f32, Batch, Net>::new();
        for i in steps {
            let (x, labels) = batch(i);
            train_step(net, opt, &CrossEntropy, &x, &labels, &mut ws).unwrap();
        }
    }

    /// Every tensor of a state dict, bit for bit, with its name.
    fn bits<S: StateDict<f32>>(state: &S) -> Vec<(String, Vec<u64>)> {
        let mut out = Vec::new();
        state
            .for_each_tensor(|info, values| {
                let v = match values {
                    tinyprop::io::Values::Float(v) => {
                        v.iter().map(|x| u64::from(x.to_bits())).collect()
                    }
                    tinyprop::io::Values::Count(c) => vec![u64::from(c)],
                };
                out.push((info.name.to_string(), v));
                Ok(())
            })
            .unwrap();
        out
    }

    /// Trains 10 steps, checkpoints the model and the optimizer into flash, trains 10 more;
    /// then a fresh model and optimizer load the checkpoint and train the same 10 steps:
    /// both end bit-identical, the optimizer's state (step counters included) too.
    fn resume<O>(make: impl Fn() -> O)
    where
        O: Optimizer<f32, Net> + StateDict<f32>,
    {
        let mut net = Net::default();
        net.init(Init::PyTorchDefault, &mut SplitMix64::new(5));
        let mut opt = make();
        train(&mut net, &mut opt, 0..10);

        let mut flash = RamFlash::<8192, 4, 1024>::new();
        {
            let state = TrainingState {
                model: &mut net,
                optimizer: &mut opt,
            };
            let len = safetensors::saved_len(&state, Dtype::F32).unwrap();
            let mut file = vec![0u8; len];
            safetensors::save(&state, Dtype::F32, &mut file).unwrap();
            let mut checkpoint = Checkpoint::new(&mut flash, 0, 8192).unwrap();
            assert!(checkpoint.capacity() >= len);
            checkpoint.save(&file).unwrap();
        }
        train(&mut net, &mut opt, 10..20);

        // A "fresh program": the flash is all that is left.
        let mut net2 = Net::default();
        let mut opt2 = make();
        {
            let mut checkpoint = Checkpoint::new(&mut flash, 0, 8192).unwrap();
            let mut buf = vec![0u8; checkpoint.capacity()];
            let stored = checkpoint.load(&mut buf).unwrap();
            let mut state = TrainingState {
                model: &mut net2,
                optimizer: &mut opt2,
            };
            safetensors::load(&mut state, &buf[..stored.len]).unwrap();
        }
        train(&mut net2, &mut opt2, 10..20);

        assert_eq!(bits(&net2), bits(&net));
        assert_eq!(bits(&opt2), bits(&opt));
        assert_eq!(net2, net);
        // And it did train: the last 10 steps moved the weights.
        let mut fresh = Net::default();
        fresh.init(Init::PyTorchDefault, &mut SplitMix64::new(5));
        assert_ne!(bits(&fresh), bits(&net));
    }

    #[test]
    fn training_resumed_from_a_checkpoint_is_bit_identical() {
        resume(|| {
            AdamW::<f32, <Net as Model<f32>>::Grads, <Net as Model<f32>>::Grads>::with_amsgrad(
                AdamWConfig {
                    lr: 0.01,
                    ..AdamWConfig::default()
                },
            )
            .unwrap()
        });
        resume(|| {
            Sgd::<f32, <Net as Model<f32>>::Grads, _>::with_momentum(SgdConfig {
                lr: 0.05,
                momentum: 0.9,
                nesterov: true,
                weight_decay: 1e-3,
                ..SgdConfig::default()
            })
            .unwrap()
        });
    }

    /// A checkpoint of another model or optimizer changes neither.
    #[test]
    fn a_checkpoint_that_does_not_match_changes_nothing() {
        let mut net = Net::default();
        net.init(Init::PyTorchDefault, &mut SplitMix64::new(5));
        let mut adam =
            AdamW::<f32, <Net as Model<f32>>::Grads>::new(AdamWConfig::default()).unwrap();
        train(&mut net, &mut adam, 0..3);
        let state = TrainingState {
            model: &mut net,
            optimizer: &mut adam,
        };
        let mut file = vec![0u8; safetensors::saved_len(&state, Dtype::F32).unwrap()];
        safetensors::save(&state, Dtype::F32, &mut file).unwrap();

        // Another optimizer (SGD with momentum has no exp_avg): refused, nothing changed.
        let mut net2 = Net::default();
        let mut sgd = Sgd::<f32, <Net as Model<f32>>::Grads, _>::with_momentum(SgdConfig {
            lr: 0.1,
            momentum: 0.5,
            ..SgdConfig::default()
        })
        .unwrap();
        train(&mut net2, &mut sgd, 0..2);
        let (before_net, before_opt) = (bits(&net2), bits(&sgd));
        let mut state2 = TrainingState {
            model: &mut net2,
            optimizer: &mut sgd,
        };
        assert!(safetensors::load(&mut state2, &file).is_err());
        assert_eq!((bits(&net2), bits(&sgd)), (before_net, before_opt));
    }
}
