//! Checkpoints on NOR flash that survive a power loss at any moment of a save.
//!
//! A [`Checkpoint`] keeps an opaque payload (the bytes of a model and its optimizer's state, for
//! example a safetensors file) in a region of any flash that implements the
//! [`embedded-storage`](embedded_storage) [`NorFlash`] traits, the embedded ecosystem's standard
//! for flash drivers. The region is split into two slots of whole erase sectors. A save writes
//! the slot that does not hold the newest checkpoint: it erases it, writes the payload, and
//! writes the header last. [`Checkpoint::load`] (or [`Checkpoint::newest`]) takes the valid
//! slot of the newest generation, so after a power loss at any point of a save, a load returns
//! exactly the checkpoint before that save or exactly the one it was saving, never a mix.
//!
//! ```
//! use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
//! # fn main() -> Result<(), tinyprop::Error> {
//! // 4 KiB of flash in RAM, written in words of 4 bytes, erased in sectors of 1 KiB.
//! let mut flash = RamFlash::<4096, 4, 1024>::new();
//! let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096)?;
//! assert_eq!(checkpoint.save(b"weights after epoch 1")?, 0); // the generation
//! assert_eq!(checkpoint.save(b"weights after epoch 2")?, 1);
//!
//! let mut buf = [0u8; 64];
//! let stored = checkpoint.load(&mut buf)?;
//! assert_eq!(&buf[..stored.len], b"weights after epoch 2");
//! assert_eq!(stored.generation, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Format
//!
//! Each slot starts with a header, then the payload. Numbers are little-endian.
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic: [`MAGIC`] (`TPCK`) |
//! | 4 | 4 | format version: [`FORMAT_VERSION`] |
//! | 8 | 4 | generation: 0 for the first save, then one more than the newest (wrapping) |
//! | 12 | 4 | payload length in bytes |
//! | 16 | 4 | CRC-32 (ISO-HDLC, as zlib's) of bytes 0 to 15, followed by the payload |
//!
//! The header takes [`HEADER_LEN`] bytes rounded up to the flash's write and read granularity
//! (the larger of [`NorFlash::WRITE_SIZE`] and [`ReadNorFlash::READ_SIZE`]), padded with `0xFF`;
//! the payload follows it, and its last word is padded with `0xFF`. A slot is valid if its magic
//! and version match, its length fits the slot, and the CRC matches. Of two valid slots the
//! newer generation wins, compared as a wrapping counter (`b` is newer than `a` if
//! `b − a mod 2³²` is between 1 and 2³¹ − 1), so the counter can wrap around.
//!
//! # Why a save cannot be torn
//!
//! A save erases and writes only the slot that does not hold the newest valid checkpoint, so that
//! one stays as it is whatever happens. The new slot's header, with the CRC over the header and
//! the whole payload, is written after the payload: until it is complete the new slot is not
//! valid (its magic, its CRC or both are wrong), and once it is, the new slot holds every byte
//! of the new checkpoint. An erase cut short may leave any bytes in the new slot; an old header
//! that survives it no longer matches the CRC of what follows it. A save that fails (a flash
//! error, a payload of the wrong length, an error from the caller's writer) returns the error
//! and leaves the previous checkpoint the one a load returns; only the older, second slot may
//! have been erased.
//!
//! # Memory and time
//!
//! Nothing is allocated and no RAM copy of the payload is needed: [`Checkpoint::save_with`]
//! takes the payload in pieces, [`Payload::read`] reads any part of it. A save keeps two
//! buffers of [`CHUNK`] bytes on the stack, a load one. A save reads the newest checkpoint (to
//! check it) and the new one (to verify it) once each; a load reads the payload twice (to check
//! it, then into the caller's buffer, checked again).

use core::cmp::min;
use core::fmt;

use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind,
    ReadNorFlash,
};

use crate::Error;

/// The first four bytes of a slot's header.
pub const MAGIC: [u8; 4] = *b"TPCK";

/// The version of the format described in the [module docs](self); a header of another version
/// is not valid.
pub const FORMAT_VERSION: u32 = 1;

/// The length of a header in bytes, before it is rounded up to the flash's granularity.
pub const HEADER_LEN: usize = 20;

/// The bytes a save or a load buffers on the stack. The flash's
/// [`WRITE_SIZE`](NorFlash::WRITE_SIZE) and [`READ_SIZE`](ReadNorFlash::READ_SIZE) must divide
/// it (every power of two up to 256 does).
pub const CHUNK: usize = 256;

/// The bytes of a header the CRC covers, before the payload.
const FIELDS_LEN: usize = 16;

/// What a load found: the generation of the newest valid checkpoint and its payload's length.
///
/// ```
/// use tinyprop::io::checkpoint::{Checkpoint, RamFlash, Stored};
/// let mut flash = RamFlash::<4096, 4, 1024>::new();
/// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
/// checkpoint.save(b"epoch 1").unwrap();
/// let mut buf = [0u8; 32];
/// let stored: Stored = checkpoint.load(&mut buf).unwrap();
/// assert_eq!(stored, Stored { generation: 0, len: 7 });
/// assert_eq!(&buf[..stored.len], b"epoch 1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The generation (0 for the first save, one more for each save after it, wrapping).
    pub generation: u32,
    /// The payload's length in bytes.
    pub len: usize,
}

/// A header as read from a slot, its magic and version checked.
#[derive(Debug, Clone, Copy)]
struct Header {
    fields: [u8; FIELDS_LEN],
    generation: u32,
    len: usize,
    crc: u32,
}

