//! The checkpoint loader on arbitrary flash contents, then a save cut by a power loss on top.
//!
//! Input: byte 0 picks the flash geometry (below), bytes 1 and 2 the byte operation after which
//! the power fails during the save (little-endian), byte 3 the bits the interrupted byte still
//! changes, and the rest is the flash image (cut to the flash's size, padded with `0xFF`).
//!
//! Checks, besides never panicking or hanging: the load finds exactly the checkpoint that an
//! independent reading of the format (below) finds, or `NoCheckpoint`, never another error;
//! `newest` agrees with it; after the cut save, a load returns exactly the old or exactly the
//! new checkpoint; an uncut save after that loads back exactly.
//!
//! Run from the repository's root (nightly), new inputs going to a scratch directory:
//!
//!     cargo +nightly fuzz run checkpoint "$(mktemp -d)" fuzz/corpus/checkpoint -- -runs=1000000
//!
//! `tests/checkpoint.rs` writes the seeds in `fuzz/corpus/checkpoint` and checks they are current.
#![no_main]

use embedded_storage::nor_flash::NorFlashErrorKind;
use libfuzzer_sys::fuzz_target;
use tinyprop::io::checkpoint::{Checkpoint, Crc32, RamFlash, Stored, FORMAT_VERSION, MAGIC};
use tinyprop::Error;

fuzz_target!(|data: &[u8]| {
    let (head, image) = data.split_at(data.len().min(4));
    let mut head = head.to_vec();
    head.resize(4, 0);
    let cut = usize::from(u16::from_le_bytes([head[1], head[2]]));
    let partial = head[3];
    match head[0] % 3 {
        0 => run::<1024, 1, 128>(image, cut, partial),
        1 => run::<2048, 4, 256>(image, cut, partial),
        _ => run::<4096, 8, 1024>(image, cut, partial),
    }
});

/// The valid checkpoint in a slot, read straight from the bytes as the format describes it.
fn reference(slot: &[u8], header_area: usize) -> Option<(u32, &[u8])> {
    let word = |i: usize| u32::from_le_bytes(slot[i..i + 4].try_into().unwrap());
    if slot[..4] != MAGIC || word(4) != FORMAT_VERSION {
        return None;
    }
    let len = word(12) as usize;
    let payload = slot.get(header_area..)?.get(..len)?;
    let mut crc = Crc32::new();
    crc.update(&slot[..16]);
    crc.update(payload);
    (crc.finish() == word(16)).then_some((word(8), payload))
}

/// The newest valid checkpoint by the reference reading: the later generation on a wrapping
/// counter, the first slot if neither is later.
fn expected(image: &[u8], header_area: usize) -> Option<(Vec<u8>, u32)> {
    let (a, b) = image.split_at(image.len() / 2);
    match (reference(a, header_area), reference(b, header_area)) {
        (Some(a), Some(b)) => {
            let d = b.0.wrapping_sub(a.0);
            Some(if d != 0 && d < 1 << 31 { b } else { a })
        }
        (a, b) => a.or(b),
    }
    .map(|(g, p)| (p.to_vec(), g))
}

fn load<const N: usize, const W: usize, const E: usize>(
    flash: &mut RamFlash<N, W, E>,
) -> Option<(Vec<u8>, u32)> {
    let mut checkpoint = Checkpoint::new(flash, 0, N as u32).unwrap();
    let mut buf = vec![0u8; N];
    match checkpoint.load(&mut buf) {
        Ok(Stored { generation, len }) => {
            buf.truncate(len);
            let mut payload = checkpoint.newest().unwrap();
            assert_eq!(payload.stored(), Stored { generation, len });
            let mut again = vec![0u8; len];
            payload.read(0, &mut again).unwrap();
            assert_eq!(again, buf);
            Some((buf, generation))
        }
        Err(Error::NoCheckpoint) => {
            assert_eq!(checkpoint.newest().err(), Some(Error::NoCheckpoint));
            None
        }
        Err(e) => panic!("load: {e:?}"),
    }
}

fn run<const N: usize, const W: usize, const E: usize>(image: &[u8], cut: usize, partial: u8) {
    let mut flash = RamFlash::<N, W, E>::new();
    for (dst, src) in flash.as_bytes_mut().iter_mut().zip(image) {
        *dst = *src;
    }
    let header_area = 20usize.next_multiple_of(W);
    let old = load(&mut flash);
    assert_eq!(old, expected(flash.as_bytes(), header_area));

    // A save cut by a power loss: the old checkpoint or the new one, exactly.
    let capacity = N / 2 - header_area;
    let len = (cut ^ usize::from(partial)) % (capacity + 1);
    let new: Vec<u8> = image.iter().rev().copied().cycle().take(len).collect();
    let new = if new.len() < len {
        vec![partial; len]
    } else {
        new
    };
    let mut cut_flash = flash.clone();
    cut_flash.cut_power_after(cut, partial);
    let saved = Checkpoint::new(&mut cut_flash, 0, N as u32)
        .unwrap()
        .save(&new);
    cut_flash.restore_power();
    let generation = old.as_ref().map_or(0, |(_, g)| g.wrapping_add(1));
    let after = load(&mut cut_flash);
    match &saved {
        Ok(g) => assert_eq!((*g, &after), (generation, &Some((new.clone(), generation)))),
        Err(e) => {
            assert_eq!(*e, Error::Flash(NorFlashErrorKind::Other));
            assert!(after == old || after == Some((new.clone(), generation)));
        }
    }

    // An uncut save on what the cut left loads back exactly.
    let next: Vec<u8> = new.iter().map(|b| b ^ 0x5A).take(capacity / 3).collect();
    let mut checkpoint = Checkpoint::new(&mut cut_flash, 0, N as u32).unwrap();
    let g = checkpoint.save(&next).unwrap();
    assert_eq!(load(&mut cut_flash), Some((next, g)));
}