impl Header {
    fn fields(generation: u32, len: u32) -> [u8; FIELDS_LEN] {
        let mut fields = [0u8; FIELDS_LEN];
        let parts = [
            MAGIC,
            FORMAT_VERSION.to_le_bytes(),
            generation.to_le_bytes(),
            len.to_le_bytes(),
        ];
        for (dst, src) in fields.iter_mut().zip(parts.iter().flatten()) {
            *dst = *src;
        }
        fields
    }

    fn parse(bytes: &[u8; HEADER_LEN]) -> Option<Self> {
        let word = |i: usize| -> Option<u32> {
            let b = bytes.get(i..i.checked_add(4)?)?;
            Some(u32::from_le_bytes(b.try_into().ok()?))
        };
        if bytes.get(..4)? != MAGIC || word(4)? != FORMAT_VERSION {
            return None;
        }
        let mut fields = [0u8; FIELDS_LEN];
        for (dst, src) in fields.iter_mut().zip(bytes) {
            *dst = *src;
        }
        Some(Self {
            fields,
            generation: word(8)?,
            len: usize::try_from(word(12)?).ok()?,
            crc: word(16)?,
        })
    }
}

/// Whether generation `b` is newer than `a` on a wrapping 32-bit counter.
fn newer(b: u32, a: u32) -> bool {
    let d = b.wrapping_sub(a);
    d != 0 && d < 1 << 31
}

fn flash_error<E: NorFlashError>(e: E) -> Error {
    Error::Flash(e.kind())
}

/// A CRC-32 of the ISO-HDLC kind (zlib's, PNG's, Ethernet's): reflected polynomial
/// `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`. Computed a half byte at a time from a
/// table of 16 words, a compromise between speed and the flash a table of 256 words takes.
///
/// ```
/// use tinyprop::io::checkpoint::Crc32;
/// assert_eq!(Crc32::checksum(b"123456789"), 0xCBF4_3926);
/// let mut crc = Crc32::new();
/// crc.update(b"1234");
/// crc.update(b"56789");
/// assert_eq!(crc.finish(), 0xCBF4_3926);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc32 {
    state: u32,
}

/// The CRC of each half byte.
const NIBBLES: [u32; 16] = [
    0x0000_0000,
    0x1DB7_1064,
    0x3B6E_20C8,
    0x26D9_30AC,
    0x76DC_4190,
    0x6B6B_51F4,
    0x4DB2_6158,
    0x5005_713C,
    0xEDB8_8320,
    0xF00F_9344,
    0xD6D6_A3E8,
    0xCB61_B38C,
    0x9B64_C2B0,
    0x86D3_D2D4,
    0xA00A_E278,
    0xBDBD_F21C,
];

impl Crc32 {
    /// A CRC of no bytes yet.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::Crc32;
    /// assert_eq!(Crc32::new().finish(), 0); // the CRC of nothing
    /// ```
    pub const fn new() -> Self {
        Self { state: !0 }
    }

    /// Adds `bytes` to the CRC.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::Crc32;
    /// // In pieces, as the bytes arrive: the same CRC as all at once.
    /// let mut crc = Crc32::new();
    /// crc.update(b"1234");
    /// crc.update(b"56789");
    /// assert_eq!(crc.finish(), Crc32::checksum(b"123456789"));
    /// ```
    #[inline(never)]
    pub fn update(&mut self, bytes: &[u8]) {
        let nibble = |c: u32| {
            let low = usize::from(c.to_le_bytes()[0] & 0x0F);
            (c >> 4) ^ NIBBLES.get(low).copied().unwrap_or(0)
        };
        for &b in bytes {
            self.state = nibble(nibble(self.state ^ u32::from(b)));
        }
    }

    /// The CRC of the bytes added so far.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::Crc32;
    /// let mut crc = Crc32::new();
    /// crc.update(b"123456789");
    /// assert_eq!(crc.finish(), 0xCBF4_3926); // CRC-32/ISO-HDLC's check value, as zlib's crc32
    /// ```
    pub const fn finish(&self) -> u32 {
        !self.state
    }

    /// The CRC of `bytes`.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::Crc32;
    /// assert_eq!(Crc32::checksum(b"123456789"), 0xCBF4_3926);
    /// ```
    pub fn checksum(bytes: &[u8]) -> u32 {
        let mut crc = Self::new();
        crc.update(bytes);
        crc.finish()
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// Two slots for checkpoints in a region of a NOR flash (see the [module docs](self)).
///
/// Holds the flash driver `F` (or a `&mut` to it: `&mut F` is a [`NorFlash`] too) and the
/// region's place; it keeps nothing else, so creating one costs nothing and reads nothing.
///
/// ```
/// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
/// use tinyprop::io::safetensors::{self, Dtype};
/// use tinyprop::prelude::*;
/// // A model saved as a safetensors file in a checkpoint, then loaded after a "reboot".
/// let mut net = Dense::<f32, 2, 2>::default();
/// net.init(Init::HeUniform, &mut SplitMix64::new(1));
/// let mut file = [0u8; 256];
/// let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
/// let mut flash = RamFlash::<4096, 4, 1024>::new();
/// Checkpoint::new(&mut flash, 0, 4096).unwrap().save(&file[..len]).unwrap();
///
/// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
/// let stored = checkpoint.load(&mut file).unwrap();
/// let mut loaded = Dense::<f32, 2, 2>::default();
/// safetensors::load(&mut loaded, &file[..stored.len]).unwrap();
/// assert_eq!(loaded, net);
/// ```
pub struct Checkpoint<F> {
    flash: F,
    /// The address of each slot.
    slots: [usize; 2],
    /// The bytes before the payload in each slot.
    header: usize,
    /// The largest payload a slot holds.
    capacity: usize,
}

impl<F: NorFlash> Checkpoint<F> {
    /// Two slots in the `len` bytes of `flash` from `offset` on, each of `len / 2` bytes.
    ///
    /// [`Error::CheckpointRegion`] unless `offset` is a multiple of the erase size, `len` a
    /// multiple of twice the erase size, the region inside the flash and a slot larger than a
    /// header, and unless the flash's write and read sizes divide [`CHUNK`] and its erase size.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<8192, 8, 2048>::new();
    /// // Two slots of 2 KiB each at 4 KiB; the header takes 24 bytes (20 rounded up to 8).
    /// let checkpoint = Checkpoint::new(&mut flash, 4096, 4096).unwrap();
    /// assert_eq!(checkpoint.capacity(), 2048 - 24);
    /// assert_eq!(Checkpoint::new(&mut flash, 1024, 4096).err(), Some(Error::CheckpointRegion));
    /// assert_eq!(Checkpoint::new(&mut flash, 4096, 8192).err(), Some(Error::CheckpointRegion));
    /// ```
    pub fn new(flash: F, offset: u32, len: u32) -> Result<Self, Error> {
        let geometry = || -> Option<([usize; 2], usize, usize)> {
            let (write, read, erase) = (F::WRITE_SIZE, F::READ_SIZE, F::ERASE_SIZE);
            let align = write.max(read);
            let divides = |d: usize, n: usize| n.checked_rem(d) == Some(0);
            let aligned = divides(write, CHUNK)
                && divides(read, CHUNK)
                && divides(write, erase)
                && divides(read, erase);
            let offset = usize::try_from(offset).ok()?;
            let len = usize::try_from(len).ok()?;
            let slot = len.checked_div(2)?;
            let header = HEADER_LEN.checked_next_multiple_of(align)?;
            let end = offset.checked_add(len)?;
            let fits = end <= flash.capacity() && u32::try_from(end).is_ok();
            let placed =
                divides(erase, offset) && divides(erase, slot) && slot.checked_mul(2)? == len;
            let capacity = slot.checked_sub(header).filter(|&c| c > 0)?;
            (aligned && fits && placed).then_some((
                [offset, offset.checked_add(slot)?],
                header,
                capacity,
            ))
        };
        let (slots, header, capacity) = geometry().ok_or(Error::CheckpointRegion)?;
        Ok(Self {
            flash,
            slots,
            header,
            capacity,
        })
    }

    /// The largest payload a checkpoint can hold, in bytes.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<4096, 4, 1024>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// assert_eq!(checkpoint.capacity(), 2048 - 20); // a slot less its header
    /// let big = [0u8; 2048];
    /// assert!(matches!(checkpoint.save(&big), Err(Error::CheckpointTooLarge { .. })));
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Gives the flash driver back.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// let mut checkpoint = Checkpoint::new(RamFlash::<4096, 4, 1024>::new(), 0, 4096).unwrap();
    /// checkpoint.save(b"abc").unwrap();
    /// let flash = checkpoint.into_inner(); // the driver, to use for something else
    /// assert_eq!(&flash.as_bytes()[..4], b"TPCK");
    /// ```
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// Saves `payload` as the newest checkpoint and returns its generation.
    ///
    /// The same as [`save_with`](Self::save_with) writing the whole payload at once.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// let mut flash = RamFlash::<4096, 4, 1024>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// for epoch in 0..3u32 {
    ///     assert_eq!(checkpoint.save(&epoch.to_le_bytes()).unwrap(), epoch); // the generation
    /// }
    /// let mut buf = [0u8; 4];
    /// checkpoint.load(&mut buf).unwrap();
    /// assert_eq!(u32::from_le_bytes(buf), 2);
    /// ```
    pub fn save(&mut self, payload: &[u8]) -> Result<u32, Error> {
        self.save_with(payload.len(), |w| w.write(payload))
    }

    /// Saves a payload of `len` bytes that `write` gives in pieces, through
    /// [`PayloadWriter::write`], so it needs no copy in RAM. Returns the new generation.
    ///
    /// Before writing, finds the newest valid checkpoint (reading its payload to check its CRC);
    /// then erases the other slot's sectors that the new checkpoint needs, writes the payload,
    /// the header, and reads the slot back to check it.
    ///
    /// Returns an error, and the previous checkpoint stays the one a load returns, if: `len` is
    /// larger than [`capacity`](Self::capacity) ([`Error::CheckpointTooLarge`]); `write`
    /// returns an error (that one); it wrote more or fewer than `len` bytes
    /// ([`Error::CheckpointLength`]); the flash fails ([`Error::Flash`]) or does not read back
    /// what was written ([`Error::FlashVerify`]). A failure once the header is being written
    /// erases the new header's sector again, since the new checkpoint may be whole by then; only
    /// if the flash fails that erase too can a load afterwards find the new checkpoint.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<2048, 4, 512>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 2048).unwrap();
    /// let weights = [0.5f32, -1.25, 3.0];
    /// let generation = checkpoint
    ///     .save_with(4 * weights.len(), |w| {
    ///         weights.iter().try_for_each(|x| w.write(&x.to_le_bytes()))
    ///     })
    ///     .unwrap();
    /// assert_eq!(generation, 0);
    ///
    /// // A writer that stops short fails the save; the first checkpoint stays.
    /// let short = checkpoint.save_with(100, |w| w.write(&[1; 10]));
    /// assert_eq!(short, Err(Error::CheckpointLength { declared: 100, written: 10 }));
    /// let mut payload = checkpoint.newest().unwrap();
    /// assert_eq!(payload.stored().generation, 0);
    /// let mut x = [0u8; 4];
    /// payload.read(4, &mut x).unwrap();
    /// assert_eq!(f32::from_le_bytes(x), -1.25);
    /// ```
    pub fn save_with<W>(&mut self, len: usize, write: W) -> Result<u32, Error>
    where
        W: FnOnce(&mut PayloadWriter<'_, F>) -> Result<(), Error>,
    {
        let too_large = Error::CheckpointTooLarge {
            len,
            capacity: self.capacity,
        };
        if len > self.capacity {
            return Err(too_large);
        }
        let len32 = u32::try_from(len).map_err(|_| too_large)?;
        let (target, generation) = match self.find()? {
            Some((slot, header)) => (slot ^ 1, header.generation.wrapping_add(1)),
            None => (0, 0),
        };
        let base = *self.slots.get(target).ok_or(Error::CheckpointRegion)?;
        let payload = base
            .checked_add(self.header)
            .ok_or(Error::CheckpointRegion)?;
        let end = payload
            .checked_add(len)
            .and_then(|end| end.checked_next_multiple_of(F::ERASE_SIZE))
            .ok_or(Error::CheckpointRegion)?;
        self.flash
            .erase(address(base)?, address(end)?)
            .map_err(flash_error)?;

        let fields = Header::fields(generation, len32);
        let mut writer = PayloadWriter {
            flash: &mut self.flash,
            address: payload,
            buf: [0xFF; CHUNK],
            fill: 0,
            declared: len,
            written: 0,
            crc: Crc32::new(),
            error: None,
        };
        writer.crc.update(&fields);
        write(&mut writer)?;
        let crc = writer.end()?;
        // The header last, from the writer's buffer (no second buffer on the stack).
        let written = writer
            .header(base, &fields, crc, self.header)
            .and_then(|()| self.verify(target, generation, len));
        if written.is_err() {
            // The header may be whole although the save fails: erase it again, so that the
            // previous checkpoint stays the newest (unless the flash fails this too).
            let sector = base.checked_add(F::ERASE_SIZE).map(address);
            if let (Ok(from), Some(Ok(to))) = (address(base), sector) {
                let _ = self.flash.erase(from, to);
            }
        }
        written.map(|()| generation)
    }

    /// Reads a slot just written back: [`Error::FlashVerify`] unless it holds a valid
    /// checkpoint of that generation and length.
    fn verify(&mut self, slot: usize, generation: u32, len: usize) -> Result<(), Error> {
        match self.header_of(slot)? {
            Some(h) if h.generation == generation && h.len == len && self.intact(slot, &h)? => {
                Ok(())
            }
            _ => Err(Error::FlashVerify),
        }
    }

    /// The newest valid checkpoint, whose payload can then be read in parts
    /// ([`Payload::read`]); [`Error::NoCheckpoint`] if neither slot holds one.
    ///
    /// Reads the newest candidate's payload to check its CRC (and the other's, if that one is
    /// not valid).
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<1024, 1, 256>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 1024).unwrap();
    /// assert_eq!(checkpoint.newest().err(), Some(Error::NoCheckpoint));
    /// checkpoint.save(b"header, then tensors").unwrap();
    /// let mut payload = checkpoint.newest().unwrap();
    /// let mut tensors = [0u8; 7];
    /// payload.read(payload.stored().len - 7, &mut tensors).unwrap();
    /// assert_eq!(&tensors, b"tensors");
    /// ```
    pub fn newest(&mut self) -> Result<Payload<'_, F>, Error> {
        let (slot, header) = self.find()?.ok_or(Error::NoCheckpoint)?;
        let start = self
            .slots
            .get(slot)
            .and_then(|base| base.checked_add(self.header))
            .ok_or(Error::CheckpointRegion)?;
        Ok(Payload {
            checkpoint: self,
            start,
            stored: Stored {
                generation: header.generation,
                len: header.len,
            },
        })
    }

    /// Reads the newest valid checkpoint's payload into the start of `buf` and says which it
    /// was; [`Error::NoCheckpoint`] if neither slot holds one, [`Error::CheckpointTooLarge`] if
    /// `buf` is shorter than the payload. Finds and checks the checkpoint first, then reads it
    /// into `buf` and checks it again, so `buf` is changed only if the load succeeds or if the
    /// flash fails ([`Error::Flash`]) or returns other bytes ([`Error::FlashVerify`]) during
    /// that second read.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<4096, 4, 1024>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// let mut buf = [0u8; 8];
    /// assert_eq!(checkpoint.load(&mut buf), Err(Error::NoCheckpoint)); // a new device
    /// checkpoint.save(b"first").unwrap();
    /// // The power fails in the middle of the second save: the first is still there.
    /// flash.cut_power_after(100, 0);
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// assert!(checkpoint.save(b"second").is_err());
    /// drop(checkpoint);
    /// flash.restore_power();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// let stored = checkpoint.load(&mut buf).unwrap();
    /// assert_eq!(&buf[..stored.len], b"first");
    /// ```
    pub fn load(&mut self, buf: &mut [u8]) -> Result<Stored, Error> {
        let (slot, header) = self.find()?.ok_or(Error::NoCheckpoint)?;
        let too_large = Error::CheckpointTooLarge {
            len: header.len,
            capacity: buf.len(),
        };
        let out = buf.get_mut(..header.len).ok_or(too_large)?;
        let start = self
            .slots
            .get(slot)
            .and_then(|base| base.checked_add(self.header))
            .ok_or(Error::CheckpointRegion)?;
        self.read_into(start, out)?;
        let mut crc = Crc32::new();
        crc.update(&header.fields);
        crc.update(out);
        if crc.finish() != header.crc {
            return Err(Error::FlashVerify);
        }
        Ok(Stored {
            generation: header.generation,
            len: header.len,
        })
    }

    /// Erases both slots: a load finds no checkpoint after it.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<4096, 4, 1024>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// checkpoint.save(b"old model").unwrap();
    /// checkpoint.clear().unwrap(); // a factory reset
    /// assert_eq!(checkpoint.load(&mut [0u8; 16]), Err(Error::NoCheckpoint));
    /// ```
    pub fn clear(&mut self) -> Result<(), Error> {
        let end = self
            .slots
            .get(1)
            .and_then(|second| second.checked_add(second.checked_sub(self.slots[0])?))
            .ok_or(Error::CheckpointRegion)?;
        self.flash
            .erase(address(self.slots[0])?, address(end)?)
            .map_err(flash_error)
    }

    /// The slot and header of the newest valid checkpoint, if any.
    fn find(&mut self) -> Result<Option<(usize, Header)>, Error> {
        let a = self.header_of(0)?;
        let b = self.header_of(1)?;
        let order = match (a, b) {
            (Some(x), Some(y)) if newer(y.generation, x.generation) => [(1, b), (0, a)],
            _ => [(0, a), (1, b)],
        };
        for (slot, header) in order {
            if let Some(header) = header {
                if self.intact(slot, &header)? {
                    return Ok(Some((slot, header)));
                }
            }
        }
        Ok(None)
    }

    /// A slot's header if its magic and version are right and its payload fits the slot.
    fn header_of(&mut self, slot: usize) -> Result<Option<Header>, Error> {
        let base = *self.slots.get(slot).ok_or(Error::CheckpointRegion)?;
        let mut bytes = [0u8; HEADER_LEN];
        self.read_into(base, &mut bytes)?;
        Ok(Header::parse(&bytes).filter(|h| h.len <= self.capacity))
    }

    /// Whether a slot's payload matches its header's CRC.
    fn intact(&mut self, slot: usize, header: &Header) -> Result<bool, Error> {
        let start = self
            .slots
            .get(slot)
            .and_then(|base| base.checked_add(self.header))
            .ok_or(Error::CheckpointRegion)?;
        let mut crc = Crc32::new();
        crc.update(&header.fields);
        self.read_chunks(start, header.len, |chunk| {
            crc.update(chunk);
            Ok(())
        })?;
        Ok(crc.finish() == header.crc)
    }

    fn read_into(&mut self, start: usize, out: &mut [u8]) -> Result<(), Error> {
        let mut rest = out.iter_mut();
        self.read_chunks(start, rest.len(), |chunk| {
            // The chunk first: `zip` stops at its end without taking an element of `rest`.
            for (src, dst) in chunk.iter().zip(rest.by_ref()) {
                *dst = *src;
            }
            Ok(())
        })
    }

    /// Reads `len` bytes from `start` in pieces of at most [`CHUNK`] bytes, each read aligned to
    /// the flash's read size, and gives them to `f` in order.
    fn read_chunks(
        &mut self,
        start: usize,
        len: usize,
        mut f: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut buf = [0u8; CHUNK];
        let end = start.checked_add(len).ok_or(Error::CheckpointRegion)?;
        let mut at = start;
        while at < end {
            let piece = || -> Option<(usize, usize, usize, usize)> {
                let skip = at.checked_rem(F::READ_SIZE)?;
                let base = at.checked_sub(skip)?;
                let n = min(CHUNK.checked_sub(skip)?, end.checked_sub(at)?);
                let span = skip
                    .checked_add(n)?
                    .checked_next_multiple_of(F::READ_SIZE)?;
                Some((skip, base, n, span))
            };
            let (skip, base, n, span) = piece().ok_or(Error::CheckpointRegion)?;
            let chunk = buf.get_mut(..span).ok_or(Error::CheckpointRegion)?;
            self.flash
                .read(address(base)?, chunk)
                .map_err(flash_error)?;
            f(chunk
                .get(skip..span.min(skip.saturating_add(n)))
                .ok_or(Error::CheckpointRegion)?)?;
            at = at.checked_add(n).ok_or(Error::CheckpointRegion)?;
        }
        Ok(())
    }
}

impl<F> fmt::Debug for Checkpoint<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("slots", &self.slots)
            .field("header", &self.header)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

fn address(a: usize) -> Result<u32, Error> {
    u32::try_from(a).map_err(|_| Error::CheckpointRegion)
}

/// Takes a payload in pieces during [`Checkpoint::save_with`] and writes it to the flash a
/// [`CHUNK`] at a time.
///
/// ```
/// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
/// let mut flash = RamFlash::<4096, 4, 1024>::new();
/// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
/// // A payload written in pieces: a header, then the weights, with no copy of the whole.
/// let weights = [0.5f32, -1.0, 2.0];
/// checkpoint.save_with(4 + 12, |w| {
///     w.write(&3u32.to_le_bytes())?;
///     for v in weights {
///         w.write(&v.to_le_bytes())?;
///     }
///     Ok(())
/// }).unwrap();
/// ```
pub struct PayloadWriter<'a, F> {
    flash: &'a mut F,
    /// Where the next chunk goes.
    address: usize,
    buf: [u8; CHUNK],
    fill: usize,
    declared: usize,
    written: usize,
    crc: Crc32,
    /// The first error, returned again by every later write and by the save.
    error: Option<Error>,
}

impl<F: NorFlash> PayloadWriter<'_, F> {
    /// Appends `bytes` to the payload. [`Error::CheckpointLength`] if the payload would grow
    /// past the length the save declared (nothing of `bytes` is taken then), or the flash's
    /// error. After an error every later write returns it, and the save fails with it even if
    /// the writer function returns `Ok`.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<4096, 4, 1024>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// // Writing past the declared length is an error, and so the save fails.
    /// let result = checkpoint.save_with(4, |w| w.write(b"12345"));
    /// assert!(matches!(result, Err(Error::CheckpointLength { .. })));
    /// ```
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let total = self.written.saturating_add(bytes.len());
        if total > self.declared {
            return Err(self.fail(Error::CheckpointLength {
                declared: self.declared,
                written: total,
            }));
        }
        self.crc.update(bytes);
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.fill) {
                *slot = b;
                self.fill = self.fill.saturating_add(1);
            }
            if self.fill == CHUNK {
                self.flush()?;
            }
        }
        self.written = total;
        Ok(())
    }

    /// The bytes still to write.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// let mut flash = RamFlash::<4096, 4, 1024>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// checkpoint.save_with(10, |w| {
    ///     w.write(b"abcd")?;
    ///     assert_eq!(w.remaining(), 6);
    ///     w.write(b"efghij")
    /// }).unwrap();
    /// ```
    pub fn remaining(&self) -> usize {
        self.declared.saturating_sub(self.written)
    }

    fn fail(&mut self, e: Error) -> Error {
        *self.error.get_or_insert(e)
    }

    /// Writes the buffered bytes, the last word padded with `0xFF`.
    fn flush(&mut self) -> Result<(), Error> {
        let span = self
            .fill
            .checked_next_multiple_of(F::WRITE_SIZE)
            .filter(|&span| span <= CHUNK)
            .ok_or(Error::CheckpointRegion);
        let result = span.and_then(|span| {
            for pad in self.buf.iter_mut().take(span).skip(self.fill) {
                *pad = 0xFF;
            }
            let chunk = self.buf.get(..span).ok_or(Error::CheckpointRegion)?;
            self.flash
                .write(address(self.address)?, chunk)
                .map_err(flash_error)?;
            self.address = self
                .address
                .checked_add(span)
                .ok_or(Error::CheckpointRegion)?;
            Ok(())
        });
        self.fill = 0;
        result.map_err(|e| self.fail(e))
    }

    /// Writes what is buffered and returns the CRC of the header's fields and the payload.
    fn end(&mut self) -> Result<u32, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.written != self.declared {
            return Err(Error::CheckpointLength {
                declared: self.declared,
                written: self.written,
            });
        }
        if self.fill > 0 {
            self.flush()?;
        }
        Ok(self.crc.finish())
    }

    /// Writes the header at `base`: the fields and the CRC, padded with `0xFF` to `len` bytes.
    fn header(
        &mut self,
        base: usize,
        fields: &[u8; FIELDS_LEN],
        crc: u32,
        len: usize,
    ) -> Result<(), Error> {
        self.buf.fill(0xFF);
        for (dst, src) in self
            .buf
            .iter_mut()
            .zip(fields.iter().chain(&crc.to_le_bytes()))
        {
            *dst = *src;
        }
        let head = self.buf.get(..len).ok_or(Error::CheckpointRegion)?;
        self.flash.write(address(base)?, head).map_err(flash_error)
    }
}

impl<F> fmt::Debug for PayloadWriter<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadWriter")
            .field("declared", &self.declared)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// The newest valid checkpoint's payload, found by [`Checkpoint::newest`], to read in parts.
///
/// It borrows the [`Checkpoint`], so no save can overwrite it while it is read.
///
/// ```
/// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
/// let mut flash = RamFlash::<4096, 4, 1024>::new();
/// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
/// checkpoint.save(b"header:weights").unwrap();
/// // Read a part of the newest payload without a buffer for all of it.
/// let mut payload = checkpoint.newest().unwrap();
/// let mut head = [0u8; 6];
/// payload.read(0, &mut head).unwrap();
/// assert_eq!(&head, b"header");
/// ```
pub struct Payload<'a, F> {
    checkpoint: &'a mut Checkpoint<F>,
    start: usize,
    stored: Stored,
}

impl<F: NorFlash> Payload<'_, F> {
    /// Its generation and length.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// let mut flash = RamFlash::<4096, 4, 1024>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// checkpoint.save(b"a").unwrap();
    /// checkpoint.save(b"bc").unwrap();
    /// let payload = checkpoint.newest().unwrap();
    /// assert_eq!((payload.stored().generation, payload.stored().len), (1, 2));
    /// ```
    pub fn stored(&self) -> Stored {
        self.stored
    }

    /// Reads the payload's bytes from `pos` on into `out`. [`Error::IndexOutOfRange`] (with the
    /// first index past the payload) if they are not all inside it; the flash's error if it
    /// fails.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<4096, 4, 1024>::new();
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 4096).unwrap();
    /// checkpoint.save(b"0123456789").unwrap();
    /// let mut payload = checkpoint.newest().unwrap();
    /// let mut part = [0u8; 3];
    /// payload.read(7, &mut part).unwrap();
    /// assert_eq!(&part, b"789");
    /// assert!(matches!(payload.read(8, &mut part), Err(Error::IndexOutOfRange { .. })));
    /// ```
    pub fn read(&mut self, pos: usize, out: &mut [u8]) -> Result<(), Error> {
        let len = self.stored.len;
        if pos.checked_add(out.len()).is_none_or(|end| end > len) {
            return Err(Error::IndexOutOfRange {
                index: pos.max(len),
                len,
            });
        }
        let at = self.start.checked_add(pos).ok_or(Error::CheckpointRegion)?;
        self.checkpoint.read_into(at, out)
    }
}

impl<F> fmt::Debug for Payload<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

/// A NOR flash of `N` bytes in RAM, for tests, simulations and firmware without a flash driver:
/// it erases to `0xFF` in sectors of `ERASE` bytes, writes whole words of `WRITE` bytes, which
/// can only clear bits and must have been erased before (a write to a word that is not all
/// `0xFF` is refused), and it can lose power after any number of bytes written or erased
/// ([`cut_power_after`](Self::cut_power_after)).
///
/// `WRITE` must divide `ERASE`, and `ERASE` divide `N` (checked when the program is built).
///
/// ```
/// use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
/// use tinyprop::io::checkpoint::{RamFlash, RamFlashError};
/// let mut flash = RamFlash::<1024, 4, 256>::new();
/// flash.write(0, &[0x0F, 0xF0, 0x00, 0xFF]).unwrap();
/// assert_eq!(flash.write(0, &[0; 4]), Err(RamFlashError::NotErased));
/// assert_eq!(flash.write(2, &[0; 4]), Err(RamFlashError::NotAligned));
/// flash.erase(0, 256).unwrap();
///
/// // The power fails after 2 bytes of the next write: 2 bytes written, the rest unchanged.
/// flash.cut_power_after(2, 0);
/// assert_eq!(flash.write(0, &[1, 2, 3, 4]), Err(RamFlashError::PowerFailed));
/// assert_eq!(flash.as_bytes()[..4], [1, 2, 0xFF, 0xFF]);
/// flash.restore_power();
/// let mut four = [0u8; 4];
/// flash.read(0, &mut four).unwrap();
/// assert_eq!(four, [1, 2, 0xFF, 0xFF]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamFlash<const N: usize, const WRITE: usize, const ERASE: usize> {
    bytes: [u8; N],
    /// Byte operations (a byte written or erased) left before the power fails; `None`: no cut.
    budget: Option<usize>,
    /// The bits the interrupted operation still changes in the byte it was at.
    partial: u8,
    powered: bool,
    operations: usize,
}

/// The errors of a [`RamFlash`].
///
/// ```
/// use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind};
/// use tinyprop::io::checkpoint::{RamFlash, RamFlashError};
/// let mut flash = RamFlash::<1024, 4, 256>::new();
/// let e = flash.erase(0, 100).unwrap_err();
/// assert_eq!(e, RamFlashError::NotAligned);
/// assert_eq!(e.kind(), NorFlashErrorKind::NotAligned); // what generic drivers see
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamFlashError {
    /// An address or length not a multiple of the write or erase size.
    NotAligned,
    /// A range outside the flash.
    OutOfBounds,
    /// A write to a word that was not erased.
    NotErased,
    /// The power failed during this operation or before it, and has not been restored.
    PowerFailed,
}

impl NorFlashError for RamFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::NotErased | Self::PowerFailed => NorFlashErrorKind::Other,
        }
    }
}

impl fmt::Display for RamFlashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAligned => "not aligned to the flash's write or erase size",
            Self::OutOfBounds => "outside the flash",
            Self::NotErased => "a write to flash that was not erased",
            Self::PowerFailed => "the flash lost power",
        })
    }
}

impl From<NorFlashErrorKind> for RamFlashError {
    fn from(kind: NorFlashErrorKind) -> Self {
        match kind {
            NorFlashErrorKind::NotAligned => Self::NotAligned,
            _ => Self::OutOfBounds,
        }
    }
}

impl<const N: usize, const WRITE: usize, const ERASE: usize> RamFlash<N, WRITE, ERASE> {
    /// A flash erased everywhere (every byte `0xFF`), with power.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::RamFlash;
    /// let flash = RamFlash::<1024, 4, 256>::new();
    /// assert!(flash.as_bytes().iter().all(|&b| b == 0xFF));
    /// ```
    pub const fn new() -> Self {
        #[allow(clippy::disallowed_macros)] // a build-time check, not a panic at run time
        const {
            assert!(
                WRITE > 0 && ERASE > 0 && ERASE % WRITE == 0 && N % ERASE == 0,
                "RamFlash: WRITE must divide ERASE, and ERASE divide N"
            )
        }
        Self {
            bytes: [0xFF; N],
            budget: None,
            partial: 0,
            powered: true,
            operations: 0,
        }
    }

    /// The flash's bytes.
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// let mut flash = RamFlash::<1024, 4, 256>::new();
    /// Checkpoint::new(&mut flash, 0, 1024).unwrap().save(b"hi").unwrap();
    /// assert_eq!(&flash.as_bytes()[..4], b"TPCK"); // the first slot's magic
    /// ```
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.bytes
    }

    /// The flash's bytes, to change at will (to corrupt a checkpoint in a test, or to fill the
    /// flash with an image).
    ///
    /// ```
    /// use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
    /// use tinyprop::Error;
    /// let mut flash = RamFlash::<1024, 4, 256>::new();
    /// Checkpoint::new(&mut flash, 0, 1024).unwrap().save(b"hi").unwrap();
    /// flash.as_bytes_mut()[20] ^= 1; // flip a bit of the payload
    /// let mut checkpoint = Checkpoint::new(&mut flash, 0, 1024).unwrap();
    /// assert_eq!(checkpoint.load(&mut [0u8; 8]), Err(Error::NoCheckpoint)); // the CRC catches it
    /// ```
    pub fn as_bytes_mut(&mut self) -> &mut [u8; N] {
        &mut self.bytes
    }

    /// Lets the power fail after `bytes` more bytes have been written or erased. The operation
    /// under way then stops in the middle: the bytes before are done, the rest unchanged, and
    /// the byte it was at only partly changed: a write clears the bits of `partial` that it
    /// would clear, an erase sets the bits of `partial` (so `partial = 0` leaves that byte as
    /// it was). That operation and every later one, reads too, return
    /// [`RamFlashError::PowerFailed`] until [`restore_power`](Self::restore_power).
    ///
    /// ```
    /// use embedded_storage::nor_flash::NorFlash;
    /// use tinyprop::io::checkpoint::{RamFlash, RamFlashError};
    /// let mut flash = RamFlash::<1024, 4, 256>::new();
    /// flash.cut_power_after(1, 0x0F); // the second byte only half written
    /// assert_eq!(flash.write(0, &[0, 0, 0, 0]), Err(RamFlashError::PowerFailed));
    /// assert_eq!(flash.as_bytes()[..3], [0x00, 0xF0, 0xFF]);
    /// ```
    pub fn cut_power_after(&mut self, bytes: usize, partial: u8) {
        self.budget = Some(bytes);
        self.partial = partial;
    }

    /// Powers the flash again (a reboot), with no power cut planned.
    ///
    /// ```
    /// use embedded_storage::nor_flash::NorFlash;
    /// use tinyprop::io::checkpoint::RamFlash;
    /// let mut flash = RamFlash::<1024, 4, 256>::new();
    /// flash.cut_power_after(0, 0);
    /// assert!(flash.erase(0, 256).is_err());
    /// flash.restore_power();
    /// assert!(flash.erase(0, 256).is_ok());
    /// ```
    pub fn restore_power(&mut self) {
        self.powered = true;
        self.budget = None;
        self.partial = 0;
    }

    /// Whether the power has failed (and not been restored).
    ///
    /// ```
    /// use embedded_storage::nor_flash::NorFlash;
    /// use tinyprop::io::checkpoint::RamFlash;
    /// let mut flash = RamFlash::<1024, 4, 256>::new();
    /// flash.cut_power_after(2, 0);
    /// assert!(!flash.power_failed());
    /// let _ = flash.write(0, &[0; 4]);
    /// assert!(flash.power_failed());
    /// ```
    pub fn power_failed(&self) -> bool {
        !self.powered
    }

    /// The bytes written or erased since the flash was made, each counted once per operation.
    ///
    /// ```
    /// use embedded_storage::nor_flash::NorFlash;
    /// use tinyprop::io::checkpoint::RamFlash;
    /// let mut flash = RamFlash::<1024, 4, 256>::new();
    /// flash.write(0, &[0; 8]).unwrap();
    /// flash.erase(0, 256).unwrap();
    /// assert_eq!(flash.byte_operations(), 8 + 256);
    /// ```
    pub fn byte_operations(&self) -> usize {
        self.operations
    }

    fn check_power(&self) -> Result<(), RamFlashError> {
        if self.powered {
            Ok(())
        } else {
            Err(RamFlashError::PowerFailed)
        }
    }

    /// Changes the bytes of `range` one by one with `op(old, i) -> new`, or `partly(old, i)` at
    /// the byte where the power fails.
    fn apply(
        &mut self,
        from: usize,
        to: usize,
        op: impl Fn(u8, usize) -> u8,
        partly: impl Fn(u8, usize, u8) -> u8,
    ) -> Result<(), RamFlashError> {
        let bytes = self
            .bytes
            .get_mut(from..to)
            .ok_or(RamFlashError::OutOfBounds)?;
        for (i, byte) in bytes.iter_mut().enumerate() {
            match self.budget {
                Some(0) => {
                    *byte = partly(*byte, i, self.partial);
                    self.powered = false;
                    return Err(RamFlashError::PowerFailed);
                }
                Some(ref mut left) => *left = left.saturating_sub(1),
                None => {}
            }
            *byte = op(*byte, i);
            self.operations = self.operations.saturating_add(1);
        }
        Ok(())
    }
}

impl<const N: usize, const WRITE: usize, const ERASE: usize> Default for RamFlash<N, WRITE, ERASE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const WRITE: usize, const ERASE: usize> ErrorType
    for RamFlash<N, WRITE, ERASE>
{
    type Error = RamFlashError;
}

impl<const N: usize, const WRITE: usize, const ERASE: usize> ReadNorFlash
    for RamFlash<N, WRITE, ERASE>
{
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.check_power()?;
        check_read(self, offset, bytes.len())?;
        let from = usize::try_from(offset).map_err(|_| RamFlashError::OutOfBounds)?;
        let src = self.bytes.get(from..).ok_or(RamFlashError::OutOfBounds)?;
        for (dst, src) in bytes.iter_mut().zip(src) {
            *dst = *src;
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize, const WRITE: usize, const ERASE: usize> NorFlash
    for RamFlash<N, WRITE, ERASE>
{
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.check_power()?;
        check_erase(self, from, to)?;
        let from = usize::try_from(from).map_err(|_| RamFlashError::OutOfBounds)?;
        let to = usize::try_from(to).map_err(|_| RamFlashError::OutOfBounds)?;
        self.apply(from, to, |_, _| 0xFF, |old, _, partial| old | partial)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.check_power()?;
        check_write(self, offset, bytes.len())?;
        let from = usize::try_from(offset).map_err(|_| RamFlashError::OutOfBounds)?;
        let to = from
            .checked_add(bytes.len())
            .ok_or(RamFlashError::OutOfBounds)?;
        let target = self.bytes.get(from..to).ok_or(RamFlashError::OutOfBounds)?;
        if target.iter().any(|&b| b != 0xFF) {
            return Err(RamFlashError::NotErased);
        }
        let new = |i: usize| bytes.get(i).copied().unwrap_or(0xFF);
        self.apply(
            from,
            to,
            |old, i| old & new(i),
            |old, i, partial| old & (new(i) | !partial),
        )
    }
}
